"""Does tuning pay? `hunt-tune` within a budget vs the untuned defaults, on validation and on a test set.

    .venv/bin/python benchmarks/tune_vs_untuned.py                  # needs runs/demo (make demo)
    .venv/bin/python benchmarks/tune_vs_untuned.py --data ../shared/data/cifake-dev --seeds 0 1 2 --out runs/tune-cifake

The folder is the demo's (DCGAN fakes vs real digits, `make demo`), by default every image
re-saved as JPEG at a seeded quality of 60-90, the way competition images usually arrive:
on the demo's own PNGs the untuned defaults already score 1.0 on validation, so nothing
could beat them there. Steps, all the project's own commands:
1. `hunt-tune DATA --budget-minutes B` (Hyperband, the untuned defaults trained in the race);
2. `hunt-tf train` with the defaults and with `--hparams best_hparams.json` (both self-train
   on the test images, unlabelled, where the adaptive cut's test opens: the default);
3. both submissions scored against the demo's kept test labels: the test set played no
   part in choosing, so it shows whether the validation win is real or the best of many
   noisy draws.

`--data DIR` runs the same on any competition folder (Train/<class>/, Test/) whose test labels
are in DIR/test_labels.csv (Id,Label), such as a CIFAKE subset: real data nobody here made.
`--seeds` trains both models once per seed (the search itself ran once, on seed 0's split).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from gradient_hunt.demo import score_submission  # noqa: E402


def jpeg_copy(src: Path, dst: Path, seed=0):
    """Every image of `src` as a greyscale JPEG of quality 60-90 under `dst` (same names, same ids)."""
    if (dst / "done").exists():
        return
    rng = np.random.default_rng(seed)
    for path in sorted(src.rglob("*.png")):
        out = dst / path.relative_to(src).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(path).convert("L").save(out, quality=int(rng.integers(60, 91)))
    (dst / "done").write_text("ok\n")


def sh(*args):
    print("$", " ".join(str(a) for a in args), flush=True)
    start = time.time()
    subprocess.run([str(a) for a in args], check=True)
    return time.time() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo", default=str(ROOT / "runs" / "demo"), help="a `make demo` root (data/, test_labels.csv)")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench-tuning"))
    p.add_argument("--budget-minutes", type=float, default=15.0)
    p.add_argument("--png", action="store_true", help="use the demo's PNGs as they are (no JPEG re-save; --data never is)")
    p.add_argument("--data", help="a labelled competition folder (Train/, Test/, test_labels.csv) instead of --demo")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="hunt-tf train seeds for both models")
    args = p.parse_args()
    demo, out = Path(args.data or args.demo), Path(args.out)
    labels = demo / "test_labels.csv"
    if not labels.exists():
        sys.exit(f"{labels} not found" + ("" if args.data else ": run `make demo` first (or pass --demo or --data)"))
    data = demo if args.data else demo / "data"
    if not args.png and not args.data:
        data = out / "data"
        jpeg_copy(demo / "data", data)

    tune = out / "tune"
    tune_seconds = sh(BIN / "hunt-tune", data, "--run", tune, "--budget-minutes", args.budget_minutes)
    best = json.loads((tune / "best_hparams.json").read_text())
    with open(tune / "trials.csv") as f:
        trials = list(csv.DictReader(f))

    results = {"folder": str(data), "budget_minutes": args.budget_minutes, "search_seconds": round(tune_seconds),
               "trials": sum(t["status"] == "COMPLETED" for t in trials if t["trial"] != "untuned"),
               "validation": {"untuned": best["untuned_score"], "tuned": best["score"]},
               "best_trial": best["trial_id"], "hparams": best["hparams"], "test": {}}
    for name, extra in (("untuned", []), ("tuned", ["--hparams", tune / "best_hparams.json"])):
        results["test"][name] = []
        for seed in args.seeds:
            run = out / (f"{name}-seed{seed}" if args.seeds != [0] else name)  # one seed: the older layout
            if not (run / "submission.csv").exists():
                sh(BIN / "hunt-tf", "train", data, "--run", run, "--seed", seed, *extra)
            accuracy, missing = score_submission(run / "submission.csv", labels)
            results["test"][name].append(accuracy)
            assert missing == 0, f"{missing} test ids missing from {run / 'submission.csv'}"

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    v, t = results["validation"], results["test"]
    print(f"\n{results['trials']} trials in {results['search_seconds']} s (budget {args.budget_minutes:g} min) on {data}")
    print(f"| model | validation accuracy (search) | test accuracy (retrained, held-out): mean (worst) of seeds {args.seeds} |")
    print("| --- | --- | --- |")
    for name, label in (("untuned", "untuned defaults"), ("tuned", f"tuned (trial {results['best_trial']})")):
        print(f"| {label} | {v[name]:.4f} | {np.mean(t[name]):.4f} ({min(t[name]):.4f}): "
              f"{' / '.join(f'{a:.3f}' for a in t[name])} |")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
