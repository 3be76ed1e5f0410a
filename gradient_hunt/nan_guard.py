"""NaNGuard: stop `fit` at the first non-finite loss, and remember that it did.

keras.callbacks.TerminateOnNaN watches only `logs["loss"]` (a GAN has `d_loss` and
`g_loss`) and leaves no trace the caller can test; this one checks every `*loss` after
every batch, says so once, and sets `tripped` so the command can exit with an error.
"""

from __future__ import annotations

import math

import keras


class NaNGuard(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.tripped = False

    def on_train_batch_end(self, batch, logs=None):
        bad = [k for k, v in (logs or {}).items() if k.endswith("loss") and not math.isfinite(float(v))]
        if bad and not self.tripped:
            self.tripped = True
            self.model.stop_training = True
            print(f"\nstopping: {', '.join(bad)} became NaN/inf at batch {batch}")
