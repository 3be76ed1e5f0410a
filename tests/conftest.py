"""Shared fixtures: tiny labelled digit data made on the fly, a private cache dir."""

import gzip
import struct

import numpy as np
import pytest

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
