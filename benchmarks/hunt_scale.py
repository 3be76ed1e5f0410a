"""How hunt training's memory and speed grow with the folder: `--cache memory` vs `--cache disk`
vs load-everything-then-fit, at several folder sizes (issue #12).

    .venv/bin/python benchmarks/hunt_scale.py --sizes 2000 10000 [--rounds 3] [--root runs/hunt-scale]
    .venv/bin/python benchmarks/hunt_scale.py --large 20000 --test-links 50000

For each size, a synthetic folder of mixed PNG/JPEG images of 256-512 px is made once (in
parallel, ROOT/data-N); then each approach runs in its own process under /usr/bin/time, and
the table gives its peak resident memory and the training images/s of its last epoch (Keras's
own ms/step, so decoding and the first epoch's tracing are left out). The hunt runs use
`hunt-tf train` with the default crop mode (each image decoded once to its central 256 px, 128 px
crops) and a small CNN, so that the pipeline, not the convolutions, decides the speed.

`--large N` checks the issue's two single-run bars instead: `hunt-tf train DATA --image-size
256 --cache disk` on N images of 256-384 px (one epoch of the small CNN: the bar is memory),
with a 1,000-image Test folder; then `hunt-tf predict` on a Test folder of `--test-links`
entries (symbolic links to the Train files, each its own id): peak memory and ids answered.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SMALL_CNN = ["--filters", "8", "--depth", "2", "--convs", "1", "--input", "rgb", "--extra-fakes", "none",
             "--precision", "float32", "--val-split", "0.1", "--patience", "99", "--members", "1"]


def make_image(args):
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from hunt_speed import synthetic_image

    root, i, largest, where = args
    rng = np.random.default_rng((7, i))  # per image: the pool's workers draw independently
    img = synthetic_image(rng, int(rng.integers(256, largest + 1)))
    d = Path(root) / (where or "Train/" + ("AI" if i % 2 else "Real"))
    if i % 4 < 2:
        img.save(d / f"{i:06d}.png", compress_level=1)
    else:
        img.save(d / f"{i:06d}.jpg", quality=90)


def make_folder(root: Path, n: int, largest=512, n_test=0):
    if (root / "done").exists():
        return
    for name in ("Train/AI", "Train/Real", "Test"):
        (root / name).mkdir(parents=True, exist_ok=True)
    jobs = [(str(root), i, largest, "") for i in range(n)] + [(str(root), n + i, largest, "Test") for i in range(n_test)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(make_image, jobs, chunksize=64))
    (root / "done").write_text(str(n))


def run_large(root: Path, n: int, test_links: int):
    """The issue's bars: train with the disk cache on N images of 256-384 px, then predict many."""
    data = root / f"large-{n}"
    make_folder(data, n, largest=384, n_test=1000)
    run = root / "runs" / f"large-{n}"
    cmd = [BIN / "hunt-tf", "train", data, "--run", run, "--fresh", "--image-size", "256", "--cache", "disk",
           "--epochs", "1", *SMALL_CNN]
    subprocess.run(["rm", "-rf", str(root / "cache")], check=True)
    rc, peak, log = timed(cmd, {"XDG_CACHE_HOME": str(root / "cache")})
    answered = len((run / "submission.csv").read_text().splitlines()) - 1 if rc == 0 else 0
    rows = [{"bar": f"train --image-size 256 --cache disk, {n:,} images of 256-384 px", "rc": rc, "peak_mb": peak,
             "ids": f"{answered} of 1000", "tail": log[-600:] if rc else ""}]
    links, made = root / f"links-{test_links}", root / f"links-{test_links}.done"  # the marker outside: not a test file
    if not made.exists():
        shutil.rmtree(links, ignore_errors=True)
        links.mkdir(parents=True)
        sources = sorted((data / "Train").rglob("*.*"))
        for i in range(test_links):
            src = sources[i % len(sources)]
            (links / f"t{i:06d}{src.suffix}").symlink_to(src.resolve())
        made.write_text("")
    out = root / "runs" / f"predict-{test_links}.csv"
    rc, peak, log = timed([BIN / "hunt-tf", "predict", "--run", run, "--images", links, "--out", out])
    answered = len(out.read_text().splitlines()) - 1 if rc == 0 else 0
    rows.append({"bar": f"predict {test_links:,} test images", "rc": rc, "peak_mb": peak,
                 "ids": f"{answered} of {test_links}", "tail": log[-600:] if rc else ""})
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def timed(cmd, env=None):
    """(return code, peak resident MB, stdout+stderr) of a command under /usr/bin/time."""
    out = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB %M", *map(str, cmd)], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    text = out.stdout + out.stderr
    peak = re.findall(r"PEAK_KB (\d+)", text)
    return out.returncode, (int(peak[-1]) / 1024 if peak else None), text


def last_epoch_images_per_s(log: str, batch: int):
    steps = re.findall(r"(\d+)/\d+ - \S+ - ([\d.]+)(ms|s)/step", log)
    if not steps:
        return None
    _, t, unit = steps[-1]
    return batch / (float(t) / (1000 if unit == "ms" else 1))


def run_hunt(data: Path, run: Path, cache: str, epochs: int, cache_dir: Path):
    cmd = [BIN / "hunt-tf", "train", data, "--run", run, "--fresh", "--epochs", epochs, "--cache", cache, *SMALL_CNN]
    # A cache of its own per benchmark root, emptied first: decoding is part of the disk run.
    subprocess.run(["rm", "-rf", str(cache_dir)], check=True)
    rc, peak, log = timed(cmd, {"XDG_CACHE_HOME": str(cache_dir)})
    return {"rc": rc, "peak_mb": peak, "images_per_s": last_epoch_images_per_s(log, 32), "tail": log[-400:] if rc else ""}


def run_load_then_fit(data: Path, epochs: int):
    code = f"""
import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); sys.path.insert(0, {str(ROOT)!r})
from hunt_speed import run_baseline
run_baseline({str(data)!r}, 128, {epochs})
"""
    # The load-then-fit script resizes whole images to 128 px (no crops): it keeps float32 of all of them.
    rc, peak, log = timed([sys.executable, "-c", code])
    return {"rc": rc, "peak_mb": peak, "images_per_s": None, "tail": log[-400:] if rc else ""}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    p.add_argument("--approaches", nargs="+", default=["memory", "disk", "load-then-fit"])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="run every approach this many times, taking turns")
    p.add_argument("--root", type=Path, default=ROOT / "runs" / "hunt-scale")
    p.add_argument("--large", type=int, help="check the single-run bars on this many images instead (see above)")
    p.add_argument("--test-links", type=int, default=50000)
    args = p.parse_args()
    if args.large:
        for row in run_large(args.root, args.large, args.test_links):
            print(f"| {row['bar']} | {row['peak_mb'] / 1024:.2f} GB | {row['ids']} |")
        return
    log = args.root / "results.jsonl"
    args.root.mkdir(parents=True, exist_ok=True)
    results = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["images"], r["approach"], r.get("round", 0)) for r in results}
    for n in args.sizes:
        data = args.root / f"data-{n}"
        make_folder(data, n)
        # Approaches take turns, round after round: a slow spell of the machine hits one round, not one approach.
        for round_ in range(args.rounds):
            for approach in args.approaches:
                if (n, approach, round_) in done:
                    continue
                if approach == "load-then-fit":
                    row = run_load_then_fit(data, args.epochs)
                else:
                    row = run_hunt(data, args.root / "runs" / f"{approach}-{n}", approach, args.epochs,
                                   args.root / "cache")
                row |= {"images": n, "approach": approach, "round": round_}
                print(json.dumps(row), flush=True)
                with open(log, "a") as f:
                    f.write(json.dumps(row) + "\n")
                results.append(row)
    print("\n| images | approach | round | peak memory (GB) | training images/s (last epoch) |\n| --- | --- | --- | --- | --- |")
    for r in sorted(results, key=lambda r: (r["images"], r["approach"], r.get("round", 0))):
        peak = f"{r['peak_mb'] / 1024:.2f}" if r["peak_mb"] else "?"
        speed = f"{r['images_per_s']:.0f}" if r["images_per_s"] else ""
        print(f"| {r['images']:,} | {r['approach']} | {r.get('round', 0)} | {peak}"
              f"{'' if r['rc'] == 0 else ' (failed, rc ' + str(r['rc']) + ')'} | {speed} |")


if __name__ == "__main__":
    main()
