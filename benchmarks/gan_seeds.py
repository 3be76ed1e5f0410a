"""`make gan` with its defaults for several seeds: mean and worst of every quality metric, and wall time.

    .venv/bin/python benchmarks/gan_seeds.py                          # 3 seeds of the defaults
    .venv/bin/python benchmarks/gan_seeds.py --seeds 0 1 --variant 'no-aug: --augment none' \\
        --variant 'hinge+sn: --loss hinge --spectral-norm'            # compare variants, same seeds

Each run is a fresh `gan-tf train` process (what `make gan` runs), timed from start to exit, so
the wall time includes start-up, the precision probe, the judges and every quality measurement.
Both feature spaces are reported: judge A (the classifier the defaults were chosen with) and
judge B (another architecture, trained on the other half of the real data). A ratio is the
run's FCD over its real-vs-real floor in the same space. Rows go to RESULTS (JSON lines); the
table at the end summarises every variant of this call.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from gradient_hunt.precision import cpu_model

METRICS = ("fcd_ratio", "fcd", "kid", "fcd2_ratio", "fcd2", "kid2", "modes_covered", "wall_seconds")
# Worst = the largest value, except for modes covered (fewest is worst).
HIGHER_IS_BETTER = {"modes_covered"}


def parse_variant(text):
    name, _, args = text.partition(":")
    return name.strip(), shlex.split(args)


def run_one(run_dir, seed, dataset, args):
    command = [sys.executable, "-m", "gan_tf.cli", "train", "--run", str(run_dir), "--fresh", "--dataset", dataset,
               "--seed", str(seed), *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    row = {"seed": seed, "wall_seconds": round(wall, 1), "train_seconds": metrics["seconds"],
           "epochs": metrics["epochs"], "modes_covered": metrics["modes_covered"], "judges": metrics.get("judges")}
    for space in ("", "2"):
        row[f"fcd{space}"] = round(metrics[f"fcd{space}"], 3)
        row[f"fcd{space}_floor"] = round(metrics[f"fcd{space}_real_floor"], 3)
        row[f"fcd{space}_ratio"] = round(metrics[f"fcd{space}"] / metrics[f"fcd{space}_real_floor"], 2)
        row[f"kid{space}"] = round(metrics[f"kid{space}"], 5)
    return row


def summary(rows):
    out = {}
    for key in METRICS:
        values = [r[key] for r in rows]
        worst = min(values) if key in HIGHER_IS_BETTER else max(values)
        out[key] = {"mean": round(sum(values) / len(values), 4), "worst": worst}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default: 0 1 2)")
    p.add_argument("--dataset", default="mnist", help="(default: mnist, as make gan)")
    p.add_argument("--variant", action="append", metavar="'NAME: ARGS'",
                   help="gan-tf train arguments to compare; repeatable (default: 'defaults:', no arguments)")
    p.add_argument("--runs", default="runs/gan-seeds", help="where the run directories go (default: %(default)s)")
    p.add_argument("--results", default="runs/gan-seeds/results.jsonl", help="(default: %(default)s)")
    args = p.parse_args()

    variants = [parse_variant(v) for v in (args.variant or ["defaults:"])]
    machine = f"{cpu_model()}, {os.cpu_count()} cores"
    print(f"machine: {machine}", flush=True)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    table = []
    for name, extra in variants:
        rows = []
        for seed in args.seeds:
            row = run_one(Path(args.runs) / f"{name}-seed{seed}", seed, args.dataset, extra)
            row.update(variant=name, args=" ".join(extra), dataset=args.dataset, machine=machine)
            rows.append(row)
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{name:16s} seed {seed}: FCD A {row['fcd']:.2f} ({row['fcd_ratio']:.1f}x floor)  "
                  f"KID A {row['kid']:.4f}  FCD B {row['fcd2']:.2f} ({row['fcd2_ratio']:.1f}x)  KID B {row['kid2']:.4f}  "
                  f"modes {row['modes_covered']}  {row['epochs']} epochs  {row['wall_seconds']:.0f} s wall", flush=True)
        table.append((name, summary(rows)))

    print(f"\n{len(args.seeds)} seeds on {args.dataset}; mean (worst); ratio = FCD / real-vs-real floor; {machine}")
    print("| variant | FCD A ratio | KID A | FCD B ratio | KID B | modes | wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, s in table:
        cells = [f"{s[k]['mean']:.2f} ({s[k]['worst']:.2f})" for k in ("fcd_ratio",)]
        cells += [f"{s['kid']['mean']:.4f} ({s['kid']['worst']:.4f})"]
        cells += [f"{s['fcd2_ratio']['mean']:.2f} ({s['fcd2_ratio']['worst']:.2f})"]
        cells += [f"{s['kid2']['mean']:.4f} ({s['kid2']['worst']:.4f})"]
        cells += [f"{s['modes_covered']['mean']:.1f} ({s['modes_covered']['worst']})"]
        cells += [f"{s['wall_seconds']['mean']:.0f} ({s['wall_seconds']['worst']:.0f})"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
