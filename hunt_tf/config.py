"""HuntConfig: every setting of a hunt training run, saved as `config.json` in the run.

A tuned `best_hparams.json` (from `make tune`) holds a subset of these names; values
given on the command line win over it, and it wins over these defaults.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

from gradient_hunt.runtime import JIT_CHOICES, PRECISIONS, STRATEGIES
from gradient_hunt.settings import Settings, SettingsError
from hunt_tf import choices


@dataclasses.dataclass
class HuntConfig(Settings):
    # Runs saved before these settings existed were made with a random split, RGB input, no extra
    # fakes, one conv layer per block, global average pooling, kept the best epoch, predicted at the
    # validation cut, trained one network, and did not self-train on Test.
    ABSENT_MEANS: typing.ClassVar[dict] = {"validation": "random", "input": "rgb", "extra_fakes": "none", "convs": 1,
                                           "cut": "validation", "average": "none", "members": 1, "head": "gap",
                                           "self_train": 0, "unlike_reals": "off"}
    CHOICES: typing.ClassVar[dict] = {
        "resize_mode": choices.RESIZE_MODES, "input": choices.INPUTS, "augment": tuple(choices.PRESETS),
        "extra_fakes": choices.EXTRA_FAKES, "validation": choices.VALIDATIONS, "unlike_reals": choices.UNLIKE_REALS,
        "cut": choices.CUTS, "backbone": choices.ARCHITECTURES, "head": choices.HEADS, "optimizer": choices.OPTIMIZERS,
        "schedule": choices.SCHEDULES, "average": choices.AVERAGES, "cache": choices.CACHES, "precision": PRECISIONS,
        "jit": JIT_CHOICES, "strategy": STRATEGIES}

    # data
    image_size: int = 0  # the network's input; 0 = from the data (resize: median shorter side, 16..128; crop: 128)
    resize_mode: str = "auto"  # auto (crop for images of 128 px and more, else resize) | resize | crop (random native crops of the central square; prediction combines a grid of them) | pad
    source_size: int = 0  # crop mode: the central native-resolution square decoded per image (0 = from the data, at most 256)
    input: str = "auto"  # auto (residual for the cnn on images decoded at 64 px or more, else rgb) | rgb | residual (NPR: pixel minus its 2x2 cell's anchor; generator traces) | both; residual and both: cnn backbone only
    augment: str = "light"  # none | light (flip) | shift (flip, whole-pixel shifts) | standard (+ geometry, contrast) | robust (flip, blur, JPEG) | strong
    aug_strength: float = 1.0  # scales every augmentation range / probability
    extra_fakes: str = "auto"  # auto (resample for images decoded under 64 px with a Real class, else none) | none | resample: each Real training image 2-4x down- and up-sampled, added as AI | noise: with pixel-independent speckle | resample+noise: one of each (two classes, one named Real)
    val_split: float = 0.2  # stratified, seeded
    validation: str = "auto"  # random: a share of each class | source: hold out a whole Train/<class>/<source>/ (leave-one-generator-out) | auto: with such sub-folders both, the submission's model from a random split, the estimate from a network trained in RUN/held-out without one source (across workers: source); else random
    self_train: int = 3  # rounds of self-training on Test/, only where the adaptive cut's test finds fakes unlike validation's (no label used): the surest half of the test images called AI join training as AI, 4 more epochs at a tenth of the learning rate, predict again; against 2 rounds, +0.014 on the Fashion-MNIST folder that chose 3 and -0.004 to +0.008 on four others; where Test's real images come from another camera or pipeline than Train's it can teach them as AI: use 0 there (BENCHMARKS.md, sessions 21-22); needs two classes, one named Real, and --strategy default; 0 = off
    unlike_reals: str = "off"  # on: after prediction, a second network learns Train's Real images against the Test images (cross-fitted, no test label); of the test images called Real, those unlike Train's reals, significantly more than real images would be, are called AI: fakes of a generator the detector never learnt; where Test's real images come from another camera or pipeline than Train's it calls them AI too (JPEG q75: two thirds; BENCHMARKS.md, session 23); images decoded under 64 px, two classes, one named Real
    cut: str = "adaptive"  # adaptive: the validation cut, moved toward Real when the Test images hold many more between the validation's fakes and reals than real images explain (unseen generators; no test label used) | validation: the validation cut
    # model
    backbone: str = "cnn"  # cnn | efficientnetb0 | resnet50v2 | mobilenetv2 | convnexttiny
    weights: str = "none"  # backbones only: none | imagenet | PATH
    filters: int = 32  # first block; doubles every block
    depth: int = 3  # conv blocks
    head: str = "auto"  # after the conv blocks: auto (flatten in resize or pad mode at 64 px or more, else gap) | gap (global average pooling: where a trace is does not matter) | flatten (every position of the last map, then 128 units: the layout of a whole image; cnn backbone only)
    convs: int = 0  # conv layers per block; 0 = from the data (the files' colour modes): 2 for colour images (measured better on real photographs and CIFAKE), 1 for greyscale ones (better on unseen generators of Fashion-MNIST)
    kernel_size: int = 3  # side of every conv kernel
    pool_size: int = 2  # max pooling after each block (2 halves the map)
    batchnorm: bool = True  # BatchNorm after every conv (moving statistics at momentum 0.9: small folders settle fast)
    l2: float = 1e-4  # L2 weight penalty on the convs and the flatten head's hidden layer; 0 = off
    dropout: float = 0.3  # dropped share of the last features, before the class layer
    # training
    batch_size: int = 32  # images per step
    epochs: int = 0  # 0 = from the data: enough for 500 steps over the training rows (extra fakes counted), 15..40 (more passes over a small folder: measured better on r1)
    optimizer: str = "adam"  # adam | adamw | sgd (momentum 0.9) | rmsprop
    learning_rate: float = 3e-3  # measured: 1e-3 left the CNN under-trained in 15 epochs (BENCHMARKS.md)
    schedule: str = "cosine"  # constant | cosine (with warm-up) | step | plateau
    warmup_epochs: int = 1  # cosine only: the rate rises from 0 over these epochs (at most half the steps)
    weight_decay: float = 1e-4  # adamw only
    patience: int = 0  # early stopping on validation loss (average none), the best epoch kept; 0 = a third of the epochs, at least 5
    average: str = "none"  # none: the epoch of lowest validation loss (early stopping) | swa: the mean of the weights after each epoch of the last third, BatchNorm recomputed for it (no early stopping; measured a tie)
    members: int = 0  # networks averaged (a deep ensemble: member k from seed + k, same split); 0 = auto: the first, then more (up to 3) while their training stays within 5 minutes, measured as they train (measured better on r1 and CIFAKE); 1 = one network
    class_weights: bool = True  # weight classes by inverse frequency
    seed: int = 0  # weights, split, augmentation and extra fakes; member k of an ensemble uses seed + k
    # runtime
    precision: str = "auto"  # auto (measured on this machine), float32, mixed_bfloat16, mixed_float16
    jit: str = "auto"  # XLA: auto = on for GPUs, off on CPU (measured slower there)
    strategy: str = "default"  # default, mirrored (local GPUs), multi-worker (TF_CONFIG: the same command on every worker; the chief writes the run)
    cache: str = "auto"  # decoded training pixels: memory | disk (streamed from ~/.cache/gradient-hunt/pixels, reused while files and sizes are unchanged) | auto (memory while they take under a tenth of the memory available: a run peaks at ~4x)


    @property
    def decode_size(self) -> int:
        """The square each image is decoded to: the crop source in crop mode, else the network's input."""
        return (self.source_size or self.image_size) if self.resize_mode == "crop" else self.image_size


def resolve_config(settings: dict, hparams_path=None) -> HuntConfig:
    """Defaults <- best_hparams.json (when given) <- settings from the command line."""
    config = HuntConfig()
    if hparams_path:
        path = Path(hparams_path)
        if not path.exists():
            raise SettingsError(f"hyperparameter file not found: {path}")
        try:
            tuned = json.loads(path.read_text())
        except ValueError as err:
            raise SettingsError(f"{path} is not JSON: {err}") from None
        tuned = tuned.get("hparams", tuned)
        known = {k: v for k, v in tuned.items() if hasattr(config, k)}
        if "depth" in known:  # an architecture tuned before `convs` and `head` existed: one conv, pooled
            known.setdefault("convs", 1)
            known.setdefault("head", "gap")
        config = HuntConfig.from_dict(known)
        print(f"using tuned hyperparameters from {path}: " + ", ".join(f"{k}={v}" for k, v in known.items()))
    return HuntConfig.from_dict(settings, base=config)
