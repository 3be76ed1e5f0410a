"""Find and decode the images of a Gradient Hunt folder, by content, never by file name.

    DATA/Train/<class>/...   (any class folder names; nested folders are fine)
    DATA/Test/ or DATA/Test_Images/

`scan` reads every file's header once (with a progress bar) and keeps what the audit needs:
format, size, colour mode. Files that do not decode are named and left out of training;
every test file, readable or not, keeps its place (each gets a submission row).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gradient_hunt.images import DECODE_ERRORS, check_size, is_hidden, list_files, open_image, parallel_map, to_array
from hunt_tf.choices import DECODE_MODES
from hunt_tf.errors import DataError

__all__ = ["DataError", "Folder", "ImageRecord", "scan", "scan_images", "scan_labelled", "decode_all", "load_pixels"]

TEST_DIR_NAMES = ("Test", "Test_Images", "test", "test_images")


@dataclasses.dataclass
class ImageRecord:
    path: str
    label: int  # class index, or -1 for test images
    format: str  # what the content says: PNG, JPEG, WEBP, AVIF, ... ("" if unreadable)
    width: int
    height: int
    mode: str  # L, RGB, RGBA, I;16, P, ...
    error: str = ""  # why it could not be decoded

    @property
    def ok(self):
        return not self.error

    @property
    def extension(self):
        return Path(self.path).suffix.lower().lstrip(".")


@dataclasses.dataclass
class Folder:
    root: Path
    class_names: list[str]
    train: list[ImageRecord]  # decodable training images
    test: list[ImageRecord]  # every test file, decodable or not (each gets a submission row)
    skipped: list[ImageRecord]  # training files that could not be decoded
    test_dir: Path | None = None
    train_dir: Path | None = None

    @property
    def labels(self):
        return np.array([r.label for r in self.train], dtype=np.int64)

    @property
    def majority_class(self) -> int:
        return int(np.bincount(self.labels).argmax())


def _reason(err, path) -> str:
    if isinstance(err, FileNotFoundError) and Path(path).is_symlink():
        return "broken symlink"
    if isinstance(err, UnidentifiedImageError):
        return "not an image"
    return str(err).replace(str(path), "").strip(" :'") or type(err).__name__


def probe(path, label=-1) -> ImageRecord:
    """Identify a file by its bytes (the header only: cheap). Pixels are decoded once,
    later, by `decode_all`, which also catches files that are truncated after the header."""
    try:
        with Image.open(path) as img:
            fmt, size, mode = img.format or "", img.size, img.mode
        check_size(*size)
        return ImageRecord(str(path), label, fmt, size[0], size[1], mode)
    except (*DECODE_ERRORS, UnidentifiedImageError) as err:
        reason = "empty file" if os.path.isfile(path) and os.path.getsize(path) == 0 else _reason(err, path)
        return ImageRecord(str(path), label, "", 0, 0, "", error=reason)


def find_test_dir(root: Path):
    for name in TEST_DIR_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


def _names(records, limit=5):
    names = ", ".join(f"{Path(r.path).name} ({r.error})" for r in records[:limit])
    return names + (f" and {len(records) - limit} more" if len(records) > limit else "")


def scan(root, progress=True) -> Folder:
    """Scan DATA once: classes from Train/'s non-empty sub-folders, every file probed by content."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    train_dir = root / "Train" if (root / "Train").is_dir() else root / "train"
    if not train_dir.is_dir():
        raise DataError(f"{root} has no Train/ folder (expected Train/<class>/... and Test/)")
    class_dirs = sorted(d for d in train_dir.iterdir() if d.is_dir() and not is_hidden(Path(d.name)))
    files = {d.name: list_files(d) for d in class_dirs}
    empty = [name for name, found in files.items() if not found]
    if empty:  # a class with no examples would be an output that never trains
        warnings.warn(f"ignoring empty class folder(s): {', '.join(empty)}", stacklevel=2)
    class_names = [name for name, found in files.items() if found]
    if len(class_names) < 2:
        found = ", ".join(f"{k} ({len(v)} files)" for k, v in files.items()) or "none"
        raise DataError(f"{train_dir} needs at least two class folders with images; found: {found}")
    jobs = [(path, label) for label, name in enumerate(class_names) for path in files[name]]
    test_dir = find_test_dir(root)
    test_jobs = [(path, -1) for path in list_files(test_dir)] if test_dir else []

    records = parallel_map(lambda job: probe(*job), jobs + test_jobs, "scanning", progress)
    train = [r for r in records[: len(jobs)] if r.ok]
    unreadable = [name for i, name in enumerate(class_names) if not any(r.label == i for r in train)]
    if unreadable:  # files, but none of them an image: as empty as an empty folder
        warnings.warn(f"ignoring class folder(s) with no readable image: {', '.join(unreadable)}", stacklevel=2)
        kept = [name for name in class_names if name not in unreadable]
        for r in train:
            r.label = kept.index(class_names[r.label])
        class_names = kept
        if len(class_names) < 2:
            raise DataError(f"{train_dir} needs at least two class folders with readable images; "
                            f"found: {', '.join(class_names) or 'none'}")
    skipped = [r for r in records[: len(jobs)] if not r.ok]
    test = records[len(jobs) :]
    if skipped:
        warnings.warn(f"skipping {len(skipped)} unreadable training file(s): {_names(skipped)}", stacklevel=2)
    bad_test = [r for r in test if not r.ok]
    if bad_test:
        warnings.warn(f"{len(bad_test)} test file(s) cannot be decoded: {_names(bad_test)}; "
                      "they still get a row in the submission, with the most common class", stacklevel=2)
    return Folder(root, class_names, train, test, skipped, test_dir, train_dir)


def decode_all(records, size, mode="resize", progress=True):
    """Decode every record once, in parallel, to uint8 (N, size, size, 3).

    Returns (pixels, ok): `ok[i]` is False for a file whose pixels do not decode (a
    truncated file passes the header check); those are marked on the record (`error`),
    get black pixels here, and are named in one warning. Threads share a pixel budget,
    so a folder of huge photos decodes them one at a time.
    """
    records = list(records)
    pixels = np.zeros((len(records), size, size, 3), np.uint8)

    def load(i):  # each thread writes its row in place: the folder is held once, not twice
        try:
            pixels[i] = load_pixels(records[i].path, size, mode)
            return True
        except DECODE_ERRORS as err:
            records[i].error = _reason(err, records[i].path)
            return False

    weights = [max(1, r.width * r.height) for r in records]
    ok = np.array(parallel_map(load, range(len(records)), "decoding", progress, weights=weights), dtype=bool)
    if not ok.all():
        bad = [r for r, good in zip(records, ok) if not good]
        warnings.warn(f"{len(bad)} file(s) could not be decoded: {_names(bad)}", stacklevel=2)
    return pixels, ok


def scan_images(directory, progress=True) -> list[ImageRecord]:
    """Every file in a directory (for `hunt-tf predict`), probed by content."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"image folder not found: {directory}")
    return parallel_map(lambda p: probe(p), list_files(directory), "scanning", progress)


def scan_labelled(directory, class_names, progress=True):
    """(records, labelled): class folders named as `class_names` (in DIR or DIR/Train) give each
    record its label; otherwise every file of DIR is taken, unlabelled (label -1)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"image folder not found: {directory}")
    base = directory / "Train" if (directory / "Train").is_dir() else directory
    present = [c for c in class_names if (base / c).is_dir()]
    if not present:
        return scan_images(directory, progress), False
    jobs = [(path, class_names.index(c)) for c in present for path in list_files(base / c)]
    return parallel_map(lambda job: probe(*job), jobs, "scanning", progress), True


def load_pixels(path, size: int, mode: str = "resize") -> np.ndarray:
    """Decode one file to uint8 (size, size, 3).

    resize: the whole image squeezed to size x size (smooths fine generator artefacts);
    crop:   the central square at native resolution (keeps them), mirrored at the edges if the image is smaller;
    pad:    the whole image scaled to fit, aspect kept, padded to a square.
    """
    if mode not in DECODE_MODES:  # "auto" is resolved from the data first (hunt_tf.crops.choose_sizes)
        raise DataError(f"unknown resize mode {mode!r}; choose from {', '.join(DECODE_MODES)}")
    with open_image(path, draft_size=None if mode == "crop" else (size, size)) as img:
        if mode == "crop":
            w, h = img.size
            # Even offsets: the crop keeps the image's 2x2 cell grid (hunt_tf.residual), whatever its size.
            left, top = max(0, (w - size) // 4 * 2), max(0, (h - size) // 4 * 2)
            rgb = to_array(img.crop((left, top, left + min(w, size), top + min(h, size))))
            # A smaller image is mirrored at its edges: native pixels only, no black border
            # (a size shortcut) and no upscaling (interpolation leaves traces of its own).
            while rgb.shape[0] < size or rgb.shape[1] < size:
                pad_y, pad_x = min(size - rgb.shape[0], rgb.shape[0]), min(size - rgb.shape[1], rgb.shape[1])
                lead_y, lead_x = pad_y // 4 * 2, pad_x // 4 * 2  # even, as above
                rgb = np.pad(rgb, ((lead_y, pad_y - lead_y), (lead_x, pad_x - lead_x), (0, 0)), mode="symmetric")
            return np.ascontiguousarray(rgb)
        rgb = Image.fromarray(to_array(img))
    if mode == "pad":
        return np.asarray(ImageOps.pad(rgb, (size, size), Image.BILINEAR, color=(0, 0, 0)))
    return np.asarray(rgb.resize((size, size), Image.BILINEAR, reducing_gap=2.0))


def default_image_size(records) -> int:
    """Median shorter side of the training images, kept within [16, 128]: small images are
    not blown up (that blurs them), large ones are brought down to what a CPU can train."""
    sides = [min(r.width, r.height) for r in records if r.ok]
    median = int(np.median(sides)) if sides else 64
    return int(min(128, max(16, median)))
