"""What a search leaves behind: trials.csv, best_hparams.json, the untuned baseline, a table.

    rows, best = write_outputs(tuner, run_dir, untuned=untuned_baseline(hypermodel, run_dir, epochs=15))

Only trials that finished with a score compete: a running, failed or invalid trial, and a
trial cut short by the time budget (fewer epochs than the rest), are listed but never best.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from gradient_hunt.atomic import atomic_write, write_json
from gradient_hunt.errors import UserError


class NothingFinished(UserError):
    """A search with no finished trial (and no untuned baseline) has no best hyperparameters."""


def _largest(trial, name):
    """The largest value a metric took in a trial (workers report every epoch: the best is not the answer)."""
    return trial.metrics.get_statistics(name).get("max") if trial.metrics.exists(name) else None


def was_cut(trial) -> bool:
    """True for a trial that the time budget stopped before its last epoch."""
    return bool(_largest(trial, "budget_cut"))


def competes(trial) -> bool:
    """A trial whose score may be the best: it finished all its epochs, and has a score."""
    return trial.status == "COMPLETED" and trial.score is not None and not was_cut(trial)


def trial_rows(tuner):
    """One row per trial the oracle knows: id, status (CUT: stopped by the budget), score, seconds, values."""
    rows = []
    for trial in tuner.oracle.trials.values():
        seconds = _largest(trial, "trial_seconds")
        status = "CUT" if trial.status == "COMPLETED" and was_cut(trial) else trial.status
        row = {"trial": trial.trial_id, "status": status, "score": trial.score,
               "seconds": None if seconds is None else round(seconds, 1)}
        row.update(trial.hyperparameters.values)
        rows.append(row)
    return rows


def write_outputs(tuner, run_dir, untuned=None, data_settings=None):
    """trials.csv (the untuned defaults as a row of their own) and best_hparams.json.

    `data_settings` (image size, resize mode) go into best_hparams.json's hparams too:
    a model is tuned for the pixels it was shown, and `hunt-tf train --hparams` must show it the same."""
    run_dir = Path(run_dir)
    rows = trial_rows(tuner)
    untuned_score = None if untuned is None else untuned["score"]
    if untuned is not None:
        rows.append({"trial": "untuned", "status": "COMPLETED", "score": untuned_score, "seconds": untuned["seconds"],
                     **untuned["hparams"]})
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0)))  # best first, unscored last
    first = ["trial", "status", "score", "seconds"]
    fields = first + sorted({k for r in rows for k in r} - set(first))
    with atomic_write(run_dir / "trials.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    # Not oracle.get_best_trials: it pads its answer with running and invalid trials (score None).
    finished = sorted((t for t in tuner.oracle.trials.values() if competes(t)), key=lambda t: -t.score)
    if not finished and untuned_score is None:
        raise NothingFinished("no trial finished, so there are no best hyperparameters to write; "
                              "give the search more time (--budget-minutes) or run it again to continue")
    if finished and (untuned_score is None or finished[0].score > untuned_score):
        best = finished[0]
        hparams = built_settings(best.hyperparameters)
        result = {"trial_id": best.trial_id, "score": best.score}
    else:  # the search found nothing better than the defaults: say so, and recommend them
        hparams = dict(untuned["hparams"])
        result = {"trial_id": "untuned", "score": untuned_score}
    result.update(objective="val_accuracy", untuned_score=untuned_score, hparams={**hparams, **(data_settings or {})})
    write_json(run_dir / "best_hparams.json", result)
    return rows, result


def built_settings(hp) -> dict:
    """The settings a trial's model was built with (not Hyperband's bookkeeping, and not a
    value the space ignored: `input` is RGB for a keras.applications backbone)."""
    from tuning.hypermodel import define_space

    names = list(hp.values)  # define_space adds what it declares: a trial from an older space lacks `convs`
    config = define_space(hp.copy())
    return {k: getattr(config, k) for k in names if not k.startswith("tuner/") and hasattr(config, k)}


def untuned_baseline(hypermodel, run_dir, epochs):
    """{score, epochs, seconds, hparams} of the untuned defaults, same data and epochs; cached for
    resumes. `hparams` names them as the search space does, for trials.csv and best_hparams.json."""
    import keras_tuner as kt

    path = Path(run_dir) / "untuned.json"
    if path.exists():
        baseline = json.loads(path.read_text())
        baseline.setdefault("hparams", hypermodel.untuned_hparams())  # a file from before it was recorded
        return baseline
    hp = kt.HyperParameters()
    start = time.time()
    history = hypermodel.fit(hp, hypermodel.build(hp), epochs=epochs, verbose=0)
    baseline = {"score": float(max(history.history["val_accuracy"])), "epochs": epochs,
                "seconds": round(time.time() - start, 1), "hparams": hypermodel.untuned_hparams()}
    write_json(path, baseline)
    return baseline


def print_table(rows, limit=10):
    keys = ["trial", "status", "score", "seconds", "backbone", "filters", "depth", "convs", "kernel_size", "augment", "optimizer",
            "learning_rate", "batch_size"]
    print("  ".join(f"{k[:12]:>12s}" for k in keys))
    for r in rows[:limit]:
        cells = []
        for k in keys:
            v = r.get(k)
            cells.append(f"{v:12.4g}" if isinstance(v, float) else f"{str(v):>12s}")
        print("  ".join(cells))
