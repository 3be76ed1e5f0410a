"""TimeLimit: stop `fit` at the end of the first epoch past a number of seconds.

The GAN stops its default run within 10 minutes by it (gan_tf.train), and the hunt's held-out
estimate keeps a second network from doubling a large folder's training time (hunt_tf.train).
"""

from __future__ import annotations

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stop at the end of the first epoch that ends `seconds` after this call to `fit` began (the
    GAN's quality measurements included; its callbacks placed after this one checkpoint and
    measure that epoch first). Per call, so a stopped run that is resumed trains on for another
    `seconds`.

    Across workers, `agree(past)` returns the chief's answer on every worker (an all-reduce each
    epoch): each worker's own clock would stop it at an epoch of its own, and the others would
    then wait forever for its next step."""

    def __init__(self, seconds, clock=time.monotonic, agree=None):
        super().__init__()
        self.seconds, self.clock, self.agree = seconds, clock, agree
        self.stopped_at = None

    def on_train_begin(self, logs=None):
        self.start = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        if not self.seconds:
            return
        past = self.clock() - self.start >= self.seconds
        if self.agree is not None:
            past = self.agree(past)
        if past:
            self.stopped_at = epoch + 1
            self.model.stop_training = True
