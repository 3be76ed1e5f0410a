"""Train the hunt classifier into a run directory (what `hunt-tf train` does).

    hunt-tf train DATA --run runs/hunt [--hparams runs/tune/best_hparams.json] [--fresh]

Run directory: config.json, classes.json, decision.json, model.keras, best.keras,
history.csv, logs/ (TensorBoard), backup/ (resume after a crash), report/ (report.json +
PNGs), submission.csv; unless --members is 1, each member's best.keras, history.csv,
backup/ and model.keras are in members/<k>/ instead (model.keras is then their average). A
Train folder with generator sub-folders also gets held-out/: a run of its own without one
of them, for the estimate (held_out_estimate). Running into it again with the same settings
and data resumes a crashed run, or re-predicts a finished one; anything else is refused
(`--fresh` starts over).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import math
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np

from gradient_hunt import multi_worker
from gradient_hunt.atomic import save_model, write_json
from gradient_hunt.errors import UserError
from gradient_hunt.nan_guard import NaNGuard
from gradient_hunt.rundir import open_run
from gradient_hunt.runtime import check_strategy, configure
from gradient_hunt.time_limit import TimeLimit
from hunt_tf import audit, ensemble, extra_fakes, files
from hunt_tf.adaptive_cut import adapts, real_scores_of, validation_reals
from hunt_tf.averaging import WeightAverage, averages, first_averaged_epoch
from hunt_tf.config import HuntConfig, resolve_config
from hunt_tf.crops import choose_sizes
from hunt_tf.errors import RunError
from hunt_tf.explain import explain_images
from hunt_tf.model import build_model, precision_probe
from hunt_tf.optim import auto_epochs, auto_patience
from hunt_tf.predict import predict_pixels, predict_records, submission_ids, write_submission
from hunt_tf.report import write_report
from hunt_tf.rows import TrainingRows, decode_train, subset, validation_dataset
from hunt_tf.splits import class_weights, has_sources, validation_split

HELD_OUT = "held-out"  # the held-out estimate's run, inside the run directory
# The estimate's network trains in what the ensemble's budget left, at least this (held_out_estimate).
ESTIMATE_MIN_S = 60.0


def callbacks(run_dir: Path, config: HuntConfig, monitor: str, train_ds=None, logs=None, time_limit=0):
    """The run's callbacks; `train_ds` (the training batches) refreshes BatchNorm after weight averaging;
    TensorBoard writes to `logs` (default run_dir/logs); `time_limit` seconds end fit (0: none)."""
    averaging = averages(config.average)
    # An interrupted fit resumes from backup/. Averaging keeps it until model.keras is saved
    # (`fit` removes it): the average and its BatchNorm pass come after fit's own end.
    cbs = [keras.callbacks.BackupAndRestore(str(run_dir / "backup"), delete_checkpoint=not averaging)]
    if averaging:  # right after the backup: WeightAverage recovers an epoch a crash between the two saves lost
        cbs.append(WeightAverage(first_averaged_epoch(config.epochs), train_ds, state=run_dir / "backup" / "average.npz"))
    cbs.append(keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, save_best_only=True))
    if not averaging:
        # Validation is noisy while BatchNorm's moving statistics settle: never stop in the first third.
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True,
                                                 start_from_epoch=config.epochs // 3))
    cbs += [
        keras.callbacks.TensorBoard(str(logs or run_dir / "logs"), write_graph=False),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),  # a resumed run appends
        NaNGuard(),
    ]
    if time_limit:
        cbs.append(TimeLimit(time_limit))
    if config.schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.3, patience=2))
    return cbs


def train(data_dir, run_dir, settings=None, hparams=None, tta=False, verbose=None, fresh=False, ids="stem",
          predict=True, time_limit=0) -> dict:
    """Scan, audit, split, fit (each network for at most `time_limit` seconds, 0: no limit),
    report, predict (unless `predict` is False). Returns the validation report; with generator
    sub-folders and --validation auto, under "held_out" the estimate on a generator that
    training never saw (held_out_estimate)."""
    asked = resolve_config(dict(settings or {}), hparams)
    check_strategy(asked.strategy)  # before the run directory is written
    run_dir, worker_dir = Path(run_dir), None
    across = asked.strategy == "multi-worker"
    if across and not multi_worker.is_chief():
        # Every worker trains (the strategy keeps their weights equal); only the chief writes the
        # run, and reports and predicts. The others keep their checkpoints in a scratch directory.
        worker_dir = run_dir = multi_worker.scratch_dir(run_dir)
    folder = files.scan(data_dir)
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
    if "cut" not in (settings or {}):
        del asking["cut"]  # a run keeps the cut it was made with unless one is given (an old run: validation's)
    config, continuing = open_run(run_dir, HuntConfig, asking, kind="hunt-tf", identity=identity,
                                  fresh=fresh, may_change=("cache", "strategy", "cut"))  # how it ran and decides is not the run
    # an unknown cut or average, or a negative member count, is an error now, not after decoding
    adapts(config.cut), averages(config.average), ensemble.check(config.members)
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
    if finished:
        again = "reporting and predicting again" if predict else "reporting again"
        print(f"{run_dir} already holds this trained run: {again} (--fresh retrains)")
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
        del train
    if worker_dir is not None:
        shutil.rmtree(worker_dir, ignore_errors=True)
        return multi_worker.worker_report()
    if across and not finished:
        # The others have finished: predict in this process alone, with the model outside the strategy.
        model = keras.saving.load_model(run_dir / "model.keras")

    report = {}
    if len(val_idx):
        val_names = [Path(folder.train[i].path).name for i in val_idx]
        val_probs = predict_pixels(model, val_pixels)
        fixed_cut = 0.5 if held_out_source and len(folder.class_names) == 2 else None
        report = write_report(run_dir / "report", val_labels, val_probs, folder.class_names,
                              images=val_pixels, names=val_names, threshold=fixed_cut, validation=how,
                              members=len(ensemble.members_of(model)))
        explain_images(model, val_pixels, val_probs, folder.class_names, run_dir / "report" / "explain.png",
                       val_labels, val_names)
    # What prediction needs besides the model: the cut on P(class 1), the answer for undecodable
    # files, and how the validation's real images scored (where an adaptive cut may move to).
    decision = {"threshold": report.get("threshold"), "fallback_class": folder.majority_class}
    real = extra_fakes.real_class(folder.class_names)
    if len(val_idx) and real is not None and np.any(val_labels == real):
        decision["real_scores"] = real_scores_of(val_probs[val_labels == real], real)
        if tta:  # mirror averaging lowers confident scores: compare like with like
            reals = subset(val_pixels, np.flatnonzero(val_labels == real))
            decision["real_scores_tta"] = real_scores_of(predict_pixels(model, reals, tta=True), real)
    write_json(run_dir / "decision.json", decision)
    if folder.test and predict:
        predicted = predict_records(model, folder.test, folder.class_names, config.decode_size, config.resize_mode,
                                    decision["threshold"], decision["fallback_class"], tta=tta,
                                    real_scores=validation_reals(decision, tta) if adapts(config.cut) else None)
        adapted = predicted.adapted
        if adapted:
            print(adapted.note)
        write_submission(run_dir / "submission.csv", test_ids, predicted.labels)
        submission = {"submission": str(run_dir / "submission.csv"), "n_test": len(test_ids),
                      "submission_threshold": adapted.threshold if adapted else predicted.threshold,
                      "submission_log_odds_cut": adapted.score if adapted else None,
                      "submission_cut": adapted.note if adapted else "validation's"}
        if len(val_idx):  # the report on disk says which cut the submission was decided at
            write_json(run_dir / "report" / "report.json", {**report, **submission})
        report.update(submission)
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

    The submission's model is not this one: it trains on every source. On a Fashion-MNIST folder
    with two generators, that caught four unseen families at 0.818 against 0.656 for the model
    trained without one (3 seeds each, BENCHMARKS.md, sessions 19 and 18); the gain came through
    the adaptive cut, which moved in every run trained on all sources and in none trained
    without one.

    The estimate costs a second decode of Train and one more network's training, stopped at the
    first epoch end past `time_limit` seconds: what the ensemble's budget (AUTO_BUDGET_S) left,
    at least ESTIMATE_MIN_S (a resumed estimate gets it afresh). On large folders one network
    takes most of that budget (1,000 images of 256-512 px: 20 epochs in about 285 s on a 2-core
    EPYC), and a second whole one would leave `make train-cnn` little headroom under 10
    minutes (BENCHMARKS.md, session 19)."""
    where = Path(run_dir) / HELD_OUT
    print(f"held-out estimate: one network trained without one source (at most {time_limit:.0f} s) and "
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


def fit(config, runtime, run_dir, train, validation, num_classes, verbose=None, time_limit=0):
    """Train the config's members (hunt_tf.ensemble) on TrainingRows and validation (pixels,
    labels); the model, or the members combined into one, is saved as model.keras.

    One member (`--members 1`) trains in the run directory itself. Otherwise member k trains in
    members/<k>/ (its checkpoints and history; TensorBoard logs in logs/member<k>/) from seed + k,
    its training seconds go to members/seconds.json, and a resumed run reloads the members
    recorded there, resumes one that has a backup, and starts any other afresh."""
    if config.members == 1:
        return fit_member(config, runtime, run_dir, train, validation, num_classes, verbose, time_limit=time_limit)
    record = run_dir / "members" / "seconds.json"
    seconds = json.loads(record.read_text()) if record.exists() else []
    across = config.strategy == "multi-worker"
    models = []
    for k in itertools.count():
        member_dir = run_dir / "members" / str(k)
        reload = k < len(seconds)
        if across:  # every worker trains the same members: retrain where any of them lacks one
            reload = not multi_worker.anyone_says(runtime.strategy, not reload)
        if reload:
            models.append(keras.saving.load_model(member_dir / "model.keras"))
            continue
        del seconds[k:]
        another = ensemble.wants_another(config.members, seconds)
        if across:  # the chief's clock decides for everyone
            another = multi_worker.chief_says(runtime.strategy, another)
        if not another:
            break
        resume = (member_dir / "backup").exists()  # a member a crash interrupted continues its epochs
        if across:
            resume = not multi_worker.anyone_says(runtime.strategy, not resume)
        if not resume:  # no history or logs of an earlier attempt appended to
            shutil.rmtree(member_dir, ignore_errors=True)
            shutil.rmtree(run_dir / "logs" / f"member{k}", ignore_errors=True)
        print(f"member {k + 1} (seed {config.seed + k})" + (f" of {config.members}" if config.members else ""))
        member_dir.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(config.seed + k)  # initial weights too: a resumed member restarts alike
        start = time.perf_counter()
        models.append(fit_member(dataclasses.replace(config, seed=config.seed + k), runtime, member_dir, train,
                                 validation, num_classes, verbose, logs=run_dir / "logs" / f"member{k}",
                                 time_limit=time_limit))
        seconds.append(round(time.perf_counter() - start, 1))
        write_json(record, seconds)
    if len(models) > 1:
        print(f"{len(models)} networks averaged (trained in {sum(seconds):.0f} s)")
    model = ensemble.combine(models)
    save_model(model, run_dir / "model.keras")
    return model


def fit_member(config, runtime, run_dir, train, validation, num_classes, verbose=None, logs=None, time_limit=0):
    """model.fit of one network on TrainingRows and validation (pixels, labels), with the run's
    callbacks (TensorBoard into `logs`, default run_dir/logs), for at most `time_limit` seconds
    (0: no limit); the network is saved as run_dir/model.keras."""
    if config.epochs < 1 or config.patience < 1:  # 0 means "from the data": train() resolves it first
        raise ValueError(f"unresolved epochs {config.epochs} or patience {config.patience}")
    val_pixels, val_labels = validation
    train_ds = train.dataset(config.batch_size, config.augment, config.aug_strength, config.seed, config.image_size)
    # Validation during fit sees the centre crop (cheap, for early stopping); the report, every crop.
    val_ds = validation_dataset(val_pixels, val_labels, config.batch_size, config.image_size) if len(val_pixels) else None
    train_labels = train.labels
    steps = math.ceil(len(train_labels) / config.batch_size)
    with runtime.strategy.scope():
        model = build_model(config, config.image_size, num_classes, runtime.jit_compile, steps)
    cbs = callbacks(run_dir, config, "val_loss" if val_ds is not None else "loss", train_ds, logs, time_limit)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    weights = class_weights(train_labels, num_classes) if config.class_weights else None
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, class_weight=weights, callbacks=cbs,
              verbose=verbose, shuffle=False)  # the pipeline shuffles
    if next(c for c in cbs if isinstance(c, NaNGuard)).tripped:
        raise RunError(f"training diverged (NaN loss); try a lower --learning-rate, or --fresh in {run_dir}")
    stopped = next((c.stopped_at for c in cbs if isinstance(c, TimeLimit)), None)
    if stopped:
        print(f"time limit: stopped after epoch {stopped} of {config.epochs} ({time_limit:.0f} s)")
    save_model(model, run_dir / "model.keras")
    shutil.rmtree(run_dir / "backup", ignore_errors=True)  # kept by averaging until now
    return model
