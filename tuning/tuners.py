"""Which keras-tuner tuner runs the search, and this process's role in a distributed one.

    tuner = make_tuner("hyperband", hypermodel, "runs/tune/tuner", trials=None, max_epochs=15, ...)
    role()    # "single", "chief" (serves the oracle) or "worker", from KERASTUNER_TUNER_ID
"""

from __future__ import annotations

import os

from gradient_hunt.settings import SettingsError

TUNERS = ("hyperband", "bayesian", "random")
PARALLEL_SAFE = ("hyperband", "random")
DEFAULT_TRIALS = 12  # random and bayesian, when --trials is not given; Hyperband runs until the budget


def role():
    """'chief', 'worker' or 'single', from keras-tuner's environment variables."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not tuner_id:
        return "single"
    return "chief" if "chief" in tuner_id else "worker"


def make_tuner(kind, hypermodel, directory, trials, max_epochs, overwrite, seed, distribution_strategy=None,
               iterations=100):
    """A keras-tuner tuner; `trials` caps the number of trials for every kind (None: Hyperband uncapped)."""
    import keras_tuner as kt

    if role() != "single" and kind not in PARALLEL_SAFE:
        raise SettingsError(f"the {kind} tuner is not safe with several workers; use {' or '.join(PARALLEL_SAFE)}")
    # One retry per trial: a trial whose worker died (see tuning.watch) runs again on another.
    common = dict(objective="val_accuracy", directory=str(directory), project_name="hunt", overwrite=overwrite,
                  seed=seed, distribution_strategy=distribution_strategy, max_retries_per_trial=1)
    if kind == "hyperband":
        tuner = kt.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, hyperband_iterations=iterations, **common)
        # Hyperband takes no max_trials, but its oracle honours the base class's cap: past it,
        # create_trial answers STOPPED and the search (distributed too) ends the usual way.
        tuner.oracle.max_trials = trials
        return tuner
    if kind == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=trials or DEFAULT_TRIALS, **common)
    if kind == "random":
        return kt.RandomSearch(hypermodel, max_trials=trials or DEFAULT_TRIALS, **common)
    raise SettingsError(f"unknown tuner {kind!r}; choose from {', '.join(TUNERS)}")
