"""Predictions for a folder of images and the submission.csv (Id, Label), written atomically.

Every file gets exactly one row: files that cannot be decoded get the most common
training class (and a warning), so a submission is never short of ids.
"""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from gan_tf.atomic import atomic_write
from hunt_tf.files import decode_all
from hunt_tf.report import predict_labels


def predict_pixels(model, pixels, batch_size=64, tta=False):
    """Class probabilities for uint8 images; `tta` also averages in the mirrored images.

    The pixels go in as uint8: Keras casts each batch to the model's input dtype, so a large
    test set is never held as float32 (4x the memory) all at once.
    """
    probs = model.predict(pixels, batch_size=batch_size, verbose=0)
    if tta:
        probs = (probs + model.predict(pixels[:, :, ::-1, :], batch_size=batch_size, verbose=0)) / 2.0
    return probs


def predict_records(model, records, class_names, image_size, resize_mode="resize", threshold=None,
                    fallback_label=0, tta=False, progress=True):
    """(ids, label names, probabilities) for every record, decodable or not."""
    readable = [i for i, r in enumerate(records) if r.ok]  # the rest failed at the header already
    pixels, decoded = decode_all([records[i] for i in readable], image_size, resize_mode, progress)
    probs = np.tile(np.eye(len(class_names), dtype=np.float32)[fallback_label], (len(records), 1))
    if decoded.any():
        probs[np.array(readable)[decoded]] = predict_pixels(model, pixels[decoded], tta=tta)
    labels = predict_labels(probs, threshold)
    return [r.id for r in records], [class_names[i] for i in labels], probs


def write_submission(path, ids, labels):
    duplicates = [i for i, c in Counter(ids).items() if c > 1]
    if duplicates:
        warnings.warn(f"{len(duplicates)} id(s) appear twice (same name, different extension): "
                      f"{', '.join(duplicates[:5])}", stacklevel=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Label"])
        writer.writerows(zip(ids, labels))
