"""Shortcut audit: does file format, extension, size or colour mode alone predict the label?

    hunt-tf audit DATA

In the first Gradient Hunt, AI images were 512x512 PNG and Real ones small JPEGs: a model
could score 1.0 by reading the file type, and fell to about 0.6 when that was gone. The
audit fits metadata-only models (cross-validated) and says whether Test shares the traits.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier

TRAITS = {
    "format": lambda r: r.format,
    "extension": lambda r: r.extension,
    "size": lambda r: f"{r.width}x{r.height}",
    "mode": lambda r: r.mode,
    "extension lies": lambda r: str(r.extension not in _EXTENSIONS.get(r.format, ())),
}
_EXTENSIONS = {"JPEG": ("jpg", "jpeg", "jfif"), "PNG": ("png",), "WEBP": ("webp",), "AVIF": ("avif",),
               "GIF": ("gif",), "BMP": ("bmp",), "TIFF": ("tif", "tiff")}
SHORTCUT_ACCURACY = 0.9  # above this (and above the majority rate), metadata alone is a shortcut


def _encode(records, traits, vocab=None):
    columns = []
    vocab = vocab or {t: sorted({TRAITS[t](r) for r in records}) for t in traits}
    for t in traits:
        values = [TRAITS[t](r) for r in records]
        columns.append(np.array([[v == choice for choice in vocab[t]] for v in values], dtype=np.float32))
    if "size" in traits:  # sizes also as numbers: "bigger than 256" generalises, exact strings do not
        columns.append(np.array([[r.width, r.height] for r in records], dtype=np.float32))
    return np.concatenate(columns, axis=1), vocab


def metadata_accuracy(records, labels, traits):
    """Cross-validated accuracy of a small decision tree that sees only these traits."""
    x, _ = _encode(records, traits)
    folds = min(5, int(np.bincount(labels).min()))
    if folds < 2:
        return float("nan")
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    return float(cross_val_score(DecisionTreeClassifier(max_depth=4, random_state=0), x, labels, cv=cv).mean())


def audit(folder) -> dict:
    records, labels = folder.train, folder.labels
    majority = float(np.bincount(labels).max() / len(labels))
    result = {"majority_rate": majority, "traits": {}, "classes": {}, "test": {}}
    for trait in TRAITS:
        result["traits"][trait] = metadata_accuracy(records, labels, [trait])
    result["all_metadata"] = metadata_accuracy(records, labels, list(TRAITS))
    for i, name in enumerate(folder.class_names):
        members = [r for r, y in zip(records, labels) if y == i]
        result["classes"][name] = {t: Counter(TRAITS[t](r) for r in members).most_common(3) for t in TRAITS}
    test = [r for r in folder.test if r.ok]
    if test:
        result["test"] = {t: Counter(TRAITS[t](r) for r in test).most_common(3) for t in TRAITS}
    result["shortcut"] = bool(result["all_metadata"] >= max(SHORTCUT_ACCURACY, majority + 0.05))
    return result


def format_audit(result) -> str:
    lines = [f"metadata-only accuracy (5-fold CV; majority class = {result['majority_rate']:.3f}):"]
    for trait, acc in result["traits"].items():
        lines.append(f"  {trait:15s} {acc:.3f}")
    lines.append(f"  {'all together':15s} {result['all_metadata']:.3f}")
    for name, traits in result["classes"].items():
        lines.append(f"class {name}: " + "; ".join(f"{t} {_top(v)}" for t, v in traits.items() if t != "extension lies"))
    if result["test"]:
        lines.append("Test:     " + "; ".join(f"{t} {_top(v)}" for t, v in result["test"].items() if t != "extension lies"))
    if result["shortcut"]:
        lines.append("SHORTCUT: file metadata alone predicts the label. A model can learn the file type instead of "
                     "the image; check that Test looks the same, and consider --resize-mode and --augment robust.")
    else:
        lines.append("no metadata shortcut: format, size and mode do not give the label away.")
    return "\n".join(lines)


def _top(counter_items):
    return ", ".join(f"{v} ({c})" for v, c in counter_items)


def warn_if_shortcut(folder):
    result = audit(folder)
    if result["shortcut"]:
        warnings.warn(f"file metadata alone predicts the label with {result['all_metadata']:.2f} cross-validated "
                      "accuracy; run `hunt-tf audit` for details", stacklevel=2)
    return result
