"""Files written in one step: a reader, a parallel run or a kill -9 never sees half a file.

    with atomic_write(path) as tmp:      # tmp sits beside path and keeps its suffix
        image.save(tmp, format="PNG")
    write_json(run / "metrics.json", metrics)
    save_model(model, run / "model.keras")
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    The temporary name keeps the suffix, for writers that choose a format by it (Keras wants
    .keras, NumPy appends .npz otherwise), and holds the process id, for runs in parallel.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. runs/ on a fresh clone
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text):
    with atomic_write(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, data):
    write_text(path, json.dumps(data, indent=2) + "\n")


def save_model(model, path):
    with atomic_write(path) as tmp:
        model.save(tmp)
