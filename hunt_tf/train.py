"""Train the hunt classifier into a run directory (what `hunt-tf train` does).

    hunt-tf train DATA --run runs/hunt [--hparams runs/tune/best_hparams.json] [--fresh]

Run directory: config.json, classes.json, decision.json, model.keras, best.keras,
history.csv, logs/ (TensorBoard), backup/ (resume after a crash), report/ (report.json +
PNGs), submission.csv, self-trained.json (what self-training did, or why not); unless
--members is 1, each member's best.keras, history.csv, backup/ and model.keras are in
members/<k>/ instead (model.keras is then their average). A
Train folder with generator sub-folders also gets held-out/: a run of its own without one
of them, for the estimate (held_out_estimate). Running into it again with the same settings
and data resumes a crashed run, or re-predicts a finished one; anything else is refused
(`--fresh` starts over).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import shutil
import time
from pathlib import Path

import keras

from gradient_hunt import multi_worker
from gradient_hunt.atomic import write_json
from gradient_hunt.errors import UserError
from gradient_hunt.rundir import open_run
from gradient_hunt.runtime import check_strategy, configure
from hunt_tf import audit, ensemble, extra_fakes, files, self_train, unlike_reals
from hunt_tf.adaptive_cut import MIN_REALS, adapts, enough_reals, validation_reals
from hunt_tf.config import HuntConfig, resolve_config
from hunt_tf.crops import choose_sizes
from hunt_tf.fitting import fit
from hunt_tf.model import precision_probe
from hunt_tf.optim import auto_epochs, auto_patience
from hunt_tf.predict import submission_ids
from hunt_tf.rows import TrainingRows, decode_train, subset
from hunt_tf.splits import has_sources, validation_split
from hunt_tf.submit import Validation, report_and_predict, unseen_fakes

HELD_OUT = "held-out"  # the held-out estimate's run, inside the run directory
DECIDES = ("cut", "self_train", "unlike_reals")  # settings of how a trained run answers: may change on it
# Self-training's rounds share what the ensemble's budget left, at least this (self_train.rounds_on_test).
SELF_TRAIN_MIN_S = 60.0
# The estimate's network trains in what the ensemble's budget left, at least this (held_out_estimate).
ESTIMATE_MIN_S = 60.0


def train(data_dir, run_dir, settings=None, hparams=None, tta=False, verbose=None, fresh=False, ids="stem",
          predict=True, time_limit=0) -> dict:
    """Scan, audit, split, fit (each network for at most `time_limit` seconds, 0: no limit),
    report, predict (unless `predict` is False). Returns the validation report; with generator
    sub-folders and --validation auto, under "held_out" the estimate on a generator that
    training never saw (held_out_estimate)."""
    asked = resolve_config(dict(settings or {}), hparams)
    # Before the run directory is written (choices: HuntConfig.from_dict, in resolve_config)
    check_strategy(asked.strategy), self_train.check(asked.self_train), ensemble.check(asked.members)
    run_dir, worker_dir = Path(run_dir), None
    across = asked.strategy == "multi-worker"
    if across and not multi_worker.is_chief():
        # Every worker trains (the strategy keeps their weights equal); only the chief writes the
        # run, and reports and predicts. The others keep their checkpoints in a scratch directory.
        worker_dir = run_dir = multi_worker.scratch_dir(run_dir)
    folder = files.scan(data_dir)
    test_ids = None
    if predict:  # the estimate's run predicts nothing, and the run that called it has checked both
        test_ids = submission_ids(folder.test, folder.test_dir, ids)  # a clash is an error before any training
        audit.warn_if_shortcut(folder)
    # Generator sub-folders and auto: the submission's model trains on every source (a random
    # split), and a second run holding one out gives the honest estimate (held_out_estimate).
    estimate = asked.validation == "auto" and asked.val_split > 0 and not across and has_sources(folder)
    if estimate:
        asked.validation = "random"
    choose_sizes(asked, folder.train)
    asked.extra_fakes = extra_fakes.resolve(asked.extra_fakes, asked.decode_size, folder.class_names)
    # The rows an epoch passes over, extra fakes included, less validation's share: near enough for the epochs.
    rows = len(folder.train) + extra_fakes.added(asked.extra_fakes, folder.labels, folder.class_names)
    asked.epochs = auto_epochs(asked.epochs, round(rows * (1 - asked.val_split)), asked.batch_size)
    asked.patience = auto_patience(asked.patience, asked.epochs)
    # The same settings on other data (another round's folder) are another run, not this one.
    identity = {"data": str(Path(data_dir).resolve()), "classes": folder.class_names}
    asking = dataclasses.asdict(asked)
    for kept in DECIDES:  # how a trained run decides, kept unless given (an old run: validation's, none, off)
        if kept not in (settings or {}):
            del asking[kept]
    config, continuing = open_run(run_dir, HuntConfig, asking, kind="hunt-tf", identity=identity,
                                  fresh=fresh, may_change=("cache", "strategy", *DECIDES))  # how it ran and decides is not the run
    finished = continuing and (run_dir / "model.keras").exists() and not (run_dir / "backup").exists()
    write_json(run_dir / "classes.json", folder.class_names)  # the same as before when continuing

    runtime = configure(config.precision, config.jit, config.strategy,
                        probe=precision_probe(config, config.image_size, len(folder.class_names)))
    if across:
        finished = multi_worker.chief_says(runtime.strategy, finished)  # only the chief's run can tell
        if worker_dir is not None and finished:
            return multi_worker.worker_report()
    keras.utils.set_random_seed(config.seed)
    decoded = decode_train(folder, config, multi_worker=across)
    train_idx, val_idx, how, held_out_source = validation_split(folder, decoded.labels, config.val_split, config.seed,
                                                                config.validation)
    if estimate:
        how += f"; every source trains (the estimate holds one out: {HELD_OUT}/)"
    tests = f" / {len(folder.test)} test images" if predict else ""
    print(f"data: {len(train_idx)} train / {len(val_idx)} validation ({how}){tests}, "
          f"classes {folder.class_names}, {describe_input(config)}, decoded pixels in {decoded.where} | "
          f"runtime: {runtime.describe()}")
    if held_out_source and predict:
        print("note: the held-out source trains nothing here; validation scores one generator this run never saw. "
              + ("Across workers auto holds one out; --validation random" if across else
                 "--validation auto (the default) also")
              + " trains the submission's model on every source (it caught unseen generators better on a "
              "Fashion-MNIST folder: BENCHMARKS.md, sessions 18-19)")
    val_pixels, val_labels = subset(decoded.pixels, val_idx), decoded.labels[val_idx]
    trained_s = 0.0  # this call's training seconds
    # Self-training needs the training rows after fit (a run it was cut short in needs them again).
    # One process, one device: the model is combined and reloaded outside a strategy's scope. It teaches
    # AI, so it needs two classes, one of them Real.
    can_self_train = config.strategy == "default" and extra_fakes.real_class(folder.class_names) is not None
    self_trains = (predict and bool(folder.test) and config.self_train > 0 and can_self_train
                   and not (run_dir / self_train.RECORD).exists())
    if predict and "self_train" in (settings or {}) and config.self_train > 0 and not can_self_train:
        print("note: no self-training: it needs one process on one device (--strategy default) and two classes, "
              "one named Real")
    if finished:
        again = "reporting and predicting again" if predict else "reporting again"
        print(f"{run_dir} already holds this trained run: {again} (--fresh retrains)")
        train = (TrainingRows.of(decoded, train_idx, config.extra_fakes, folder.class_names, config.seed)
                 if self_trains else None)
        del decoded
        model = keras.saving.load_model(run_dir / "model.keras")
    else:
        # Extra fakes join training only: validation keeps the user's own images.
        train = TrainingRows.of(decoded, train_idx, config.extra_fakes, folder.class_names, config.seed)
        # The training rows are copied out of memory mode's decoded folder: let go of the whole,
        # the largest thing a run holds, before fit.
        del decoded
        start = time.perf_counter()
        model = fit(config, runtime, run_dir, train, (val_pixels, val_labels), len(folder.class_names), verbose,
                    time_limit)
        trained_s = time.perf_counter() - start
        if not self_trains:
            train = None  # the largest thing a run holds after fit
    if worker_dir is not None:
        shutil.rmtree(worker_dir, ignore_errors=True)
        return multi_worker.worker_report()
    if across and not finished:
        # The others have finished: predict in this process alone, with the model outside the strategy.
        model = keras.saving.load_model(run_dir / "model.keras")

    val = Validation(val_pixels, val_labels, [Path(folder.train[i].path).name for i in val_idx], how,
                     held_out_source)
    outcome = report_and_predict(model, run_dir, folder, config, val, test_ids, tta, predict)
    report = outcome.report
    if self_trains:
        # Only where Test shows fakes unlike validation's: where it did not, it measured a small loss (session 20).
        if unseen_fakes(outcome, folder.class_names, tta, cut_tested=adapts(config.cut)) is None:
            train = None
            reals = validation_reals(outcome.decision, tta)
            why = ("the adaptive cut's test found no evidence of fakes unlike validation's in Test"
                   if enough_reals(reals) else
                   f"{len(reals or ())} validation reals, and the adaptive cut's test needs {MIN_REALS}")
            print(f"self-training skipped: {why}")
            report = self_train.record(run_dir, report, {"rounds": [], "skipped": why})
        else:
            limit = max(ensemble.AUTO_BUDGET_S - trained_s, SELF_TRAIN_MIN_S)
            start = time.perf_counter()
            report = self_train.rounds_on_test(model, config, runtime, run_dir, folder, train, val, outcome, test_ids,
                                               tta, verbose, limit)
            trained_s += time.perf_counter() - start
    elif (run_dir / self_train.RECORD).exists() and predict:  # run again: the report says what the saved model went through
        report = self_train.record(run_dir, report, json.loads((run_dir / self_train.RECORD).read_text()))
    del train
    if predict and folder.test and config.unlike_reals == "on":  # after the answers it checks are final
        report = unlike_reals.check_submission(run_dir, folder, config, test_ids, report)
    if estimate:
        del model, val_pixels  # the estimate trains a network of its own: let this one go first
        gc.collect()
        limit = max(ensemble.AUTO_BUDGET_S - trained_s, ESTIMATE_MIN_S)
        held = held_out_estimate(data_dir, run_dir, settings, hparams, verbose, fresh, limit)
        if held:
            report["held_out"] = held
            write_json(run_dir / "report" / "report.json", report)
    return report


def held_out_estimate(data_dir, run_dir, settings, hparams, verbose, fresh, time_limit) -> dict | None:
    """What the detector scores on a generator it never saw: one network trained in RUN/held-out
    with one source held out (leave-one-generator-out) and validated on it, at a cut of 0.5;
    nothing predicted. Returns its report's metrics and where the run is; None, having said why,
    when that run cannot be made (the submission is already written).

    The submission's model is not this one: it trains on every source, and may self-train on Test
    (this one never does: it predicts nothing). On a Fashion-MNIST folder
    with two generators, that caught four unseen families at 0.818 against 0.656 for the model
    trained without one (3 seeds each, BENCHMARKS.md, sessions 19 and 18); the gain came through
    the adaptive cut, which moved in every run trained on all sources and in none trained
    without one.

    The estimate costs a second decode of Train (the first run lets its decoded pixels go before
    fit: they are the largest thing a run holds) and one more network's training, stopped at the
    first epoch end past `time_limit` seconds: what the ensemble's budget (AUTO_BUDGET_S) left,
    at least ESTIMATE_MIN_S (when the submission's run was already trained, the whole budget; the
    seconds its self-training took count as spent). On large folders one network
    takes most of that budget (1,000 images of 256-512 px: 20 epochs in about 285 s on a 2-core
    EPYC), and a second whole one would leave `make train-cnn` little headroom under 10
    minutes (BENCHMARKS.md, session 19)."""
    where = Path(run_dir) / HELD_OUT
    print(f"held-out estimate: one network trained without one source (stopped at the first epoch end past "
          f"{time_limit:.0f} s) and "
          f"scored on it, in {where}")
    asked = {**(settings or {}), "validation": "source", "members": 1}
    try:
        report = train(data_dir, where, asked, hparams, verbose=verbose, fresh=fresh, predict=False,
                       time_limit=time_limit)
    except UserError as err:
        print(f"held-out estimate skipped: {err}")
        return None
    kept = ("validation", "n_validation", "accuracy", "precision", "recall", "f1", "roc_auc", "average_precision",
            "threshold")
    return {"run": str(where), **{k: report[k] for k in kept if k in report}}


def describe_input(config) -> str:
    if config.resize_mode == "crop":
        sizes = f"{config.image_size}px crops of {config.source_size}px at native resolution"
    else:
        sizes = f"{config.image_size}px ({config.resize_mode})"
    extra = f", {config.extra_fakes} fakes of the Real images added to training" if config.extra_fakes != "none" else ""
    blocks = f", {config.convs} conv{'s' if config.convs > 1 else ''} per block" if config.backbone == "cnn" else ""
    blocks += ", flattened (the layout counts)" if config.head == "flatten" else ""
    members = (f", up to {ensemble.AUTO_MAX_MEMBERS} networks averaged as time allows" if config.members == 0
               else f", {config.members} networks averaged" if config.members > 1 else "")
    return f"{sizes}, {config.input} input{blocks}{extra}{members}"
