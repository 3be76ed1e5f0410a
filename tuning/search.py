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
import os
import shutil
import sys
from pathlib import Path

from gradient_hunt.console import fit_verbosity, run_console_command
from gradient_hunt.runtime import PRECISIONS, STRATEGIES
from gradient_hunt.settings import SettingsError
from hunt_tf.choices import CACHES, RESIZE_MODES, TRIAL_EPOCHS, VALIDATIONS
from tuning.budget import SearchBudget, heartbeat, serve, trial_clock
from tuning.outputs import print_table, untuned_baseline, write_outputs
from tuning.recycle import RECYCLE_EXIT, is_child, memory_watch, search_start, supervise
from tuning.tuners import DEFAULT_TRIALS, TUNERS, make_tuner, role
from tuning.watch import WorkerWatch


def parser():
    p = argparse.ArgumentParser(prog="hunt-tune", description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                epilog="Distributed search: see `make tune-distributed` and the README.")
    p.add_argument("data", help="folder with Train/<class>/...")
    p.add_argument("--run", default="runs/tune", help="tuning run directory (default: %(default)s)")
    p.add_argument("--tuner", choices=TUNERS, default="hyperband", help="(default: %(default)s)")
    p.add_argument("--trials", type=int,
                   help=f"stop after this many trials, for every tuner (default: {DEFAULT_TRIALS} for random and "
                        "bayesian; Hyperband runs until the time budget)")
    p.add_argument("--iterations", type=int, default=100,
                   help="hyperband: rounds of brackets; the default lets the time budget end the search "
                        "(one round at --max-epochs 15 takes ~8 min on 2 CPU cores) (default: %(default)s)")
    p.add_argument("--max-epochs", type=int, default=TRIAL_EPOCHS,
                   help="epochs of the longest trial, and of the untuned baseline (default: %(default)s)")
    p.add_argument("--budget-minutes", type=float, default=15.0,
                   help="end the search after this long: no new trials, and a running one stops after its "
                        "current epoch (marked CUT in trials.csv; it never counts as best) (default: %(default)s)")
    p.add_argument("--worker-timeout", type=float, default=10.0,
                   help="distributed chief: minutes without a report before a worker's trial goes to another "
                        "worker; must exceed the longest epoch (default: %(default)s)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming the search in --run")
    p.add_argument("--image-size", type=int, default=0, help="0 = chosen from the data")
    p.add_argument("--resize-mode", choices=RESIZE_MODES, default="auto",
                   help="as hunt-tf train's; the best_hparams.json it writes carries the sizes (default: %(default)s)")
    p.add_argument("--source-size", type=int, default=0, help="crop mode: as hunt-tf train's (0 = from the data)")
    p.add_argument("--val-split", type=float, default=0.2)
    p.add_argument("--cache", choices=CACHES, default="auto",
                   help="decoded pixels, as hunt-tf train's: memory | disk (~/.cache/gradient-hunt/pixels, shared with "
                        "hunt-tf train and every re-started search child) | auto (default: %(default)s)")
    p.add_argument("--validation", choices=VALIDATIONS, default="auto",
                   help="auto: when a class folder holds several sources (Train/AI/<generator>/...), the search is "
                        "scored on one held out (leave-one-generator-out); random | source (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="per-trial data parallelism (mirrored across local GPUs)")
    p.add_argument("--recycle-mb", type=float, default=800,
                   help="run the search in a child process and replace it once its memory has grown by this many MB "
                        "(TensorFlow leaks ~12 MB per trained model); 0 = one process (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for this process (0 = all); one per worker when several share a machine")
    return p


def run(args):
    import keras

    from gradient_hunt.runtime import configure
    from hunt_tf import files
    from hunt_tf.config import HuntConfig
    from hunt_tf.crops import choose_sizes
    from hunt_tf.model import precision_probe
    from tuning.hypermodel import HuntHyperModel

    start = args.start
    run_dir = Path(args.run)
    run_dir.mkdir(parents=True, exist_ok=True)
    # The chief trains nothing: it neither needs nor should time a precision probe.
    if args.val_split <= 0:
        raise SettingsError("tuning needs a validation split (--val-split > 0)")
    folder = files.scan(args.data, progress=role() != "worker")
    sizes = choose_sizes(HuntConfig(image_size=args.image_size, resize_mode=args.resize_mode,
                                    source_size=args.source_size, val_split=args.val_split,
                                    validation=args.validation, cache=args.cache), folder.train)
    size = sizes.image_size
    runtime = configure(args.precision if role() != "chief" else "float32", "auto", args.strategy,
                        threads=args.threads, probe=precision_probe(sizes, size, len(folder.class_names)))
    hypermodel = HuntHyperModel.from_folder(folder, sizes, epochs=args.max_epochs, jit_compile=runtime.jit_compile,
                                            seed=args.seed, multi_worker=args.strategy == "multi-worker")
    strategy = runtime.strategy if args.strategy != "default" else None
    # Only the chief (or a single process) may start the search over: workers share its state.
    tuner = make_tuner(args.tuner, hypermodel, run_dir / "tuner", args.trials, args.max_epochs,
                       args.fresh and role() != "worker", args.seed, strategy, args.iterations)
    print(f"tuning {args.tuner} on {len(hypermodel.train)} train / {len(hypermodel.val_pixels)} validation "
          f"images at {size}px, budget {args.budget_minutes:g} min | {runtime.describe()} | role {role()}")
    baseline = None
    if args.fresh and role() != "worker":  # nothing of the old search may be mistaken for this one's
        for name in ("untuned.json", "best_hparams.json", "trials.csv"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "workers", ignore_errors=True)
    if role() == "single":  # a chief only serves the oracle; it trains nothing itself
        baseline = untuned_baseline(hypermodel, run_dir, args.max_epochs)
        print(f"untuned defaults: val_accuracy {baseline['score']:.4f} after {args.max_epochs} epochs")
    # The budget counts from the start of the command, as the user reads it; on a worker it
    # only stops asking when this process is to be replaced (the chief ends the search).
    budget = SearchBudget(tuner.oracle, args.budget_minutes if role() != "worker" else float("inf"), start)
    if role() == "chief":
        WorkerWatch(tuner.oracle, run_dir / "tuner" / "hunt", args.worker_timeout * 60).start()
    worker_log = run_dir / "workers" / f"{os.environ['KERASTUNER_TUNER_ID']}.log" if role() != "single" else None
    deadline = start + args.budget_minutes * 60
    tensorboard = keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False)
    beat = heartbeat(tuner) if role() == "worker" else None
    callbacks = [trial_clock(deadline, worker_log, beat), tensorboard]
    if is_child() and args.recycle_mb > 0:
        callbacks.append(memory_watch(args.recycle_mb, budget.stop))
    if role() == "chief":
        serve(tuner, callbacks, deadline)
    else:
        tuner.search(callbacks=callbacks, verbose=0 if role() == "worker" else fit_verbosity())
    if budget.stopped:
        args.replace_me = True  # main() exits with RECYCLE_EXIT; the parent resumes in a new process
        return
    if budget.spent:
        print(f"time budget of {args.budget_minutes:g} min spent; the search has ended")
    if role() == "worker":
        return
    data_settings = {"image_size": sizes.image_size, "resize_mode": sizes.resize_mode,
                     "extra_fakes": hypermodel.extra_fakes, "validation": hypermodel.validation}
    if sizes.resize_mode == "crop":
        data_settings["source_size"] = sizes.source_size
    rows, best = write_outputs(tuner, run_dir, baseline, data_settings)
    print_table(rows)
    unfinished = [r["trial"] for r in rows if r["status"] in ("RUNNING", "INVALID")]
    if unfinished:  # e.g. a worker died after the others had stopped: nobody was left to retry its trial
        print(f"warning: trial(s) {', '.join(unfinished)} did not finish; run the same command again to finish them",
              file=sys.stderr)
    versus = f" vs untuned {baseline['score']:.4f}" if baseline is not None else ""
    print(f"best val_accuracy {best['score']:.4f} (trial {best['trial_id']}){versus}; wrote {run_dir / 'best_hparams.json'}")


def main(argv=None):
    # The budget's clock starts now, before TensorFlow loads, for the chief and workers alike
    # (a replaced child keeps its parent's clock).
    start = search_start()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.start = start
    if args.recycle_mb > 0 and role() != "chief" and not is_child():
        return supervise(argv, start)  # the search runs in child processes, replaced as their memory grows
    args.replace_me = False
    rc = run_console_command("hunt-tune", lambda: run(args), "; run the same command again to resume the search")
    return RECYCLE_EXIT if rc == 0 and args.replace_me else rc


if __name__ == "__main__":
    sys.exit(main())
