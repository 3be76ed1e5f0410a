"""Shared fixtures and helpers: tiny labelled digits, messy competition folders, a private cache dir."""

import csv
import gzip
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradient_hunt.runtime import import_tensorflow

import_tensorflow()


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    # The quality classifier is cached per dataset; tests must not touch ~/.cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True)
def float32_policy():
    import keras

    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


def toy_digits(n=200, seed=0):
    """Labelled 28x28 images that a classifier can tell apart: class k is a bar at row 2k+4."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, 28, 28, 1)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4 : 2 * k + 7, 4:24, 0] = 255
    return images, labels


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def idx_dir(tmp_path):
    """A labelled IDX directory (like MNIST's files) of 200 toy digits."""
    images, labels = toy_digits()
    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", images[..., 0])
    write_idx(d / "train-labels-idx1-ubyte.gz", labels)
    return d


def rgb_image(seed, size=(40, 30)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def write_messy_folder(root, classes=("AI", "Real"), per_class=6, test_dir="Test"):
    """PNG/JPEG mixed, WebP and AVIF named .jpg, greyscale, RGBA, 16-bit, empty, truncated, text."""
    for c, name in enumerate(classes):
        d = root / "Train" / name
        d.mkdir(parents=True)
        for i in range(per_class):
            img = rgb_image(10 * c + i, size=(60 + 20 * i, 50 + 10 * c))
            img.save(d / f"{name}_{i}.png") if i % 2 else img.save(d / f"{name}_{i}.jpg", format="JPEG")
    d = root / "Train" / classes[0]
    rgb_image(90).save(d / "webp_in_disguise.jpg", format="WEBP")
    rgb_image(91).save(d / "avif_in_disguise.jpg", format="AVIF")
    rgb_image(92).convert("L").save(d / "grey.png")
    rgb_image(93).convert("RGBA").save(d / "alpha.png")
    Image.fromarray((np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16)).save(d / "sixteen_bit.png")
    (d / "empty.jpg").write_bytes(b"")
    buf = io.BytesIO()
    rgb_image(94, (200, 200)).save(buf, format="PNG")
    (d / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (d / "notes.txt").write_text("not an image")
    t = root / test_dir
    t.mkdir()
    for i in range(4):
        rgb_image(100 + i).save(t / f"img_{i}.png")
    rgb_image(105).save(t / "webp_test.jpg", format="WEBP")
    (t / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def read_rows(path):
    """The rows of a CSV file (a submission) as dicts."""
    with open(path) as f:
        return list(csv.DictReader(f))


def fresh_python(code, **env):
    """Run `code` in a new interpreter with this checkout importable, as a user's script would, without
    the settings that change what TensorFlow prints either way; `env` adds variables. The CompletedProcess."""
    changes_output = ("TF_CPP_MIN_LOG_LEVEL", "GRADIENT_HUNT_VERBOSE", "PYTHONWARNINGS")
    base = {k: v for k, v in os.environ.items() if k not in changes_output}
    root = Path(__file__).parents[1]
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={**base, "PYTHONPATH": str(root), **env})
