"""GANConfig: every setting of a GAN run, saved as `config.json` in the run directory so
that `--resume`, `gan-tf sample` and `gan-tf evaluate` rebuild exactly the same model."""

from __future__ import annotations

import dataclasses
import typing

from gradient_hunt.runtime import JIT_CHOICES, PRECISIONS, STRATEGIES
from gradient_hunt.settings import Settings

ARCHITECTURES = ("dcgan", "dense")
LOSSES = ("bce", "hinge")


@dataclasses.dataclass
class GANConfig(Settings):
    dataset: str = "mnist"  # mnist (offline: its 5k subset), mnist5k, fashion, idx:DIR, folder:DIR
    image_size: int = 0  # folder:DIR only: square side to resize to; 0 = the images' own size if they share one, else 32
    arch: str = "dcgan"  # dcgan (convolutional) or dense (the baseline)
    conditional: bool = True  # train on the labels when the data has them (FCD 5.5x vs 23x the floor); `sample --digit D`
    epochs: int = 80  # the 5k subset at ~6 s an epoch (2-core EPYC, BENCHMARKS.md); --time-limit ends slower machines sooner
    batch_size: int = 64  # small batches = more updates per second of CPU
    latent_dim: int = 64  # size of the noise vector
    width: int = 48  # generator: 2w -> w -> w/2 channels; discriminator: w -> 2w (48 vs 64: 28% faster, same FCD per epoch)
    channel_multiple: int = 16  # generator channels above it rounded up to a multiple: w48 -> 96, 48, 32 (bfloat16 is fast there); 1 = off
    kernel_size: int = 4  # divisible by the stride 2: no checkerboard artefacts
    d_learning_rate: float = 2e-4  # discriminator Adam learning rate (the DCGAN paper's)
    g_learning_rate: float = 2e-4  # generator Adam learning rate
    beta_1: float = 0.5  # Adam beta_1 for both networks (the DCGAN paper's)
    label_smoothing: float = 0.1  # one-sided: real targets are 0.9
    dropout: float = 0.3  # in the discriminator (rounded to a multiple of 1/256: one random byte per unit)
    loss: str = "bce"  # bce (non-saturating) or hinge
    spectral_norm: bool = False  # spectral normalisation of the discriminator's conv and dense layers
    minibatch_std: bool = True  # D sees the batch's spread (ProGAN), against one image per label
    r1_weight: float = 0.0  # gamma of the R1 penalty on real images' gradients; 0 = off
    augment: str = "none"  # DiffAugment policy for every image D sees: e.g. translation,cutout (also color); none = off
    ada_target: float = 0.0  # > 0: adapt the augmentation probability (ADA) so E[sign D(real)] stays near it; 0 = always
    ema_decay: float = 0.999  # samples come from an average of the generator's weights; 0 = off
    seed: int = 0  # weights, noise and data order
    eval_every: int = 5  # epochs between quality measurements
    eval_samples: int = 2500  # samples per quality measurement
    precision: str = "auto"  # auto (measured on this machine), float32, mixed_bfloat16, mixed_float16
    jit: str = "auto"  # XLA: auto = on for GPUs, off on CPU (measured slower there)
    strategy: str = "default"  # default, mirrored (local GPUs), multi-worker (TF_CONFIG; the chief's clock and run directory)
    time_limit: float = 510  # seconds of training per call: stop at the first epoch end past it (then measured); 0 = none

    # Runs saved before these settings existed trained without them.
    ABSENT_MEANS: typing.ClassVar[dict] = {"image_size": 28, "minibatch_std": False, "time_limit": 0, "channel_multiple": 1}
    CHOICES: typing.ClassVar[dict] = {"arch": ARCHITECTURES, "loss": LOSSES, "precision": PRECISIONS, "jit": JIT_CHOICES,
                                      "strategy": STRATEGIES}
