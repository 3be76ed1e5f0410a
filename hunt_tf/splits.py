"""Training arrays from a scanned folder: decode once, a stratified seeded split, class weights.

    pixels, labels = decode_training_images(folder, image_size=64, resize_mode="resize")
    train_idx, val_idx = split(labels, val_split=0.2, seed=0)
    weights = class_weights(labels[train_idx], num_classes=2)   # for model.fit(class_weight=...)
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from hunt_tf import files
from hunt_tf.errors import DataError


def split(labels, val_split, seed):
    """Stratified, seeded train/validation indices."""
    labels = np.asarray(labels)
    if val_split <= 0:
        return np.arange(len(labels)), np.array([], dtype=int)
    if np.bincount(labels).min() < 2:
        raise DataError("every class needs at least 2 readable images for a validation split")
    return train_test_split(np.arange(len(labels)), test_size=val_split, stratify=labels, random_state=seed)


def decode_training_images(folder, image_size, resize_mode):
    """Decode Train/ once; files that fail here (truncated after the header) leave training."""
    pixels, ok = files.decode_all(folder.train, image_size, resize_mode)
    if not ok.all():
        folder.skipped += [r for r, good in zip(folder.train, ok) if not good]
        folder.train = [r for r, good in zip(folder.train, ok) if good]
        pixels = pixels[ok]
    if len(set(folder.labels.tolist())) < 2:
        raise DataError("fewer than two classes have readable images")
    return pixels, folder.labels


def class_weights(labels, num_classes) -> dict:
    """{class: weight}, inverse to its frequency ("balanced"); classes absent here are left out."""
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    # sklearn's "balanced" divides by the classes present; keep the scale of all num_classes.
    scale = len(present) / num_classes
    return {int(c): float(w * scale) for c, w in zip(present, weights)}
