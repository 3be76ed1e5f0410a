"""Training arrays from a scanned folder: decode once, a stratified seeded split, class weights.

    pixels, labels = decode_training_images(folder, image_size=64, resize_mode="resize")
    train_idx, val_idx = split(labels, val_split=0.2, seed=0)
    train_idx, val_idx, how, held_out_source = validation_split(folder, labels, val_split=0.2, seed=0)
    weights = class_weights(labels[train_idx], num_classes=2)   # for model.fit(class_weight=...)
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from hunt_tf import files
from hunt_tf.choices import VALIDATIONS
from hunt_tf.errors import DataError


def split(labels, val_split, seed):
    """Stratified, seeded train/validation indices."""
    labels = np.asarray(labels)
    if val_split <= 0:
        return np.arange(len(labels)), np.array([], dtype=int)
    if np.bincount(labels).min() < 2:
        raise DataError("every class needs at least 2 readable images for a validation split")
    return train_test_split(np.arange(len(labels)), test_size=val_split, stratify=labels, random_state=seed)


class ValidationSplit(typing.NamedTuple):
    train: np.ndarray  # indices
    val: np.ndarray
    how: str  # said in the log and the report
    # A held-out source is off-distribution for one class on purpose: no decision threshold is
    # fitted on it (hunt_tf.train), since a cut fitted to one unseen generator describes that
    # generator. Measured on Fashion-MNIST: 0.99997, and 87% of real test images called AI.
    held_out_source: bool


def sources(folder) -> list[str]:
    """Each training image's source: the first sub-folder below its class folder ('' for none).

    Train/AI/sd15/x.png and Train/AI/midjourney/y.png are two generators of class AI."""
    out = []
    for r in folder.train:
        parts = Path(r.path).relative_to(Path(folder.train_dir) / folder.class_names[r.label]).parts
        out.append(parts[0] if len(parts) > 1 else "")
    return out


def validation_split(folder, labels, val_split, seed, validation="auto"):
    """A ValidationSplit: train and validation indices, how they were chosen, whether by source.

    random: a stratified, seeded share of every class. source (leave-one-generator-out): in each
    class with several sources (sub-folders), the whole source nearest in size to the
    validation share is held out; classes with one source give a random share. Validation
    on a generator that training never saw is the only kind that says anything about the
    next, unseen one. auto: source when any class has several sources, else random (what a
    search validates on; `hunt-tf train` resolves auto itself: hunt_tf.train.held_out_estimate).
    """
    if validation not in VALIDATIONS:
        raise DataError(f"unknown validation {validation!r}; choose from {', '.join(VALIDATIONS)}")
    labels = np.asarray(labels)
    origin = np.array(sources(folder)) if val_split > 0 else np.array([""] * len(labels))
    several = _several_sources(origin, labels)
    if validation == "random" or not several:
        if validation == "source":
            raise DataError("--validation source needs sub-folders (one per generator or source) in a class folder, "
                            "e.g. Train/AI/<generator>/...")
        train_idx, val_idx = split(labels, val_split, seed)
        return ValidationSplit(train_idx, val_idx, f"random {val_split:.0%} of each class", False)
    held, rest, notes = [], [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if c not in several:
            shuffled = np.random.default_rng(seed + int(c)).permutation(members)
            k = int(round(val_split * len(members)))
            held, rest = held + shuffled[:k].tolist(), rest + shuffled[k:].tolist()
            continue
        names, counts = np.unique(origin[members], return_counts=True)
        out = names[np.argmin(np.abs(counts - val_split * len(members)))]
        held += members[origin[members] == out].tolist()
        rest += members[origin[members] != out].tolist()
        notes.append(f"{folder.class_names[c]}/{out or '(top level)'}")
    how = f"held-out source(s) {', '.join(notes)} (leave-one-generator-out); random {val_split:.0%} of other classes"
    return ValidationSplit(np.array(sorted(rest)), np.array(sorted(held)), how, True)


def has_sources(folder) -> bool:
    """Whether some class folder holds several sources (sub-folders): what --validation auto holds one of out."""
    return bool(_several_sources(np.array(sources(folder)), np.asarray(folder.labels)))


def _several_sources(origin, labels) -> list:
    return [c for c in np.unique(labels) if len(set(origin[labels == c])) > 1]


def decode_training_images(folder, image_size, resize_mode):
    """Decode Train/ once; files that fail here (truncated after the header) leave training."""
    pixels, ok = files.decode_all(folder.train, image_size, resize_mode)
    kept, labels = keep_decoded(folder, ok)
    return (pixels if len(kept) == len(pixels) else pixels[kept]), labels


def keep_decoded(folder, ok):
    """Drop the training records whose pixels did not decode (`ok` False) from `folder`; returns
    (the kept records' positions in the old list, their labels)."""
    kept = np.flatnonzero(ok)
    if len(kept) < len(folder.train):
        folder.skipped += [r for r, good in zip(folder.train, ok) if not good]
        folder.train = [folder.train[i] for i in kept]
    if len(set(folder.labels.tolist())) < 2:
        raise DataError("fewer than two classes have readable images")
    return kept, folder.labels


def class_weights(labels, num_classes) -> dict:
    """{class: weight}, inverse to its frequency ("balanced"); classes absent here are left out."""
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    # sklearn's "balanced" divides by the classes present; keep the scale of all num_classes.
    scale = len(present) / num_classes
    return {int(c): float(w * scale) for c, w in zip(present, weights)}
