"""Callbacks for GAN training: sample grids, quality metrics, checkpoints (and the core's NaN guard and time limit).

All of them write into the run directory (PNG, CSV, TensorBoard event files) so a run
can be watched live with `make tensorboard` and picked up again after a crash.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from gan_tf.gan import generate_images
from gradient_hunt.atomic import atomic_write, save_model
from gradient_hunt.nan_guard import NaNGuard
from gradient_hunt.runtime import import_tensorflow
from gradient_hunt.time_limit import TimeLimit

__all__ = ["NaNGuard", "SampleGrid", "QualityMetrics", "Checkpoint", "TimeLimit", "image_grid", "save_png"]

tf = import_tensorflow()


def image_grid(images, columns=10, scale=2):
    """uint8 (N, H, W, C) -> one uint8 picture, (rows, cols) for C=1 or (rows, cols, 3), 1-pixel gaps, upscaled."""
    n, h, w, channels = images.shape
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, channels), 64, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = img
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid[..., 0] if channels == 1 else grid


def save_png(array, path):
    """uint8 (H, W), (H, W, 1) or (H, W, 3) -> a PNG file, written atomically."""
    array = np.asarray(array)
    with atomic_write(path) as tmp:
        Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array).save(tmp, format="PNG")


class SampleGrid(keras.callbacks.Callback):
    """Each epoch: the same 100 latent vectors drawn as a 10x10 grid (PNG + TensorBoard).

    For a conditional GAN, column j asks for digit j.
    """

    def __init__(self, run_dir, log_dir, seed=1234, n=100):
        super().__init__()
        self.out_dir = Path(run_dir) / "samples"
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "samples"))
        self.seed, self.n = seed, n

    def on_epoch_end(self, epoch, logs=None):
        gan = self.model
        images = generate_images(gan.sampler, gan.latent_dim, gan.num_classes, self.n, seed=self.seed)
        grid = image_grid(images)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        save_png(grid, self.out_dir / f"epoch_{epoch + 1:03d}.png")
        with self.writer.as_default():
            tf.summary.image("samples", grid.reshape(1, *grid.shape[:2], -1), step=epoch + 1)
        self.writer.flush()


class QualityMetrics(keras.callbacks.Callback):
    """Every `every` epochs (and the first and last): classifier distance, score, modes.

    Adds them to `logs` (so TensorBoard and the CSV history show them) and appends a row
    to `quality.csv` with the wall seconds since training started, for time-to-quality.
    """

    FIELDS = ("epoch", "seconds", "fcd", "fcd_real_floor", "kid", "kid_real_floor", "fcd2", "fcd2_real_floor",
              "kid2", "kid2_real_floor", "classifier_score", "modes_covered")
    LOGGED = ("fcd", "kid", "fcd2", "kid2", "classifier_score", "modes_covered", "conditional_accuracy")

    def __init__(self, judge, run_dir, clock, every=5, total_epochs=None, seed=4321):
        super().__init__()
        self.judge, self.every, self.total_epochs, self.seed = judge, every, total_epochs, seed
        self.path = Path(run_dir) / "quality.csv"
        self.clock = clock  # seconds trained so far, across resumes: Checkpoint.elapsed
        self.last = None

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if any(k.endswith("loss") and not math.isfinite(float(v)) for k, v in (logs or {}).items()):
            return  # diverged: NaNGuard stops the run, and a NaN generator has nothing to measure
        # Also when training stops early (time limit): the last epoch is always measured.
        if not (done == 1 or done % self.every == 0 or done == self.total_epochs or self.model.stop_training):
            return
        gan = self.model
        n = self.judge.n
        requested = np.arange(n) % gan.num_classes if gan.num_classes else None
        images = generate_images(gan.sampler, gan.latent_dim, gan.num_classes, n, digits=requested, seed=self.seed)
        report = self.judge.score(images, requested=requested)
        self.last = dict(report, epoch=done)
        for key in self.LOGGED:
            if key in report and logs is not None:
                logs[key] = report[key]
        seconds = self.clock()
        self._set_aside_other_columns()
        new_file = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(self.FIELDS)
            writer.writerow([done, round(seconds, 1)] + [f"{float(report[k]):.5g}" for k in self.FIELDS[2:]])


    def _set_aside_other_columns(self):
        # A run resumed from an older version has a quality.csv with other columns: keep it
        # beside, rather than append rows that do not match its header.
        if self.path.exists():
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            if header != list(self.FIELDS):
                self.path.replace(self.path.with_name("quality-old-columns.csv"))


class Checkpoint(keras.callbacks.Callback):
    """After every finite epoch: a tf.train checkpoint (networks, optimizers, noise and
    augmentation state, epoch) for `--resume`, and `generator.keras` for sampling; kill -9
    loses at most an epoch."""

    def __init__(self, run_dir, max_to_keep=2):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.max_to_keep = max_to_keep
        self.manager = None

    def attach(self, gan):
        """Build the checkpoint for `gan`; restores the latest one and returns its epoch (0 if none)."""
        for opt, net in ((gan.d_optimizer, gan.discriminator), (gan.g_optimizer, gan.generator)):
            opt.build(net.trainable_variables)  # restoring needs the slots to exist
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        ckpt = tf.train.Checkpoint(
            generator=gan.generator,
            **({"ema_generator": gan.ema_generator} if gan.ema_generator is not None else {}),
            discriminator=gan.discriminator,
            d_optimizer=gan.d_optimizer,
            g_optimizer=gan.g_optimizer,
            noise_state=gan.seed_generator.state,
            augment_state=gan.augment.seed_generator.state,
            augment_probability=gan.augment_probability,
            epoch=self.epoch,
            seconds=self.seconds,
        )
        # Made now on every worker, not by the first restore: under a multi-worker strategy making a
        # variable is a collective step, and a worker without a checkpoint would never join it.
        ckpt.save_counter  # noqa: B018
        self.manager = tf.train.CheckpointManager(ckpt, str(self.run_dir / "checkpoints"), max_to_keep=self.max_to_keep)
        if self.manager.latest_checkpoint:
            ckpt.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def on_train_begin(self, logs=None):
        self.start = time.time() - float(self.seconds.numpy())

    def elapsed(self):
        """The run's one training clock: wall seconds since the first epoch, resumes included."""
        return time.time() - self.start

    def on_epoch_end(self, epoch, logs=None):
        if any(k.endswith("loss") and not math.isfinite(float(v)) for k, v in (logs or {}).items()):
            return
        self.epoch.assign(epoch + 1)
        self.seconds.assign(self.elapsed())
        self.manager.save(checkpoint_number=epoch + 1)
        save_model(self.model.sampler, self.run_dir / "generator.keras")
