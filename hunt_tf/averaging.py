"""Weight averaging in the manner of SWA (Izmailov et al. 2018, "Averaging Weights Leads to Wider
Optima and Better Generalization"): the detector ends with the mean of its weights over the last
epochs instead of the one epoch that validation liked best.

    cbs.append(WeightAverage(first_epoch=10, batches=train_ds, state=run_dir / "backup" / "average.npz"))

Why: on small folders validation accuracy jumps by 0.05-0.3 from one epoch to the next (BatchNorm
at a high learning rate), so picking the best epoch by validation loss picks noise, and the
same validation then fits the threshold. The paper averages at a constant or cyclic rate; here
the points are the run's own schedule's tail (with cosine, 0.25 down to 0.01 of the peak rate),
so it is closer to tail averaging, and costs no change to the schedule. BatchNorm's moving
statistics belong to the weights they were gathered with, so they are computed again for the
mean, over one pass of the training batches, as a plain average (as PyTorch's
`swa_utils.update_bn` does), not an EMA.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from gradient_hunt.atomic import atomic_write
from gradient_hunt.settings import SettingsError
from hunt_tf.choices import AVERAGES

# The averaged tail: the last third of the epochs (at least one), where cosine decay has
# brought the learning rate to a quarter of its peak or below.
TAIL = 1 / 3


def averages(kind: str) -> bool:
    """Whether an `--average` setting asks for weight averaging; anything unknown is an error, not "none"."""
    if kind not in AVERAGES:
        raise SettingsError(f"unknown average {kind!r}; choose from {', '.join(AVERAGES)}")
    return kind == "swa"


def first_averaged_epoch(epochs: int) -> int:
    """The 0-based epoch whose end the average starts at."""
    return max(0, epochs - max(1, round(epochs * TAIL)))


class WeightAverage(keras.callbacks.Callback):
    """Averages the trainable weights at the end of every epoch from `first_epoch` on; at the
    end of training the model takes the mean, and its BatchNorm statistics are refreshed over
    `batches` (a dataset of (images, labels), seen once). An epoch that ends with weights that
    are not finite (after a NaN loss; NaNGuard stops the run) is left out.

    `state` (a .npz path beside BackupAndRestore's backup) keeps the running sum and the last
    epoch in it, so a run that crashed in the tail and resumes averages the same epochs as one
    that never stopped. Put this callback right after BackupAndRestore."""

    def __init__(self, first_epoch: int, batches, state: Path | None = None):
        super().__init__()
        if batches is None:
            raise ValueError("WeightAverage needs the training batches to recompute BatchNorm")
        self.first_epoch, self.batches, self.state = first_epoch, batches, state
        self.total, self.count, self.last_epoch = None, 0, -1

    def on_train_begin(self, logs=None):
        if self.state is not None and self.state.exists():
            with np.load(self.state) as saved:
                self.count, self.last_epoch = int(saved["count"]), int(saved["last_epoch"])
                self.total = [saved[f"w{i}"] for i in range(len(saved.files) - 2)]
        # BackupAndRestore (earlier in the list) has restored the weights at the end of epoch
        # `done - 1`. A crash after its save and before ours left that epoch out of the sum.
        done = getattr(self.model, "_initial_epoch", None) or 0  # set by BackupAndRestore (Keras 3)
        if done - 1 > self.last_epoch:
            self.add(done - 1)

    def on_epoch_end(self, epoch, logs=None):
        self.add(epoch)

    def add(self, epoch):
        if epoch < self.first_epoch or epoch <= self.last_epoch:
            return
        weights = [np.asarray(v.numpy(), np.float64) for v in self.model.trainable_variables]
        if not all(np.isfinite(w).all() for w in weights):
            return
        self.total = weights if self.total is None else [t + w for t, w in zip(self.total, weights)]
        self.count, self.last_epoch = self.count + 1, epoch
        if self.state is not None:
            with atomic_write(self.state) as tmp:
                np.savez(tmp, count=self.count, last_epoch=epoch, **{f"w{i}": t for i, t in enumerate(self.total)})

    def on_train_end(self, logs=None):
        if not self.count:  # stopped before the tail (a NaN): keep what there is
            return
        for variable, total in zip(self.model.trainable_variables, self.total):
            variable.assign((total / self.count).astype(variable.dtype))
        refresh_batchnorm(self.model, self.batches)
        print(f"weights averaged over the last {self.count} epoch{'s' if self.count > 1 else ''}")


def batchnorm_layers(model):
    # _flatten_layers reaches into nested models (keras.applications backbones) too.
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def refresh_batchnorm(model, batches):
    """BatchNorm's moving mean and variance recomputed as the plain average over `batches` of each
    batch's statistics (each batch counts once, as in PyTorch's `update_bn`), under the model's
    current weights; nothing else changes (Dropout runs in training mode, as it did in fit)."""
    layers = batchnorm_layers(model)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        for k, (images, _) in enumerate(batches):
            for layer in layers:  # moving = moving * k/(k+1) + batch/(k+1): the running mean
                layer.momentum = k / (k + 1)
            model(images, training=True)  # eager: each call reads the momentum just set
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
