"""The make targets honour the variables the README gives them (checked with `make -n`)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def dry_run(*args):
    done = subprocess.run(["make", "-n", "-o", ".venv/.installed", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_target_honours_run_with_a_default_of_its_own():
    assert "--run runs/gan " in dry_run("gan") and "--run my/gan " in dry_run("gan", "RUN=my/gan")
    assert "--run runs/tune " in dry_run("tune") and "--run my/tune " in dry_run("tune", "RUN=my/tune")
    assert "--run runs/hunt" in dry_run("train-cnn") and "--run my/cnn" in dry_run("train-cnn", "RUN=my/cnn")
    assert "DATA_X --run" in dry_run("train-cnn", "DATA=DATA_X")


def test_trials_means_trials_for_every_tuner():
    assert "--trials 3" in dry_run("tune", "TRIALS=3")  # Hyperband, the default tuner, stops after 3
    assert "--trials" not in dry_run("tune")  # unset: the time budget decides
    assert dry_run("tune-distributed", "TRIALS=4").count("--trials 4") == 2  # the chief and the workers
    assert "--budget-minutes 1 " in dry_run("tune-distributed", "BUDGET=1")


def test_fashion_mnist_is_installed_first_only_where_a_target_reads_it():
    assert "dataset-fashion-mnist" in dry_run("gan", "DATASET=fashion")
    assert "dataset-fashion-mnist" in dry_run("gan-seeds", "DATASET=fashion")
    assert "dataset-fashion-mnist" in dry_run("hunt-bench")
    assert "dataset-fashion-mnist" not in dry_run("gan") and "dataset-fashion-mnist" not in dry_run("train-cnn")
