"""Decoded pixels on disk, for folders larger than memory (`hunt-tf train --cache disk`).

    cache = PixelCache.build(folder.train, size=256, mode="crop")    # decodes once, or finds it
    ds = cache.dataset(rows, labels, shuffle_seed=0)                 # streams (uint8 image, label, key)
    pixels = cache.rows([3, 17, 42])                                 # random access, a few rows

Each image is one fixed-length record (size x size x 3 uint8), in a fixed shuffled order, in
shards of about SHARD_BYTES. Training reads the records it wants in a new random order every
epoch, a chunk per call with positioned reads (no parsing, nothing mapped into the process), so
memory holds the chunks in flight and the batches, not the folder. The cache lives under
~/.cache/gradient-hunt/pixels/<key>, keyed by the files (path, size, modification time) and the
decode settings: every run and tuning trial on the same data and size reuses it, and any change
builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from gradient_hunt.cache import cache_dir
from gradient_hunt.images import available_memory
from hunt_tf.files import decode_all

VERSION = 2  # bump when the record layout or the decoding (hunt_tf.files.load_pixels) changes: old caches are then never read
SHARD_BYTES = 256 << 20  # 256 MB files: few enough to open, small enough to copy or move one at a time
READ_CHUNK = 32  # records per read call: enough to amortise the call, few enough to hold many in flight
READS_IN_FLIGHT = 4  # read calls at once: bounds memory on many-core machines (4 x 32 x 196 KB at 256 px)
DECODE_CHUNK = 512  # images decoded (in parallel) per write: bounds the memory of building
# --cache auto: keep decoded pixels in memory while they take at most this share of the
# memory available now: a run in memory peaked at about 4x its pixels (7.9 GB for 2.0 GB,
# benchmarks/hunt_scale.py), so this leaves 60% of what is free to everything else.
MEMORY_SHARE = 0.1


def decoded_bytes(n_images: int, size: int) -> int:
    return n_images * size * size * 3


def choose_cache(kind: str, n_images: int, size: int, multi_worker=False) -> str:
    """"auto" made concrete: memory while the decoded folder fits comfortably, else disk; always
    disk across workers, whose pipelines must be the same (each machine's free memory is not)."""
    if kind != "auto":
        return kind
    if multi_worker:
        return "disk"
    return "memory" if decoded_bytes(n_images, size) <= MEMORY_SHARE * available_memory() else "disk"


def cache_key(records, size: int, mode: str) -> str:
    """A digest of what the pixels depend on: every file (path, bytes, mtime), the size and mode."""
    h = hashlib.sha256(f"v{VERSION} {size} {mode} {len(records)}\n".encode())
    for r in records:
        stat = os.stat(r.path)
        h.update(f"{os.path.abspath(r.path)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


class PixelCache:
    """The decoded images of one list of records at one decode setting, in shards on disk.

    Records are stored in a fixed shuffled order (`order[position] = record index`), from when
    training streamed the shards in sequence (a folder is scanned class by class); reads are by
    position now, and the layout stays so that caches built before remain valid."""

    def __init__(self, path: Path):
        self.path = Path(path)
        meta = json.loads((self.path / "meta.json").read_text())
        self.size, self.n, self.per_shard = meta["size"], meta["n"], meta["per_shard"]
        self.errors = meta["errors"]  # {record index: why it did not decode}
        self.order = np.load(self.path / "order.npy")  # file position -> record index
        self.position = np.argsort(self.order)  # record index -> file position
        self.record_bytes = self.size * self.size * 3
        self.shards = [self.path / f"shard-{k:05d}.u8" for k in range(-(-self.n // self.per_shard))]

    @property
    def ok(self) -> np.ndarray:
        ok = np.ones(self.n, dtype=bool)
        ok[[int(i) for i in self.errors]] = False
        return ok

    @classmethod
    def build(cls, records, size: int, mode: str, root: Path | None = None, progress=True) -> PixelCache:
        """The cache of these records (decoded now, unless an identical one exists). Files that
        fail to decode are marked on their record (`error`), as `files.decode_all` does."""
        records = list(records)
        root = Path(root) if root else cache_dir() / "pixels"
        path = root / cache_key(records, size, mode)
        if not (path / "meta.json").exists():
            cls._write(path, records, size, mode, progress)
        else:
            print(f"decoded pixels: reusing the disk cache {path}")
        cache = cls(path)
        for i, why in cache.errors.items():
            records[int(i)].error = why
        return cache

    @staticmethod
    def _write(path: Path, records, size, mode, progress):
        per_shard = max(1, SHARD_BYTES // (size * size * 3))
        path.parent.mkdir(parents=True, exist_ok=True)
        # A directory of this process's own (unique across hosts sharing the cache), renamed into
        # place when whole: a crash leaves a `<key>.partial*` directory, never a half cache.
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=path.name + ".partial"))
        print(f"decoded pixels: writing a disk cache of {len(records)} images at {size}px "
              f"({decoded_bytes(len(records), size) / 2**30:.1f} GB) to {path}")
        order = np.random.default_rng(0).permutation(len(records))  # fixed: the cache is the files' own
        errors = {}
        for start in range(0, len(records), DECODE_CHUNK):
            chunk = order[start : start + DECODE_CHUNK]
            pixels, ok = decode_all([records[i] for i in chunk], size, mode, progress=progress)
            errors.update({str(chunk[i]): records[chunk[i]].error for i in np.flatnonzero(~ok)})
            _append(tmp, start, pixels, per_shard)
        np.save(tmp / "order.npy", order)
        (tmp / "meta.json").write_text(json.dumps({"size": size, "mode": mode, "n": len(records),
                                                   "per_shard": per_shard, "errors": errors}))
        _flush(tmp)
        try:
            tmp.rename(path)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (path / "meta.json").exists():  # not another process finishing the same cache first
                raise

    def rows(self, indices) -> np.ndarray:
        """uint8 (len(indices), size, size, 3) of these records, read from the shards (each shard
        opened once per call, nothing kept open)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(indices), self.size, self.size, 3), np.uint8)
        shard, at = np.divmod(self.position[indices], self.per_shard)
        for k in np.unique(shard):
            with open(self.shards[k], "rb") as f:
                wanted = np.flatnonzero(shard == k)
                for j in wanted[np.argsort(at[wanted], kind="stable")]:  # forward through the file
                    f.seek(int(at[j]) * self.record_bytes)
                    f.readinto(memoryview(out[j]).cast("B"))
        return out

    def chunks(self, indices, chunk=1024):
        """rows() of `indices` in order, `chunk` at a time: memory for one chunk, however many there are."""
        indices = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(indices), chunk):
            yield self.rows(indices[start : start + chunk])

    def dataset(self, indices, labels, keys=None, shuffle_seed=None, edit=None):
        """tf.data of (uint8 image, int64 label, int64 key), one per entry of `indices` (records may
        repeat), with `labels` and `keys` (default the indices) of the same length.

        With a seed (training) the entries come in a new random order every epoch, as
        `hunt_tf.data.from_pixels` shuffles positions in memory; without one, in the order given.
        Records are read by random access, READ_CHUNK per call, several calls at once: nothing
        waits for a shuffle buffer to fill at the start of an epoch (the old sequential stream
        did, and trained 19-28% slower than the memory mode: BENCHMARKS.md, session 13).
        `edit(images, at)`, if given, may change a chunk's uint8 images in place; `at` holds
        their entries' positions in `indices`."""
        import tensorflow as tf

        indices = np.asarray(indices, dtype=np.int64)
        labels = tf.constant(np.asarray(labels, dtype=np.int64))
        keys = tf.constant(indices if keys is None else np.asarray(keys, dtype=np.int64))
        size = self.size

        def load(at):
            images = self.rows(indices[at])
            if edit is not None:
                edit(images, at)
            return images

        def read(at):
            images = tf.numpy_function(load, [at], tf.uint8)
            return tf.ensure_shape(images, (None, size, size, 3)), tf.gather(labels, at), tf.gather(keys, at)

        positions = tf.data.Dataset.range(len(indices))
        if shuffle_seed is not None:
            positions = positions.shuffle(len(indices), seed=shuffle_seed, reshuffle_each_iteration=True)
        ds = positions.batch(READ_CHUNK).map(read, num_parallel_calls=min(READS_IN_FLIGHT, os.cpu_count() or 1))
        ds = ds.unbatch()
        # Unbatched streams have no known length; Keras needs it for its progress and epochs.
        return ds.apply(tf.data.experimental.assert_cardinality(len(indices)))


def _flush(directory: Path):
    """Every file of `directory` on the disk before it is renamed into place: a cache found by its
    name is whole after a crash or power loss too, not only after a clean exit."""
    for file in directory.iterdir():
        with open(file, "rb") as f:
            os.fsync(f.fileno())


def _append(directory: Path, start: int, pixels: np.ndarray, per_shard: int):
    """Write the rows of `pixels` (record indices start...) to the shard files they belong in."""
    i = 0
    while i < len(pixels):
        shard, at = divmod(start + i, per_shard)
        take = min(len(pixels) - i, per_shard - at)
        with open(directory / f"shard-{shard:05d}.u8", "ab") as f:
            f.write(np.ascontiguousarray(pixels[i : i + take]).tobytes())
        i += take


class CachedRows:
    """Some rows of a cache, read only when indexed: `rows[i]` is one uint8 image, `rows[a:b]` and
    `rows[[i, j]]` arrays of them; `take` selects rows without reading any."""

    def __init__(self, cache: PixelCache, indices):
        self.cache, self.indices = cache, np.asarray(indices, dtype=np.int64)
        self.shape = (len(self.indices), cache.size, cache.size, 3)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, which):
        if isinstance(which, (int, np.integer)):
            return self.cache.rows([self.indices[which]])[0]
        return self.cache.rows(self.indices[which if isinstance(which, slice) else np.asarray(which, dtype=np.int64)])

    def take(self, which) -> CachedRows:
        return CachedRows(self.cache, self.indices[np.asarray(which, dtype=np.int64)])
