"""Does hunt-tune's memory stay bounded over a long search? Peak resident memory, whole process tree.

    .venv/bin/python benchmarks/tune_memory.py [--trials 80] [--out runs/bench-tune-memory.json]

Runs the real command twice on a synthetic 600-image folder (24 px, so every trial is the
CNN; 1 epoch per trial, random search): once in one process (`--recycle-mb 0`, how
hunt-tune ran before issue #9), once as shipped (the search runs in a child process that is
replaced when it has grown by --recycle-mb). Samples the resident memory of the command and
all its children twice a second; prints the peak, the memory after the first 10 trials,
the growth per trial after that, and the wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1]))
from gradient_hunt.atomic import write_json  # noqa: E402

BIN = Path(sys.executable).parent


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    family, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in family and child not in family:
                family.add(child)
                grew = True
    total = 0.0
    for p in family:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def make_folder(root: Path, n=600, size=24):
    rng = np.random.default_rng(0)
    for label in ("AI", "Real"):
        d = root / "Train" / label
        d.mkdir(parents=True)
        for i in range(n // 2):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(d / f"{i}.png")


def measure(data: Path, run: Path, trials: int, recycle_mb: float) -> dict:
    args = [str(BIN / "hunt-tune"), str(data), "--run", str(run), "--tuner", "random", "--trials", str(trials),
            "--max-epochs", "1", "--image-size", "24", "--precision", "float32", "--budget-minutes", "120",
            "--recycle-mb", str(recycle_mb)]
    start = time.time()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []  # (trials finished, MB)
    while proc.poll() is None:
        done = len(list((run / "tuner" / "hunt").glob("trial_*/checkpoint.weights.h5")))
        samples.append((done, tree_rss_mb(proc.pid)))
        time.sleep(0.5)
    at = {}
    for done, mb in samples:
        at.setdefault(done, []).append(mb)
    after10 = max(at.get(10, [0]))
    last = max(k for k in at)
    growth = (max(at[last]) - after10) / max(1, last - 10)
    return {"recycle_mb": recycle_mb, "returncode": proc.returncode, "trials": last,
            "peak_mb": round(max(mb for _, mb in samples)), "after_10_trials_mb": round(after10),
            "growth_per_trial_mb": round(growth, 2), "seconds": round(time.time() - start)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=80)
    p.add_argument("--recycle-mb", type=float, default=800, help="the shipped setting to measure (default: 800)")
    p.add_argument("--out", default="runs/bench-tune-memory.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_folder(data)
        results = [measure(data, Path(tmp) / f"run{i}", args.trials, mb) for i, mb in enumerate((0, args.recycle_mb))]
    for r in results:
        how = "one process" if not r["recycle_mb"] else f"recycled at +{r['recycle_mb']:g} MB"
        print(f"{how:24s} {r['trials']} trials in {r['seconds']} s: peak {r['peak_mb']} MB, "
              f"{r['after_10_trials_mb']} MB after 10 trials, {r['growth_per_trial_mb']:+.1f} MB per trial after that")
    write_json(args.out, results)


if __name__ == "__main__":
    main()
