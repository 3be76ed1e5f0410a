"""Predictions for a folder of images and the submission.csv (Id, Label), written atomically.

Every file gets exactly one row: files that cannot be decoded get the most common
training class (and a warning), so a submission is never short of ids. Two files that
would share an Id (`a.jpg` and `a.png`, or `x/1.png` and `y/1.png`) are an error that
names them, unless `--ids name|path` makes the ids distinct.
"""

from __future__ import annotations

import csv
import json
import typing
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gradient_hunt.atomic import atomic_write
from hunt_tf.adaptive_cut import AdaptedCut, adapted_cut
from hunt_tf.choices import ID_STYLES
from hunt_tf.crops import average_over_tiles
from hunt_tf.errors import DataError
from hunt_tf.files import decode_all
from hunt_tf.report import predict_labels


def submission_ids(records, root, style="stem") -> list[str]:
    """One Id per record: the file name without extension (stem, Kaggle's usual), with it
    (name), or the path below the test folder (path); colliding ids are a DataError."""
    if style not in ID_STYLES:
        raise DataError(f"unknown id style {style!r}; choose from {', '.join(ID_STYLES)}")
    relative = [Path(r.path).relative_to(root) if root is not None and Path(r.path).is_relative_to(root)
                else Path(Path(r.path).name) for r in records]
    ids = [{"stem": p.stem, "name": p.name, "path": p.as_posix()}[style] for p in relative]
    owners = defaultdict(list)
    for i, p in zip(ids, relative):
        owners[i].append(p.as_posix())
    clashes = {i: paths for i, paths in owners.items() if len(paths) > 1}
    if clashes:
        shown = "; ".join(f"{i!r} <- {', '.join(paths)}" for i, paths in list(clashes.items())[:3])
        better = ID_STYLES[ID_STYLES.index(style) + 1 :]
        raise DataError(f"{len(clashes)} submission id(s) would appear twice: {shown}"
                        + (f"; choose how ids are formed with --ids {'|'.join(better)}" if better else ""))
    return ids


# Images predicted (and, from files, decoded) per step: memory for this many, however many there are.
CHUNK = 1024


def predict_pixels(model, pixels, batch_size=64, tta=False):
    """Class probabilities for uint8 images (an array, or anything sliced into one such as
    hunt_tf.cache.CachedRows); `tta` also averages in the mirrored images.

    Images larger than the model's input (crop mode) are predicted as the mean over a grid of
    crops that covers them (hunt_tf.crops). The pixels go in as uint8, CHUNK at a time: Keras
    casts each batch to the model's input dtype, so a large set is never held as float32.
    """
    if len(pixels) > CHUNK or not isinstance(pixels, np.ndarray):
        parts = [predict_pixels(model, np.asarray(pixels[s : s + CHUNK]), batch_size, tta)
                 for s in range(0, len(pixels), CHUNK)]
        return np.concatenate(parts) if parts else np.zeros((0, model.output_shape[-1]), np.float32)

    def predict(images):
        probs = model.predict(images, batch_size=batch_size, verbose=0)
        if tta:
            probs = (probs + model.predict(images[:, :, ::-1, :], batch_size=batch_size, verbose=0)) / 2.0
        return probs

    crop = model.input_shape[1]
    if len(pixels) and crop and crop < pixels.shape[1]:
        return average_over_tiles(predict, pixels, crop)
    return predict(pixels)


class Predictions(typing.NamedTuple):
    labels: list[str]  # class names, one per record
    probs: np.ndarray  # (records, classes); undecodable records: one-hot of the fallback class
    threshold: float | None  # the cut on P(class 1) that was asked for
    adapted: AdaptedCut | None  # where the cut moved to on these images instead (hunt_tf.adaptive_cut), or None
    seen: np.ndarray  # (records,) bool: decoded and predicted by the model (the rest got the fallback)


def predict_records(model, records, class_names, image_size, resize_mode="resize", threshold=None,
                    fallback_label=0, tta=False, progress=True, real_scores=None) -> Predictions:
    """Labels and probabilities for every record, decodable or not (those get `fallback_label`).

    `image_size` is the decode size (HuntConfig.decode_size): the crop source in crop mode.
    With `real_scores` (the validation reals', from decision.json, predicted the same way: with
    mirrors when `tta`) the cut may move toward Real when these images show fakes unlike the
    validation's (hunt_tf.adaptive_cut)."""
    readable = [i for i, r in enumerate(records) if r.ok]  # the rest failed at the header already
    probs = np.tile(np.eye(len(class_names), dtype=np.float32)[fallback_label], (len(records), 1))
    seen = np.zeros(len(records), bool)  # the rows the model predicted (not the fallback's)
    bar = tqdm(total=len(readable), desc="predicting", unit="file", disable=None if progress else True,
               leave=False)  # None: on a terminal only
    for start in range(0, len(readable), CHUNK):  # decoded a chunk at a time: a Test folder of any size
        chunk = np.array(readable[start : start + CHUNK])
        pixels, decoded = decode_all([records[i] for i in chunk], image_size, resize_mode, progress=False)
        if decoded.any():
            probs[chunk[decoded]] = predict_pixels(model, pixels[decoded], tta=tta)
            seen[chunk[decoded]] = True
        bar.update(len(chunk))
    bar.close()
    labels = predict_labels(probs, threshold)
    cut = adapted_cut(threshold, real_scores, probs[seen], class_names)  # None without validation reals
    if cut is not None:  # only the images the model saw tell where their fakes lie
        labels[seen] = cut.decide(probs[seen])
    return Predictions([class_names[i] for i in labels], probs, threshold, cut, seen)


def write_submission(path, ids, labels):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Label"])
        writer.writerows(zip(ids, labels))


def read_submission(path) -> dict:
    """A submission CSV's answers: Id -> Label."""
    with open(path, newline="") as f:
        return {row["Id"]: row["Label"] for row in csv.DictReader(f)}


def load_decision(run_dir: Path) -> dict:
    """decision.json of a run ({threshold, fallback_class, real_scores[, real_scores_tta]}); older
    runs wrote threshold.json only."""
    run_dir = Path(run_dir)
    if (run_dir / "decision.json").exists():
        return json.loads((run_dir / "decision.json").read_text())
    if (run_dir / "threshold.json").exists():
        warnings.warn(f"{run_dir} predates decision.json: undecodable files get class 0, not the majority class; "
                      "retrain it (--fresh) to record that", stacklevel=2)
        return {"fallback_class": 0, **json.loads((run_dir / "threshold.json").read_text())}
    return {"threshold": None, "fallback_class": 0}
