"""Predictions for a folder of images and the submission.csv (Id, Label), written atomically.

Every file gets exactly one row: files that cannot be decoded get the most common
training class (and a warning), so a submission is never short of ids.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from hunt_tf.data import make_dataset
from hunt_tf.report import predict_labels


def predict_probs(model, paths, image_size, resize_mode="resize", batch_size=64, tta=False):
    """Class probabilities for image files; `tta` also averages in the mirrored images."""
    if not len(paths):
        return np.zeros((0, model.output_shape[-1]), np.float32)
    ds = make_dataset(paths, None, image_size, resize_mode, batch_size)
    probs = model.predict(ds, verbose=0)
    if tta:
        probs = (probs + model.predict(ds.map(lambda x: x[:, :, ::-1, :]), verbose=0)) / 2.0
    return probs


def predict_records(model, records, class_names, image_size, resize_mode="resize", threshold=None,
                    fallback_label=0, tta=False):
    """(ids, label names, probabilities) for every record, decodable or not."""
    ok = [r for r in records if r.ok]
    probs_ok = predict_probs(model, [r.path for r in ok], image_size, resize_mode, tta=tta)
    by_path = dict(zip((r.path for r in ok), probs_ok))
    fallback = np.eye(len(class_names), dtype=np.float32)[fallback_label]
    probs = np.stack([by_path.get(r.path, fallback) for r in records]) if records else probs_ok
    labels = predict_labels(probs, threshold)
    return [r.id for r in records], [class_names[i] for i in labels], probs


def write_submission(path, ids, labels):
    duplicates = [i for i, c in Counter(ids).items() if c > 1]
    if duplicates:
        warnings.warn(f"{len(duplicates)} id(s) appear twice (same name, different extension): "
                      f"{', '.join(duplicates[:5])}", stacklevel=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Label"])
        writer.writerows(zip(ids, labels))
    os.replace(tmp, path)
