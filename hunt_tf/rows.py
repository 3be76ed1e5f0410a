"""The images a hunt model trains and validates on, decoded into memory or onto the disk cache,
behind one interface: `hunt-tf train` and every `hunt-tune` trial build their batches the same way.

    decoded = decode_train(folder, config)                        # memory or disk: config.cache (auto)
    train = TrainingRows.of(decoded, train_idx, config.extra_fakes, folder.class_names, seed)
    ds = train.dataset(batch_size=32, augment="standard", strength=1.0, seed=0, crop=128)
    val = validation_dataset(subset(decoded.pixels, val_idx), decoded.labels[val_idx], 64, crop=128)

In memory, the pixels are one uint8 array (extra fakes made once, up front); on disk they are
`CachedRows` that are read as they stream (each extra fake made when its entry is read), so the
memory a run holds does not grow with the folder.
"""

from __future__ import annotations

import typing

import numpy as np

from hunt_tf import extra_fakes
from hunt_tf.cache import CachedRows, PixelCache, choose_cache
from hunt_tf.data import from_cache, from_pixels
from hunt_tf.splits import decode_training_images, keep_decoded


class Decoded(typing.NamedTuple):
    """A scanned Train/ folder's decodable images (uint8 array, or CachedRows) and their labels."""

    pixels: object
    labels: np.ndarray

    @property
    def where(self) -> str:
        return "disk" if isinstance(self.pixels, CachedRows) else "memory"


def decode_train(folder, config, multi_worker=False) -> Decoded:
    """Decode Train/ once at `config.decode_size`, where `config.cache` says (hunt_tf.cache.choose_cache):
    into memory or into the disk cache (reused by every run and trial with the same files and
    decode settings). Undecodable files leave `folder`."""
    where = choose_cache(config.cache, len(folder.train), config.decode_size, multi_worker=multi_worker)
    if where == "disk":
        store = PixelCache.build(folder.train, config.decode_size, config.resize_mode)
        rows, labels = keep_decoded(folder, store.ok)
        return Decoded(CachedRows(store, rows), labels)
    return Decoded(*decode_training_images(folder, config.decode_size, config.resize_mode))


def subset(pixels, indices):
    """These rows of an array (a copy) or of CachedRows (still unread)."""
    return pixels.take(indices) if isinstance(pixels, CachedRows) else pixels[indices]


def validation_dataset(pixels, labels, batch_size, crop=0):
    """Batches of validation rows (centre crops in crop mode), in order, never augmented."""
    if isinstance(pixels, CachedRows):
        return from_cache(pixels.cache, pixels.indices, labels, None, batch_size, crop=crop)
    return from_pixels(pixels, labels, batch_size, crop=crop)


class TrainingRows:
    """The rows `fit` trains on, extra fakes included: `labels` holds one label per image an
    epoch sees (for step counts and class weights), `dataset(...)` streams their batches."""

    def __init__(self, pixels, row_labels, labels, fakes="none", fake_label=0, keys=None, fakes_seed=0):
        self.pixels = pixels  # uint8 array (fakes appended) or CachedRows (fakes made as their entries are read)
        self.row_labels = row_labels  # one per row of `pixels`
        self.labels = labels  # one per image of an epoch
        # Streamed fakes: which kind, their label, the per-image ids and the seed they are made with.
        self.fakes, self.fake_label, self.keys, self.fakes_seed = fakes, fake_label, keys, fakes_seed

    @classmethod
    def in_memory(cls, pixels, labels) -> TrainingRows:
        """Rows already decoded (and any fakes added): uint8 (N, H, W, 3) and their labels."""
        return cls(pixels, labels, labels)

    @classmethod
    def of(cls, decoded: Decoded, train_idx, kind, class_names, seed) -> TrainingRows:
        """The training rows `train_idx` of `decoded`, with `kind` extra fakes of their Real images
        (seeded by `seed` and each image's position, so memory and disk make the same fakes)."""
        labels = decoded.labels[train_idx]
        if isinstance(decoded.pixels, CachedRows):
            label = extra_fakes.fake_label(kind, class_names)
            label = 0 if label is None else label
            n_fakes = extra_fakes.count(kind, labels, label)
            epoch_labels = np.concatenate([labels, np.full(n_fakes, label, labels.dtype)])
            return cls(decoded.pixels.take(train_idx), labels, epoch_labels, kind, label, keys=np.asarray(train_idx),
                       fakes_seed=seed)
        # Fancy indexing copies: the caller may let go of the whole decoded folder after this.
        pixels, epoch_labels = extra_fakes.add_extra_fakes(kind, decoded.pixels[train_idx], labels, class_names, seed,
                                                           keys=train_idx)
        return cls.in_memory(pixels, epoch_labels)

    def __len__(self):
        return len(self.labels)

    def dataset(self, batch_size, augment="none", strength=1.0, seed=0, crop=0):
        """Shuffled, augmented float32 batches, reshuffled every epoch (`seed`: order, crops, augmentation)."""
        if isinstance(self.pixels, CachedRows):
            return from_cache(self.pixels.cache, self.pixels.indices, self.row_labels, self.keys, batch_size,
                              training=True, augment=augment, strength=strength, seed=seed, crop=crop,
                              extra_fakes=self.fakes, fake_label=self.fake_label, fakes_seed=self.fakes_seed)
        return from_pixels(self.pixels, self.labels, batch_size, training=True, augment=augment, strength=strength,
                           seed=seed, crop=crop)
