"""How long a hunt network trains, and the optimizer and learning-rate schedule a HuntConfig names.

    config.epochs = auto_epochs(config.epochs, train_rows=395, batch_size=32)   # 0 -> 39 (13 steps an epoch)
    optimizer = make_optimizer(config, steps_per_epoch=13)   # cosine with warm-up by default
"""

from __future__ import annotations

import math

import keras

from gradient_hunt.settings import SettingsError
from hunt_tf.choices import OPTIMIZERS, SCHEDULES
from hunt_tf.config import HuntConfig

# A small folder needs more passes than a large one: 15 epochs of r1's 395 training images are
# 195 steps, and its networks were still improving when the cosine schedule ended (BENCHMARKS.md,
# session 15). "From the data" trains for at least MIN_STEPS steps, in MIN_EPOCHS..MAX_EPOCHS.
MIN_STEPS = 500
MIN_EPOCHS, MAX_EPOCHS = 15, 40
MIN_PATIENCE = 5


def auto_epochs(epochs: int, train_rows: int, batch_size: int) -> int:
    """`epochs`, or for 0 enough epochs for MIN_STEPS steps over `train_rows` (extra fakes
    included), clamped to MIN_EPOCHS..MAX_EPOCHS."""
    if epochs:
        return epochs
    steps = max(1, math.ceil(train_rows / batch_size))
    return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps)))


def auto_patience(patience: int, epochs: int) -> int:
    """`patience`, or for 0 a third of the epochs (at least MIN_PATIENCE): the validation split
    of a small folder is noisy, and a long schedule should not end on a few unlucky epochs."""
    return patience or max(MIN_PATIENCE, epochs // 3)


def learning_rate(config: HuntConfig, steps_per_epoch: int):
    """A float, or a schedule over `config.epochs` epochs ("plateau" is a callback: constant here)."""
    lr = config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "cosine":
        warmup = min(total // 2, config.warmup_epochs * steps_per_epoch)
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else lr, total - warmup, alpha=0.01,
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    if config.schedule == "step":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)], [lr, lr * 0.1, lr * 0.01])
    if config.schedule not in SCHEDULES:
        raise SettingsError(f"unknown schedule {config.schedule!r}; choose from {', '.join(SCHEDULES)}")
    return lr


def make_optimizer(config: HuntConfig, steps_per_epoch: int):
    lr = learning_rate(config, steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    raise SettingsError(f"unknown optimizer {config.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
