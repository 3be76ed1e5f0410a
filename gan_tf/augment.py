"""Differentiable augmentation for GAN training (DiffAugment, Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training").

On a few thousand images the discriminator memorises the training set and stops teaching
the generator. Augmenting every image the discriminator sees, real and fake alike and in
both the discriminator and the generator step, stops that without leaking the augmentation
into the samples: the generator is rewarded for images whose *augmented* versions look like
augmented real ones, which only the real distribution achieves. Every transform is built from
differentiable ops, so the generator's gradient passes through it.

    augment = DiffAugment("translation,cutout", seed=0)
    x = augment(images, probability)     # images in [-1, 1], (B, H, W, C)

Each transform is applied to each image with `probability` (1 = always, as in DiffAugment;
below 1 when ADA's controller, in gan.py, adapts it: Karras et al. 2020).
"""

from __future__ import annotations

import keras
from keras import ops

from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 1 / 8  # largest shift, as a share of the side (DiffAugment's)
CUTOUT_RATIO = 1 / 2  # side of the erased square, as a share of the image side (DiffAugment's)
FILL = -1.0  # what translation shifts in: black, the background of digits (DiffAugment pads with 0, grey)


def parse_policy(policy: str) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); 'none' or '' -> ()."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)} or none")
    return names


class DiffAugment:
    """Random, differentiable image transforms, the same policy for every image passed in."""

    def __init__(self, policy="translation,cutout", seed=None):
        self.names = parse_policy(policy)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def __bool__(self):
        return bool(self.names)

    def __call__(self, images, probability=1.0):
        x = images
        for name in self.names:
            x = getattr(self, "_" + name)(x, probability)
        return x

    def _applied(self, batch, probability):
        """(B,) 0/1: which images this transform touches."""
        draw = keras.random.uniform((batch,), seed=self.seed_generator)
        return ops.cast(draw < probability, "float32")

    def _uniform(self, batch, low, high):
        return keras.random.uniform((batch, 1, 1, 1), low, high, seed=self.seed_generator)

    def _color(self, x, probability):
        # Brightness, saturation (colour images only), contrast: DiffAugment's ranges for [-1, 1] data.
        batch = ops.shape(x)[0]
        on = ops.reshape(self._applied(batch, probability), (-1, 1, 1, 1))
        dtype = x.dtype
        x = x + ops.cast(on * self._uniform(batch, -0.5, 0.5), dtype)
        if x.shape[-1] > 1:
            mean = ops.mean(x, axis=-1, keepdims=True)
            factor = 1.0 + on * (self._uniform(batch, 0.0, 2.0) - 1.0)
            x = (x - mean) * ops.cast(factor, dtype) + mean
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        factor = 1.0 + on * (self._uniform(batch, 0.5, 1.5) - 1.0)
        return (x - mean) * ops.cast(factor, dtype) + mean

    def _translation(self, x, probability):
        # Shift each image by up to 1/8 of its side, filling with FILL. The shift is a product
        # with one-hot shift matrices: matmuls, whose gradients are cheap on a CPU (a gather's
        # gradient is a scatter, which measured twice as slow for the whole GAN step).
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        on = ops.cast(self._applied(batch, probability), "int32")[:, None]
        max_h, max_w = (max(1, int(side * TRANSLATION_RATIO + 0.5)) for side in (height, width))
        shift_h = on * keras.random.randint((batch, 1), -max_h, max_h + 1, seed=self.seed_generator)
        shift_w = on * keras.random.randint((batch, 1), -max_w, max_w + 1, seed=self.seed_generator)
        # Row i of the output reads row i - shift; out-of-range indices one-hot to all zeros.
        rows = ops.one_hot(ops.arange(height, dtype="int32")[None, :] - shift_h, height, dtype=x.dtype)
        cols = ops.one_hot(ops.arange(width, dtype="int32")[None, :] - shift_w, width, dtype=x.dtype)
        shifted = ops.einsum("bih,bhwc->biwc", rows, x - FILL)
        return ops.einsum("bjw,biwc->bijc", cols, shifted) + FILL

    def _cutout(self, x, probability):
        # Erase one square (half the side) per image to 0, mid-grey in [-1, 1].
        batch, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        on = ops.reshape(self._applied(batch, probability), (-1, 1, 1, 1))
        size_h, size_w = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
        # Top-left corners from -size/2: the square may hang over an edge, as in DiffAugment.
        top = keras.random.randint((batch, 1, 1), -(size_h // 2), height - size_h // 2 + 1, seed=self.seed_generator)
        left = keras.random.randint((batch, 1, 1), -(size_w // 2), width - size_w // 2 + 1, seed=self.seed_generator)
        rows = ops.arange(height, dtype="int32")[None, :, None] - top
        cols = ops.arange(width, dtype="int32")[None, None, :] - left
        inside = (rows >= 0) & (rows < size_h) & (cols >= 0) & (cols < size_w)
        keep = 1.0 - on * ops.cast(inside, "float32")[..., None]
        return x * ops.cast(keep, x.dtype)
