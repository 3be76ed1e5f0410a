"""Distributed tuning throughput: trials per hour with one worker vs two (one thread each).

    .venv/bin/python benchmarks/tune_workers.py DATA [--trials 8] [--epochs 3]

Runs the same random search (fixed trial count, fixed epochs) twice on keras-tuner's
chief/worker engine over 127.0.0.1: a chief plus 1 worker, then a chief plus 2 workers,
every worker limited to one CPU thread. Reports wall seconds and trials per hour.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def search(data, workers, trials, epochs, run):
    port = str(free_port())
    args = [sys.executable, "-m", "tuning.search", data, "--run", run, "--tuner", "random", "--trials", str(trials),
            "--max-epochs", str(epochs), "--threads", "1"]
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    chief = subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID="chief"), stdout=subprocess.DEVNULL)
    procs = [subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID=f"tuner{i}"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(workers)]
    for p in procs:
        p.wait()
    chief.wait()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as run:
            seconds = search(args.data, workers, args.trials, args.epochs, run)
        rows.append({"workers": workers, "seconds": round(seconds, 1),
                     "trials_per_hour": round(args.trials * 3600 / seconds)})
        print(rows[-1], flush=True)
    print(f"2 workers vs 1: {rows[1]['trials_per_hour'] / rows[0]['trials_per_hour']:.2f}x trials per hour")
    (ROOT / "runs").mkdir(exist_ok=True)
    (ROOT / "runs" / "bench-tune.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
