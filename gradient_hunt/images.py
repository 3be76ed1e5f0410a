"""Decode any image file by its content, never its name, within a memory budget.

    with open_image(path) as img: ...            # EXIF rotation applied; too-large files refused
    rgb = to_array(img, channels=3)              # uint8 (H, W, 3): alpha on white, 16-bit scaled
    results = parallel_map(decode, paths, "decoding", weights=[w * h for ...])

Competition folders mix PNG, JPEG, WebP and AVIF (also named `.jpg`), greyscale, palette,
CMYK, 16-bit and transparent images; all of them come out as plain uint8 arrays here.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Our own decompression-bomb limit (Pillow's default is left implicit otherwise): a file with
# more pixels is refused and named. 120 MP covers any camera photo.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns above this and refuses above twice it
# Pixels being decoded at once across threads: large photos decode one at a time, small ones
# in parallel, so a folder of 100 MP photos cannot exhaust memory (~3 bytes/pixel, a few copies).
DECODE_BUDGET_PIXELS = MAX_PIXELS

# Errors that mean "this file is not a usable image" (not a bug of ours).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError)


# Files that operating systems leave in folders; they are not images and not worth a warning.
JUNK_NAMES = {"thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db"}


class TooLarge(ValueError):
    """An image with more pixels than MAX_PIXELS."""


def is_hidden(path: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


def list_files(directory: Path) -> list[Path]:
    """Image candidates under `directory`, sorted; hidden and junk files left out.

    A dangling symlink is kept (it decodes to an error that names it), never silently dropped.
    """
    found = []
    for p in sorted(directory.rglob("*")):
        if is_hidden(p.relative_to(directory)) or p.name.lower() in JUNK_NAMES:
            continue
        if p.is_file() or (p.is_symlink() and not p.exists()):
            found.append(p)
    return found


def check_size(width: int, height: int):
    if width * height > MAX_PIXELS:
        raise TooLarge(f"too large to decode: {width}x{height} = {width * height / 1e6:.0f} MP "
                       f"(limit {MAX_PIXELS / 1e6:.0f} MP)")


@contextlib.contextmanager
def open_image(path, draft_size=None):
    """Open an image with its EXIF orientation applied; `draft_size` lets JPEGs decode at 1/2..1/8 scale."""
    with Image.open(path) as img:
        check_size(*img.size)
        if draft_size and img.format == "JPEG":
            img.draft("RGB", draft_size)  # much faster, and the same result after a downscale
        yield ImageOps.exif_transpose(img)


def to_array(img: Image.Image, channels: int = 3, background=(255, 255, 255)) -> np.ndarray:
    """Any Pillow image -> uint8 (H, W, channels). Transparency is composited onto `background`;
    16-bit and float images are scaled to 0..255, not clipped; CMYK and palettes are converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], channels, axis=-1)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, (*background, 255)), img)
    if channels == 1:
        return np.asarray(img.convert("L"))[..., None]
    return np.asarray(img.convert("RGB"))


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (Linux MemAvailable; else all physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class PixelBudget:
    """A semaphore counted in pixels: a decode waits while others hold the budget.

    An image larger than the whole budget still decodes, alone.
    """

    def __init__(self, pixels: int = DECODE_BUDGET_PIXELS):
        self.pixels, self.in_use = pixels, 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, n: int):
        n = min(max(int(n), 1), self.pixels)
        with self._cond:
            self._cond.wait_for(lambda: self.in_use + n <= self.pixels)
            self.in_use += n
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= n
                self._cond.notify_all()


def parallel_map(fn, items, desc="decoding", progress=True, weights=None, budget=None):
    """[fn(item) for item in items] in threads (Pillow releases the GIL while decoding).

    `weights` (pixels per item) are held against `budget` (a PixelBudget) while fn runs.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    items = list(items)
    budget = budget or (PixelBudget() if weights is not None else None)

    def run(i):
        if budget is None:
            return fn(items[i])
        with budget.hold(weights[i]):
            return fn(items[i])

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(run, range(len(items)))
        # disable=None: a bar only on a terminal; in a log file it would be hundreds of redraws
        return list(tqdm(results, total=len(items), desc=desc, unit="file", disable=None if progress else True,
                         leave=False))
