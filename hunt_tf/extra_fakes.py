"""Extra "AI" examples made from the user's own Real images, for a folder with one generator.

    extra = made(real_pixels, "resample", seed=0)   # each image down-sampled 2-4x, then up-sampled back
    extra = made(real_pixels, "noise", seed=0)      # each image with pixel-independent noise added
    x, y = add_extra_fakes("resample+noise", pixels, labels, ["AI", "Real"])   # one of each per Real image

A detector trained on one generator's fakes learns that generator. Every image generator
builds its output by upsampling (transposed convolutions, nearest or bilinear resizing);
a Real image pushed through the same operations carries those traces with the content
unchanged, so the only thing left to tell it from its original is the trace itself (the
idea of self-blended images, Shiohara & Yamasaki, CVPR 2022, applied to upsampling).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gradient_hunt.settings import SettingsError
from hunt_tf.choices import EXTRA_FAKES, RESIDUAL_MIN_SIDE

# Down-sampling keeps content; the up-sampling kernels are the traces generators leave.
UPSAMPLERS = (Image.NEAREST, Image.BILINEAR, Image.BICUBIC)
DOWNSAMPLERS = (Image.BOX, Image.BILINEAR, Image.NEAREST)


# Generators draw at a lower resolution and upsample, by 2x per layer, often two or three layers.
FACTORS = (2, 3, 4)


def resample(image: np.ndarray, rng) -> np.ndarray:
    """One uint8 (H, W, 3) image, 2-4x down and back up, with randomly drawn kernels and factor."""
    h, w = image.shape[:2]
    f = FACTORS[rng.integers(len(FACTORS))]
    small = Image.fromarray(image).resize((max(1, w // f), max(1, h // f)), DOWNSAMPLERS[rng.integers(3)])
    return np.asarray(small.resize((w, h), UPSAMPLERS[rng.integers(3)]))


# Noise strength in grey levels (of 255), drawn log-uniformly per image: from barely visible
# to the speckle of an MLP GAN (measured on Fashion-MNIST fakes of `gan-tf --arch dense`).
NOISE_SIGMA = (3.0, 24.0)


def noise(image: np.ndarray, rng) -> np.ndarray:
    """One uint8 (H, W, 3) image plus Gaussian noise, independent per pixel; grey stays grey
    (one noise plane for all channels), else the colour itself would tell the fakes apart."""
    sigma = np.exp(rng.uniform(*np.log(NOISE_SIGMA)))
    grey = bool((image == image[..., :1]).all())
    shape = (*image.shape[:2], 1) if grey else image.shape
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


MAKERS = {"resample": resample, "noise": noise}


def parse(kind: str) -> list[str]:
    """'resample+noise' -> ['resample', 'noise']; 'none' -> []; anything the command line would
    refuse (hunt_tf.choices.EXTRA_FAKES, "auto" resolved first) is an error here too."""
    if kind not in EXTRA_FAKES or kind == "auto":
        raise SettingsError(f"unknown extra fakes {kind!r}; choose from {', '.join(EXTRA_FAKES[1:])}")
    return [] if kind == "none" else kind.split("+")


def made(pixels: np.ndarray, kind="resample", seed=0, keys=None) -> np.ndarray:
    """Extra fakes (uint8, same image shape): one per image from each maker of `kind`, makers in
    order. Each image's fakes are drawn from (seed, its key, the maker), keys default 0..N-1: the
    same image gets the same fakes whichever others it comes with (in memory or streamed)."""
    names = parse(kind)
    if not len(pixels) or not names:
        return pixels[:0].copy()
    keys = np.arange(len(pixels)) if keys is None else np.asarray(keys)
    return np.concatenate([np.stack([fake_of(p, k, names, m, seed) for p, k in zip(pixels, keys)])
                           for m in range(len(names))])


def fake_entries(labels, label, makers: int):
    """(source row, maker) of every extra fake of the rows `labels`, in the order they join an
    epoch: maker by maker, each over the rows not of the fakes' `label` (the Real ones) in row
    order. Memory (`add_extra_fakes`) and the disk cache (`hunt_tf.data.from_cache`) both follow it."""
    real = np.flatnonzero(np.asarray(labels) != label)
    return np.tile(real, makers), np.repeat(np.arange(makers), len(real))


def fake_of(image: np.ndarray, key: int, names, maker: int, seed=0) -> np.ndarray:
    """The fake that maker number `maker` of `names` (parse's list) makes of one image: a row of `made`."""
    return MAKERS[names[maker]](image, np.random.default_rng((seed, int(key), int(maker))))


def real_class(class_names) -> int | None:
    """The index of the class of real images (named real/Real/REAL...), or None."""
    matches = [i for i, name in enumerate(class_names) if name.lower() in ("real", "reals", "human", "authentic")]
    return matches[0] if len(matches) == 1 and len(class_names) == 2 else None


def resolve(kind: str, decode_size: int, class_names) -> str:
    """What "auto" means for this data: resample for small images (read as RGB) with a Real class."""
    if kind != "auto":
        return kind
    return "resample" if decode_size < RESIDUAL_MIN_SIDE and real_class(class_names) is not None else "none"


def fake_label(kind, class_names) -> int | None:
    """The class extra fakes of `kind` join (the one that is not Real); None when there are none."""
    if not parse(kind):
        return None
    real = real_class(class_names)
    if real is None:
        raise SettingsError(f"--extra-fakes {kind} needs two classes, one of them named Real; found {class_names}")
    return 1 - real


def added(kind, labels, class_names) -> int:
    """How many extra fakes `kind` adds to the rows `labels` (0 for "none")."""
    label = fake_label(kind, class_names)
    return 0 if label is None else count(kind, labels, label)


def count(kind, labels, label) -> int:
    """How many extra fakes of `kind` the rows `labels` get: one per maker for each row that is
    not of the fakes' `label` (the Real rows)."""
    return len(parse(kind)) * int(np.sum(np.asarray(labels) != label))


def add_extra_fakes(kind, pixels, labels, class_names, seed=0, keys=None):
    """Training arrays with `kind` extra fakes (one per Real image and maker) appended as the other
    class; `keys` (one per row, default 0..N-1) seed each image's fakes (see `made`)."""
    label = fake_label(kind, class_names)
    if label is None:
        return pixels, labels
    keys = np.arange(len(pixels)) if keys is None else np.asarray(keys)
    names = parse(kind)
    rows, makers = fake_entries(labels, label, len(names))
    extra = pixels[:0].copy()
    if len(rows):
        extra = np.stack([fake_of(pixels[r], keys[r], names, m, seed) for r, m in zip(rows, makers)])
    return np.concatenate([pixels, extra]), np.concatenate([labels, np.full(len(extra), label, dtype=labels.dtype)])
