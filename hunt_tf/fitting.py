"""Fit the hunt classifier: one network (fit_member), or the auto ensemble's members (fit).

    model = fit(config, runtime, run_dir, TrainingRows, (val_pixels, val_labels), num_classes)

Each network trains with the run's callbacks: resume after a crash (backup/), the best epoch by
validation loss (best.keras, early stopping) or the mean of the tail (--average swa), TensorBoard,
history.csv, a NaN guard and, when asked, a time limit. hunt_tf.train decides what to fit.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
import time
from pathlib import Path

import keras

from gradient_hunt import multi_worker
from gradient_hunt.atomic import save_model, write_json
from gradient_hunt.console import fit_verbosity
from gradient_hunt.nan_guard import NaNGuard
from gradient_hunt.time_limit import TimeLimit
from hunt_tf import ensemble
from hunt_tf.averaging import WeightAverage, averages, first_averaged_epoch
from hunt_tf.config import HuntConfig
from hunt_tf.errors import RunError
from hunt_tf.model import build_model
from hunt_tf.rows import validation_dataset
from hunt_tf.splits import class_weights


def callbacks(run_dir: Path, config: HuntConfig, monitor: str, train_ds=None, logs=None, time_limit=0, agree=None):
    """The run's callbacks; `train_ds` (the training batches) refreshes BatchNorm after weight averaging;
    TensorBoard writes to `logs` (default run_dir/logs); `time_limit` seconds end fit (0: none; across
    workers `agree` makes the chief's clock decide: TimeLimit)."""
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
        cbs.append(TimeLimit(time_limit, agree=agree))
    if config.schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.3, patience=2))
    return cbs


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
    across = config.strategy == "multi-worker"
    agree = (lambda past: multi_worker.chief_says(runtime.strategy, past)) if across else None
    cbs = callbacks(run_dir, config, "val_loss" if val_ds is not None else "loss", train_ds, logs, time_limit, agree)
    verbose = fit_verbosity(verbose)
    weights = class_weights(train_labels, num_classes) if config.class_weights else None
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, class_weight=weights, callbacks=cbs,
              verbose=verbose, shuffle=False)  # the pipeline shuffles
    if next(c for c in cbs if isinstance(c, NaNGuard)).tripped:
        raise RunError(f"training diverged (NaN loss); try a lower --learning-rate, or --fresh in {run_dir}")
    stopped = next((c.stopped_at for c in cbs if isinstance(c, TimeLimit)), None)
    if stopped and stopped < config.epochs:  # the limit, not the last epoch, ended it
        print(f"time limit: stopped after epoch {stopped} of {config.epochs} ({time_limit:.0f} s)")
    save_model(model, run_dir / "model.keras")
    shutil.rmtree(run_dir / "backup", ignore_errors=True)  # kept by averaging until now
    return model
