"""hunt-tune: keras-tuner search over the hunt classifier; writes best_hparams.json.

    hunt-tune DATA --run runs/tune --trials 12 --max-epochs 8 --budget-minutes 15
    hunt-tune DATA --tuner random --fresh

Outputs in --run: best_hparams.json (what `hunt-tf train --hparams` reads), trials.csv,
logs/ (TensorBoard, HParams dashboard), tuner/ (keras-tuner's state: a search resumes).

Distributed, on keras-tuner's own engine: set KERASTUNER_TUNER_ID ("chief" on one
process, "tuner0", "tuner1", ... on the others), KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT, and run the same command everywhere. The chief serves the
oracle and writes the outputs; workers run trials. Random and Hyperband are safe in
parallel; Bayesian is refused (its oracle has open bugs when trials run concurrently).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from gan_tf.atomic import atomic_write, write_json

TUNERS = ("hyperband", "bayesian", "random")
PARALLEL_SAFE = ("hyperband", "random")


def role():
    """'chief', 'worker' or 'single', from keras-tuner's environment variables."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not tuner_id:
        return "single"
    return "chief" if "chief" in tuner_id else "worker"


def make_tuner(kind, hypermodel, directory, trials, max_epochs, overwrite, seed, distribution_strategy=None,
               iterations=100):
    import keras_tuner as kt

    if role() != "single" and kind not in PARALLEL_SAFE:
        raise ValueError(f"the {kind} tuner is not safe with several workers; use {' or '.join(PARALLEL_SAFE)}")
    # One retry per trial: a trial whose worker died (see WorkerWatch) runs again on another.
    common = dict(objective="val_accuracy", directory=str(directory), project_name="hunt", overwrite=overwrite,
                  seed=seed, distribution_strategy=distribution_strategy, max_retries_per_trial=1)
    if kind == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, hyperband_iterations=iterations, **common)
    if kind == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=trials, **common)
    if kind == "random":
        return kt.RandomSearch(hypermodel, max_trials=trials, **common)
    raise ValueError(f"unknown tuner {kind!r}; choose from {', '.join(TUNERS)}")


class WorkerWatch:
    """Chief only: a worker that goes silent gives its trial back, so the others finish the search.

    Workers report to the chief after every epoch (keras-tuner rewrites the trial's
    trial.json), so a trial whose worker has been silent for longer than `timeout_s` (which
    must exceed the longest epoch) belongs to a worker that was killed or lost its machine.
    The trial is ended as INVALID, which sends it to keras-tuner's retry queue; the next worker
    to ask runs it again. The silent worker's id is forgotten, so the chief can still exit;
    a restarted worker registers again when it asks for a trial. A worker that holds no trial
    (Hyperband's idle workers ask again and again until a round opens) is forgotten once it
    has not asked for `timeout_s`.
    """

    def __init__(self, oracle, trial_dir, timeout_s, every_s=None):
        self.oracle, self.trial_dir, self.timeout_s = oracle, Path(trial_dir), timeout_s
        self.every_s = every_s or max(1.0, timeout_s / 10)
        self.since = {}  # (tuner id, trial id) -> when this watch first saw that worker on that trial
        self.asked = {}  # tuner id -> when it last asked for a trial
        ask = oracle.create_trial  # the chief's gRPC handler calls this attribute: note who asks, when

        def create_trial(tuner_id):
            self.asked[tuner_id] = time.time()
            return ask(tuner_id)

        oracle.create_trial = create_trial

    def start(self):
        import threading

        threading.Thread(target=self._loop, name="worker-watch", daemon=True).start()
        return self

    def _loop(self):
        while True:
            time.sleep(self.every_s)
            self.check()

    def last_heard(self, tuner_id, trial):
        first_seen = self.since.setdefault((tuner_id, trial.trial_id), time.time())
        report = self.trial_dir / f"trial_{trial.trial_id}" / "trial.json"
        return max(first_seen, report.stat().st_mtime if report.exists() else 0.0)

    def check(self):
        import keras_tuner as kt

        @kt.synchronized  # holds the oracle's own lock, like its gRPC handlers
        def requeue_silent(oracle):
            lost = []
            for tuner_id, trial in list(oracle.ongoing_trials.items()):
                silent = time.time() - self.last_heard(tuner_id, trial)
                if silent > self.timeout_s:
                    trial.status = kt.engine.trial.TrialStatus.INVALID
                    trial.message = f"worker {tuner_id} silent for {silent:.0f} s"
                    oracle.end_trial(trial)  # -> the retry queue (the tuner allows one retry)
                    oracle.tuner_ids.discard(tuner_id)
                    lost.append((tuner_id, trial.trial_id))
            for tuner_id in list(oracle.tuner_ids - set(oracle.ongoing_trials)):
                if time.time() - self.asked.setdefault(tuner_id, time.time()) > self.timeout_s:
                    oracle.tuner_ids.discard(tuner_id)  # an idle worker that stopped asking
                    lost.append((tuner_id, None))
            return lost

        for tuner_id, trial_id in requeue_silent(self.oracle):
            gives = f"; trial {trial_id} goes to the next worker" if trial_id else " while it held no trial"
            print(f"warning: worker {tuner_id} went silent{gives}", file=sys.stderr, flush=True)


def trial_rows(tuner):
    """One row per trial the oracle knows: id, status, score, seconds and every value."""
    rows = []
    for trial in tuner.oracle.trials.values():
        seconds = trial.metrics.get_best_value("trial_seconds") if trial.metrics.exists("trial_seconds") else None
        row = {"trial": trial.trial_id, "status": trial.status, "score": trial.score,
               "seconds": None if seconds is None else round(seconds, 1)}
        row.update(trial.hyperparameters.values)
        rows.append(row)
    return rows


def write_outputs(tuner, run_dir, untuned=None):
    """trials.csv (the untuned defaults as a row of their own) and best_hparams.json."""
    run_dir = Path(run_dir)
    rows = trial_rows(tuner)
    untuned_score = None if untuned is None else untuned["score"]
    if untuned is not None:
        rows.append({"trial": "untuned", "status": "COMPLETED", "score": untuned_score, "seconds": untuned["seconds"],
                     **kt_defaults()})
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0)))  # best first, unscored last
    first = ["trial", "status", "score", "seconds"]
    fields = first + sorted({k for r in rows for k in r} - set(first))
    with atomic_write(run_dir / "trials.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    best = tuner.oracle.get_best_trials(1)
    if not best:
        raise RuntimeError("no trial finished; nothing to write")
    best = best[0]
    result = {"trial_id": best.trial_id, "score": best.score, "objective": "val_accuracy",
              "untuned_score": untuned_score, "hparams": dict(best.hyperparameters.values)}
    # Hyperband's bookkeeping (and its short trial lengths) is not a setting for the final training.
    for key in [k for k in result["hparams"] if k.startswith("tuner/")]:
        result["hparams"].pop(key)
    if untuned_score is not None and untuned_score >= (best.score or 0):
        # The search found nothing better than the defaults: say so, and recommend them.
        result.update(trial_id="untuned", score=untuned_score, hparams=dict(kt_defaults()))
    write_json(run_dir / "best_hparams.json", result)
    return rows, result


def kt_defaults():
    import keras_tuner as kt

    from tuning.hypermodel import define_space

    hp = kt.HyperParameters()
    define_space(hp, image_size=64)
    return hp.values


def untuned_baseline(hypermodel, run_dir, epochs):
    """{score, epochs, seconds} of the untuned defaults, same data and epochs; cached for resumes."""
    import keras_tuner as kt

    path = Path(run_dir) / "untuned.json"
    if path.exists():
        return json.loads(path.read_text())
    hp = kt.HyperParameters()
    start = time.time()
    history = hypermodel.fit(hp, hypermodel.build(hp), epochs=epochs, verbose=0)
    baseline = {"score": float(max(history.history["val_accuracy"])), "epochs": epochs,
                "seconds": round(time.time() - start, 1)}
    write_json(path, baseline)
    return baseline


def print_table(rows, limit=10):
    keys = ["trial", "score", "seconds", "backbone", "filters", "depth", "kernel_size", "augment", "optimizer",
            "learning_rate", "batch_size"]
    print("  ".join(f"{k[:12]:>12s}" for k in keys))
    for r in rows[:limit]:
        cells = []
        for k in keys:
            v = r.get(k)
            cells.append(f"{v:12.4g}" if isinstance(v, float) else f"{str(v):>12s}")
        print("  ".join(cells))


def parser():
    p = argparse.ArgumentParser(prog="hunt-tune", description=__doc__.split("\n\n")[0],
                                epilog="Distributed search: see `make tune-distributed` and the README.")
    p.add_argument("data", help="folder with Train/<class>/...")
    p.add_argument("--run", default="runs/tune", help="tuning run directory (default: %(default)s)")
    p.add_argument("--tuner", choices=TUNERS, default="hyperband", help="(default: %(default)s)")
    p.add_argument("--trials", type=int, default=12, help="trials for random/bayesian (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=100,
                   help="hyperband: rounds of brackets; the default lets the time budget end the search "
                        "(one round at --max-epochs 15 takes ~8 min on 2 CPU cores) (default: %(default)s)")
    p.add_argument("--max-epochs", type=int, default=15,
                   help="epochs of the longest trial, and of the untuned baseline (default: %(default)s)")
    p.add_argument("--budget-minutes", type=float, default=15.0,
                   help="stop starting trials after this long (default: %(default)s)")
    p.add_argument("--worker-timeout", type=float, default=10.0,
                   help="distributed chief: minutes without a report before a worker's trial goes to another "
                        "worker; must exceed the longest epoch (default: %(default)s)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming the search in --run")
    p.add_argument("--image-size", type=int, default=0, help="0 = chosen from the data")
    p.add_argument("--resize-mode", choices=("resize", "crop", "pad"), default="resize")
    p.add_argument("--val-split", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"), default="auto")
    p.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"), default="default",
                   help="per-trial data parallelism (mirrored across local GPUs)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for this process (0 = all); one per worker when several share a machine")
    return p


def run(args):
    import keras
    import keras_tuner as kt

    from gan_tf.runtime import configure
    from hunt_tf import files
    from tuning.hypermodel import HuntHyperModel

    run_dir = Path(args.run)
    run_dir.mkdir(parents=True, exist_ok=True)
    runtime = configure(args.precision, "auto", args.strategy, threads=args.threads)
    folder = files.scan(args.data, progress=role() != "worker")
    size = args.image_size or files.default_image_size(folder.train)
    if args.val_split <= 0:
        raise ValueError("tuning needs a validation split (--val-split > 0)")
    hypermodel = HuntHyperModel.from_folder(folder, size, args.resize_mode, args.val_split, epochs=args.max_epochs,
                                            jit_compile=runtime.jit_compile, seed=args.seed)
    strategy = runtime.strategy if args.strategy != "default" else None
    tuner = make_tuner(args.tuner, hypermodel, run_dir / "tuner", args.trials, args.max_epochs, args.fresh,
                       args.seed, strategy, args.iterations)
    deadline = time.time() + args.budget_minutes * 60

    class BudgetSpent(kt.errors.FatalError):
        """Ends the search (a FatalError is not retried by keras-tuner) without losing finished trials."""

    class TrialClock(keras.callbacks.Callback):
        """Times each trial (for the table) and ends the search once the budget is spent."""

        def on_train_begin(self, logs=None):
            if time.time() > deadline:
                raise BudgetSpent()
            self.start = time.time()
            if role() != "single":  # which process ran which trial, one file per tuner id
                log = run_dir / "workers" / f"{os.environ['KERASTUNER_TUNER_ID']}.log"
                log.parent.mkdir(exist_ok=True)
                with open(log, "a") as f:
                    f.write(f"{time.strftime('%H:%M:%S')} trial started\n")

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["trial_seconds"] = time.time() - self.start

    print(f"tuning {args.tuner} on {len(hypermodel.train_pixels)} train / {len(hypermodel.val_pixels)} validation "
          f"images at {size}px, "
          f"budget {args.budget_minutes:g} min | {runtime.describe()} | role {role()}")
    baseline = None
    if args.fresh:
        (run_dir / "untuned.json").unlink(missing_ok=True)
    if role() == "single":  # a chief only serves the oracle; it trains nothing itself
        baseline = untuned_baseline(hypermodel, run_dir, args.max_epochs)
        print(f"untuned defaults: val_accuracy {baseline['score']:.4f} after {args.max_epochs} epochs")
    if role() == "chief":
        WorkerWatch(tuner.oracle, run_dir / "tuner" / "hunt", args.worker_timeout * 60).start()
    tensorboard = keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False)
    try:
        tuner.search(callbacks=[TrialClock(), tensorboard], verbose=0 if role() == "worker" else 1)
    except BudgetSpent:
        print(f"time budget of {args.budget_minutes:g} min spent; stopping the search")
    if role() == "worker":
        return
    rows, best = write_outputs(tuner, run_dir, baseline)
    print_table(rows)
    unfinished = [r["trial"] for r in rows if r["status"] in ("RUNNING", "INVALID")]
    if unfinished:  # e.g. a worker died after the others had stopped: nobody was left to retry its trial
        print(f"warning: trial(s) {', '.join(unfinished)} did not finish; run the same command again to finish them",
              file=sys.stderr)
    versus = f" vs untuned {baseline['score']:.4f}" if baseline is not None else ""
    print(f"best val_accuracy {best['score']:.4f} (trial {best['trial_id']}){versus}; wrote {run_dir / 'best_hparams.json'}")


def _expected_errors():
    from hunt_tf.files import DataError

    return DataError, ValueError, FileNotFoundError, RuntimeError


def main(argv=None):
    from gan_tf.runtime import run_console_command

    args = parser().parse_args(argv)
    return run_console_command("hunt-tune", lambda: run(args), _expected_errors,
                               "; run the same command again to resume the search")


if __name__ == "__main__":
    sys.exit(main())
