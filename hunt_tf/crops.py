"""Native-resolution crops: train on random crops, predict on a grid of tiles covering the decoded square.

    source, crop = crop_sizes(records)                 # from the data: e.g. 256 and 64
    probs = average_over_tiles(predict, pixels, crop)  # every part of the square has its say

Resizing a photograph to the network's size smooths away the pixel-level traces a generator
leaves; a crop keeps them. Each image is decoded once to its central square of `source`
native pixels (hunt_tf.files.load_pixels): larger images are not seen beyond it. Offsets are even, so a crop keeps the 2x2 cell grid of its image
(the grid NPR residuals are computed on, hunt_tf.residual).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from hunt_tf.choices import CROP_MIN_SOURCE, FLATTEN_MIN_SIDE, RESIDUAL_MIN_SIDE

MAX_SOURCE = 256  # native pixels decoded per image: 256x256x3 uint8 is 192 KB, 5,000 images ~1 GB
# What the CNN sees per step. Measured on held-out r1 images (BENCHMARKS.md): 128 beat 64 on
# re-encoded photographs (0.938 vs 0.916 mean of 3 seeds) and tied on raw ones.
DEFAULT_CROP = 128
MIN_SIZE = 16
# Pillow modes without colour: greyscale, with or without alpha, 1/8/16/32-bit.
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Conv layers per block (auto_convs): colour data, greyscale data.
COLOUR_CONVS, GREY_CONVS = 2, 1


def crop_sizes(records, crop=0, source=0):
    """(source, crop) in pixels for crop mode, each chosen from the data where not given.

    The source is the 10th percentile of the shorter sides (at most MAX_SOURCE), so nine in
    ten images are cropped at their own scale; smaller ones are padded by reflection, never
    upscaled (interpolation would plant traces of its own).
    """
    source = source or int(min(MAX_SOURCE, max(MIN_SIZE, shorter_side_percentile(records))))
    if crop > source:
        warnings.warn(f"--image-size {crop} is larger than the {source}px squares decoded in crop mode: "
                      f"the network sees the whole {source}px square (raise --source-size for more)", stacklevel=2)
    crop = min(crop or DEFAULT_CROP, source)
    return source, crop


def choose_sizes(config, records):
    """Fill what a config leaves to the data: the resize mode where "auto" (crop for large
    images, else resize), image_size (and source_size, in crop mode) where 0, the input
    where "auto" (residual from RESIDUAL_MIN_SIDE decoded pixels up, else rgb), the head where
    "auto" (auto_head: flatten for whole images of FLATTEN_MIN_SIDE px or more), and the conv
    layers per block where 0 (auto_convs)."""
    from hunt_tf.files import default_image_size

    if config.resize_mode == "auto":
        config.resize_mode = "crop" if shorter_side_percentile(records) >= CROP_MIN_SOURCE else "resize"
    if config.resize_mode == "crop":
        config.source_size, config.image_size = crop_sizes(records, config.image_size, config.source_size)
    else:
        config.image_size = config.image_size or default_image_size(records)
    config.input = auto_input(config.input, config.decode_size, config.backbone)
    config.head = auto_head(config.head, config.resize_mode, config.image_size, config.backbone)
    config.convs = config.convs or auto_convs(records)
    return config


def auto_convs(records) -> int:
    """Conv layers per block for the data: 2 when most readable images are colour, 1 when most
    are grey, judged by their files' modes (a grey picture saved as RGB counts as colour).

    Measured (BENCHMARKS.md, issue #10): two per block beat one on held-out photographs
    (re-encoded r1 0.968 vs 0.938) and on CIFAKE (0.914 vs 0.897); on greyscale Fashion-MNIST the
    deeper blocks learned the training generator better and unseen ones worse (0.756 vs 0.798)."""
    modes = [r.mode for r in records if r.ok]
    grey = sum(mode in GREY_MODES for mode in modes)
    return GREY_CONVS if modes and grey * 2 > len(modes) else COLOUR_CONVS


def auto_input(kind: str, decode_size: int, backbone="cnn") -> str:
    """"auto" made concrete: residual for the scratch CNN on images decoded at RESIDUAL_MIN_SIDE
    px or more; rgb otherwise (keras.applications backbones take RGB only)."""
    if kind != "auto":
        return kind
    return "residual" if decode_size >= RESIDUAL_MIN_SIDE and backbone == "cnn" else "rgb"


def auto_head(kind: str, resize_mode: str, image_size: int, backbone="cnn") -> str:
    """"auto" made concrete: flatten for the scratch CNN on whole images (resize or pad mode, not
    crops) of FLATTEN_MIN_SIDE px or more, where the layout of the picture tells; gap otherwise
    (a resize mode still "auto", as a library call may leave it, counts as not whole)."""
    if kind != "auto":
        return kind
    whole = resize_mode in ("resize", "pad")
    return "flatten" if whole and image_size >= FLATTEN_MIN_SIDE and backbone == "cnn" else "gap"


def shorter_side_percentile(records, q=10) -> float:
    sides = [min(r.width, r.height) for r in records if r.ok] or [DEFAULT_CROP]
    return float(np.percentile(sides, q))


def tile_offsets(source: int, crop: int) -> list[int]:
    """Even offsets of ceil(source / crop) crops along one side, spread evenly from edge to edge."""
    if crop >= source:
        return [0]
    n = math.ceil(source / crop)
    return sorted({int(round(i * (source - crop) / (n - 1))) // 2 * 2 for i in range(n)})


def average_over_tiles(predict, pixels, crop):
    """Class probabilities from a grid of crop x crop tiles covering every image (one `predict`
    call per tile), combined as the mean log-probability (renormalised): each tile is
    evidence, and a tile that is sure counts for more than one that cannot tell (a flat sky).
    Measured against the mean probability on held-out r1 images: as good or better (BENCHMARKS.md)."""
    offsets = tile_offsets(pixels.shape[1], crop)
    total = None
    for y in offsets:
        for x in offsets:
            logp = np.log(np.clip(predict(pixels[:, y : y + crop, x : x + crop]), 1e-7, 1.0))
            total = logp if total is None else total + logp
    mean = total / len(offsets) ** 2
    probs = np.exp(mean - mean.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def centre_offset(source: int, crop: int) -> int:
    return (source - crop) // 4 * 2

