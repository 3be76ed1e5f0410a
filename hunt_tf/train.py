"""Train the hunt classifier into a run directory (what `hunt-tf train` does).

    hunt-tf train DATA --run runs/hunt [--hparams runs/tune/best_hparams.json]

Run directory: config.json, model.keras, best.keras, history.csv, logs/ (TensorBoard),
backup/ (resume after a crash), report/ (report.json + PNGs), submission.csv.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from gan_tf.atomic import save_model, write_json
from gan_tf.runtime import configure
from hunt_tf import audit, files
from hunt_tf.config import OPTIMIZERS, SCHEDULES, HuntConfig
from hunt_tf.data import from_pixels
from hunt_tf.model import build_classifier
from hunt_tf.predict import predict_pixels, predict_records, write_submission
from hunt_tf.report import write_report


def split(labels, val_split, seed):
    """Stratified, seeded train/validation indices."""
    labels = np.asarray(labels)
    if val_split <= 0:
        return np.arange(len(labels)), np.array([], dtype=int)
    if np.bincount(labels).min() < 2:
        raise files.DataError("every class needs at least 2 readable images for a validation split")
    return train_test_split(np.arange(len(labels)), test_size=val_split, stratify=labels, random_state=seed)


def decode_training_images(folder, image_size, resize_mode):
    """Decode Train/ once; files that fail here (truncated after the header) leave training."""
    pixels, ok = files.decode_all(folder.train, image_size, resize_mode)
    if not ok.all():
        folder.skipped += [r for r, good in zip(folder.train, ok) if not good]
        folder.train = [r for r, good in zip(folder.train, ok) if good]
        pixels = pixels[ok]
    if len(set(folder.labels.tolist())) < 2:
        raise files.DataError("fewer than two classes have readable images")
    return pixels, folder.labels


def make_optimizer(config: HuntConfig, steps_per_epoch: int):
    lr = config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "cosine":
        warmup = min(total // 2, config.warmup_epochs * steps_per_epoch)
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.learning_rate, total - warmup, alpha=0.01,
            warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)
    elif config.schedule == "step":
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)], [config.learning_rate, config.learning_rate * 0.1,
                                                    config.learning_rate * 0.01])
    elif config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {config.schedule!r}; choose from {', '.join(SCHEDULES)}")
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")


def class_weights(labels, num_classes):
    counts = np.bincount(labels, minlength=num_classes)
    return {i: float(len(labels) / (num_classes * c)) for i, c in enumerate(counts) if c}


def build_model(config: HuntConfig, image_size: int, num_classes: int, jit_compile=False, steps_per_epoch=1):
    model = build_classifier(image_size, num_classes, config.backbone, config.filters, config.depth,
                             config.kernel_size, config.pool_size, config.batchnorm, config.l2, config.dropout,
                             config.weights)
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def resolve_config(settings: dict, hparams_path=None) -> HuntConfig:
    """Defaults <- best_hparams.json (when given) <- settings from the command line."""
    config = HuntConfig()
    if hparams_path:
        path = Path(hparams_path)
        if not path.exists():
            raise FileNotFoundError(f"hyperparameter file not found: {path}")
        tuned = json.loads(path.read_text())
        tuned = tuned.get("hparams", tuned)
        known = {k: v for k, v in tuned.items() if hasattr(config, k)}
        config = HuntConfig.from_dict(known)
        print(f"using tuned hyperparameters from {path}: " + ", ".join(f"{k}={v}" for k, v in known.items()))
    return HuntConfig.from_dict(settings, base=config)


def train(data_dir, run_dir, settings=None, hparams=None, tta=False, verbose=None) -> dict:
    """Scan, audit, split, fit, report, predict. Returns the validation report."""
    run_dir = Path(run_dir)
    config = resolve_config(dict(settings or {}), hparams)
    folder = files.scan(data_dir)
    audit.warn_if_shortcut(folder)
    image_size = config.image_size or files.default_image_size(folder.train)
    config.image_size = image_size
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    write_json(run_dir / "classes.json", folder.class_names)

    runtime = configure(config.precision, config.jit, config.strategy)
    keras.utils.set_random_seed(config.seed)
    pixels, labels = decode_training_images(folder, image_size, config.resize_mode)
    train_idx, val_idx = split(labels, config.val_split, config.seed)
    print(f"data: {len(train_idx)} train / {len(val_idx)} validation / {len(folder.test)} test images, "
          f"classes {folder.class_names}, {image_size}px ({config.resize_mode}) | runtime: {runtime.describe()}")
    train_labels = labels[train_idx]
    train_ds = from_pixels(pixels[train_idx], train_labels, config.batch_size, training=True,
                           augment=config.augment, strength=config.aug_strength, seed=config.seed)
    val_ds = from_pixels(pixels[val_idx], labels[val_idx], config.batch_size) if len(val_idx) else None
    steps = math.ceil(len(train_idx) / config.batch_size)
    with runtime.strategy.scope():
        model = build_model(config, image_size, len(folder.class_names), runtime.jit_compile, steps)

    monitor = "val_loss" if val_ds is not None else "loss"
    cbs = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),  # an interrupted fit resumes here
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, save_best_only=True),
        # Validation is noisy while BatchNorm's moving statistics settle: never stop in the first third.
        keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True,
                                      start_from_epoch=config.epochs // 3),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TerminateOnNaN(),
    ]
    if config.schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.3, patience=2))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    weights = class_weights(train_labels, len(folder.class_names)) if config.class_weights else None
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, class_weight=weights, callbacks=cbs,
              verbose=verbose, shuffle=False)  # the pipeline shuffles
    save_model(model, run_dir / "model.keras")

    report = {}
    if len(val_idx):
        val_names = [Path(folder.train[i].path).name for i in val_idx]
        val_probs = predict_pixels(model, pixels[val_idx])
        report = write_report(run_dir / "report", labels[val_idx], val_probs, folder.class_names,
                              images=pixels[val_idx], names=val_names)
    threshold = report.get("threshold")
    write_json(run_dir / "threshold.json", {"threshold": threshold})
    if folder.test:
        majority = int(np.bincount(folder.labels).argmax())
        ids, labels, _ = predict_records(model, folder.test, folder.class_names, image_size, config.resize_mode,
                                         threshold, majority, tta=tta)
        write_submission(run_dir / "submission.csv", ids, labels)
        report["submission"] = str(run_dir / "submission.csv")
        report["n_test"] = len(ids)
    return report


def format_report(report: dict) -> str:
    if "accuracy" not in report:
        return "no validation split: no report"
    line = (f"validation: accuracy {report['accuracy']:.4f}  precision {report['precision']:.4f}  "
            f"recall {report['recall']:.4f}  F1 {report['f1']:.4f}")
    if report.get("roc_auc") is not None:
        line += f"  ROC AUC {report['roc_auc']:.4f}  threshold {report['threshold']:.3f}"
    return line
