"""HuntConfig: every setting of a hunt training run, saved as `config.json` in the run.

A tuned `best_hparams.json` (from `make tune`) holds a subset of these names; values
given on the command line win over it, and it wins over these defaults.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gan_tf.atomic import write_json

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "step", "plateau")


@dataclasses.dataclass
class HuntConfig:
    # data
    image_size: int = 0  # 0 = chosen from the data (median shorter side, 16..128)
    resize_mode: str = "resize"  # resize | crop (native pixels, keeps artefacts) | pad
    augment: str = "light"  # none | light (flip) | standard (+ geometry, contrast) | robust (flip, blur, JPEG) | strong
    aug_strength: float = 1.0  # scales every augmentation range / probability
    val_split: float = 0.2  # stratified, seeded
    # model
    backbone: str = "cnn"  # cnn | efficientnetb0 | resnet50v2 | mobilenetv2 | convnexttiny
    weights: str = "none"  # backbones only: none | imagenet | PATH
    filters: int = 32  # first block; doubles every block
    depth: int = 3  # conv blocks
    kernel_size: int = 3
    pool_size: int = 2
    batchnorm: bool = True
    l2: float = 1e-4
    dropout: float = 0.3
    # training
    batch_size: int = 32
    epochs: int = 15
    optimizer: str = "adam"  # adam | adamw | sgd (momentum 0.9) | rmsprop
    learning_rate: float = 3e-3  # measured: 1e-3 left the CNN under-trained in 15 epochs (BENCHMARKS.md)
    schedule: str = "cosine"  # constant | cosine (with warm-up) | step | plateau
    warmup_epochs: int = 1
    weight_decay: float = 1e-4  # adamw only
    patience: int = 5  # early stopping on validation loss
    class_weights: bool = True  # weight classes by inverse frequency
    seed: int = 0
    # runtime
    precision: str = "auto"
    jit: str = "auto"
    strategy: str = "default"

    def save(self, path):
        write_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path):
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, data, base=None):
        """A config from `base` (or the defaults) with the known keys of `data` applied."""
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(base or cls(), **data)
