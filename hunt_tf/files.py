"""Find and decode the images of a Gradient Hunt folder, by content, never by file name.

    DATA/Train/<class>/...   (any class folder names; nested folders are fine)
    DATA/Test/ or DATA/Test_Images/

`scan` reads every file once (with a progress bar) and keeps what the audit needs:
format, size, colour mode. Files that do not decode are named and left out of training.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

TEST_DIR_NAMES = ("Test", "Test_Images", "test", "test_images")
RESIZE_MODES = ("resize", "crop", "pad")


class DataError(ValueError):
    """A folder that cannot be used as asked; the message says why."""


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

    @property
    def id(self):
        return Path(self.path).stem


@dataclasses.dataclass
class Folder:
    root: Path
    class_names: list[str]
    train: list[ImageRecord]  # decodable training images
    test: list[ImageRecord]  # every test file, decodable or not (each gets a submission row)
    skipped: list[ImageRecord]  # training files that could not be decoded

    @property
    def labels(self):
        return np.array([r.label for r in self.train], dtype=np.int64)


def _is_hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)


def _files(directory: Path):
    return sorted(p for p in directory.rglob("*") if p.is_file() and not _is_hidden(p.relative_to(directory)))


def probe(path, label=-1) -> ImageRecord:
    """Identify a file by its bytes (the header only: cheap). Pixels are decoded once,
    later, by `decode_all`, which also catches files that are truncated after the header."""
    try:
        with Image.open(path) as img:
            fmt, size, mode = img.format or "", img.size, img.mode
        return ImageRecord(str(path), label, fmt, size[0], size[1], mode)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, SyntaxError) as err:
        if os.path.getsize(path) == 0:
            reason = "empty file"
        elif isinstance(err, UnidentifiedImageError):
            reason = "not an image"
        else:
            reason = str(err).replace(str(path), "").strip(" :'") or type(err).__name__
        return ImageRecord(str(path), label, "", 0, 0, "", error=reason)


def find_test_dir(root: Path):
    for name in TEST_DIR_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


def scan(root, progress=True) -> Folder:
    """Scan DATA once: classes from Train/'s sub-folders, every file probed by content."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    train_dir = root / "Train" if (root / "Train").is_dir() else root / "train"
    if not train_dir.is_dir():
        raise DataError(f"{root} has no Train/ folder (expected Train/<class>/... and Test/)")
    class_dirs = sorted(d for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    jobs = [(path, label) for label, d in enumerate(class_dirs) for path in _files(d)]
    counts = {d.name: sum(1 for _, lab in jobs if lab == i) for i, d in enumerate(class_dirs)}
    nonempty = [name for name, c in counts.items() if c]
    if len(nonempty) < 2:
        found = ", ".join(f"{k} ({v} files)" for k, v in counts.items()) or "none"
        raise DataError(f"{train_dir} needs at least two class folders with images; found: {found}")
    test_dir = find_test_dir(root)
    test_jobs = [(path, -1) for path in _files(test_dir)] if test_dir else []

    records = _probe_all(jobs + test_jobs, progress)
    train = [r for r in records[: len(jobs)] if r.ok]
    skipped = [r for r in records[: len(jobs)] if not r.ok]
    test = records[len(jobs) :]
    if skipped:
        names = ", ".join(f"{Path(r.path).name} ({r.error})" for r in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(f"skipping {len(skipped)} unreadable training file(s): {names}{more}", stacklevel=2)
    bad_test = [r for r in test if not r.ok]
    if bad_test:
        warnings.warn(
            f"{len(bad_test)} test file(s) cannot be decoded ({', '.join(Path(r.path).name for r in bad_test[:5])}); "
            "they still get a row in the submission, with the most common class",
            stacklevel=2,
        )
    return Folder(root, [d.name for d in class_dirs], train, test, skipped)


def _parallel(fn, items, desc, progress):
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(fn, items)
        return list(tqdm(results, total=len(items), desc=desc, unit="file", disable=not progress, leave=False))


def _probe_all(jobs, progress):
    return _parallel(lambda job: probe(*job), jobs, "scanning", progress)


def decode_all(records, size, mode="resize", progress=True):
    """Decode every record once, in parallel, to uint8 (N, size, size, 3).

    Returns (pixels, ok): `ok[i]` is False for a file whose pixels do not decode (a
    truncated file passes the header check); those are marked on the record (`error`),
    get black pixels here, and are named in one warning.
    """
    def load(record):
        try:
            return load_pixels(record.path, size, mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            record.error = str(err).replace(record.path, "").strip(" :'") or type(err).__name__
            return None

    decoded = _parallel(load, list(records), "decoding", progress)
    ok = np.array([d is not None for d in decoded], dtype=bool)
    pixels = np.zeros((len(records), size, size, 3), np.uint8)
    for i, d in enumerate(decoded):
        if d is not None:
            pixels[i] = d
    if not ok.all():
        bad = [Path(r.path).name for r, good in zip(records, ok) if not good]
        warnings.warn(f"{len(bad)} file(s) could not be decoded: {', '.join(bad[:5])}"
                      + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""), stacklevel=2)
    return pixels, ok


def scan_images(directory, progress=True) -> list[ImageRecord]:
    """Every file in a directory (for `hunt-tf predict`), probed by content."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"image folder not found: {directory}")
    return _probe_all([(p, -1) for p in _files(directory)], progress)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow image -> uint8 RGB; 16-bit and float images are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=-1)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.asarray(img.convert("RGB"))


def load_pixels(path, size: int, mode: str = "resize") -> np.ndarray:
    """Decode one file to uint8 (size, size, 3).

    resize: the whole image squeezed to size x size (smooths fine generator artefacts);
    crop:   a centre crop at native resolution (keeps them), padded if the image is smaller;
    pad:    the whole image shrunk to fit, aspect kept, padded to a square.
    """
    with Image.open(path) as img:
        if img.format == "JPEG" and mode != "crop":
            img.draft("RGB", (size, size))  # decode at 1/2, 1/4, 1/8 scale: much faster, same result
        img = ImageOps.exif_transpose(img)
        if mode == "crop":
            w, h = img.size
            left, top = max(0, (w - size) // 2), max(0, (h - size) // 2)
            img = img.crop((left, top, left + min(w, size), top + min(h, size)))
            rgb = to_rgb_array(img)
            out = np.zeros((size, size, 3), np.uint8)
            oy, ox = (size - rgb.shape[0]) // 2, (size - rgb.shape[1]) // 2
            out[oy : oy + rgb.shape[0], ox : ox + rgb.shape[1]] = rgb
            return out
        rgb = Image.fromarray(to_rgb_array(img))
        if mode == "pad":
            rgb.thumbnail((size, size), Image.BILINEAR)
            out = Image.new("RGB", (size, size))
            out.paste(rgb, ((size - rgb.width) // 2, (size - rgb.height) // 2))
            return np.asarray(out)
        if mode != "resize":
            raise ValueError(f"unknown resize mode {mode!r}; choose from {', '.join(RESIZE_MODES)}")
        return np.asarray(rgb.resize((size, size), Image.BILINEAR, reducing_gap=2.0))


def default_image_size(records) -> int:
    """Median shorter side of the training images, kept within [16, 128]: small images are
    not blown up (that blurs them), large ones are brought down to what a CPU can train."""
    sides = [min(r.width, r.height) for r in records if r.ok]
    median = int(np.median(sides)) if sides else 64
    return int(min(128, max(16, median)))
