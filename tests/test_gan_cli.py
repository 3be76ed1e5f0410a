import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_tf import callbacks, cli, train

TINY = ["--batch-size", "32", "--latent-dim", "8", "--width", "4", "--eval-samples", "50", "--eval-every", "1",
        "--precision", "float32"]


@pytest.fixture
def tiny_run(tmp_path, idx_dir):
    run = tmp_path / "run"
    rc = cli.main(["train", "--dataset", f"idx:{idx_dir}", "--epochs", "1", "--run", str(run), *TINY])
    assert rc == 0
    return run


def test_train_writes_a_complete_run_directory(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.json", "generator.keras", "history.csv", "quality.csv", "metrics.json", "logs", "samples",
            "checkpoints"} <= names
    assert (tiny_run / "samples" / "epoch_001.png").exists()
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and math.isfinite(metrics["fcd"]) and metrics["fcd_real_floor"] >= 0
    assert json.loads((tiny_run / "config.json").read_text())["width"] == 4
    assert any((tiny_run / "logs").rglob("events.out.tfevents*"))


def test_resume_continues_from_the_last_checkpoint(tiny_run, capsys):
    import keras

    before = keras.saving.load_model(tiny_run / "generator.keras").get_weights()
    # What --resume restores is exactly what the last epoch wrote.
    gan = train.build_gan(train.GANConfig.load(tiny_run / "config.json"), num_classes=10)
    train.compile_gan(gan, train.GANConfig.load(tiny_run / "config.json"), jit_compile=False)
    assert callbacks.Checkpoint(tiny_run).attach(gan) == 1
    for a, b in zip(before, gan.sampler.get_weights()):  # generator.keras holds the weight average
        np.testing.assert_array_equal(a, b)
    assert int(gan.g_optimizer.iterations.numpy()) == 6  # 200 images / batch 32

    assert cli.main(["train", "--run", str(tiny_run), "--epochs", "2", "--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    history = (tiny_run / "history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]  # one row per epoch, none redone
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    # One training clock for the run: it carries across the resume, and quality.csv reads it.
    with open(tiny_run / "quality.csv") as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    assert len(seconds) == 2 and 0 < seconds[0] < seconds[1] <= metrics["seconds"] + 0.1


def test_existing_run_without_resume_or_with_other_settings_is_refused(tiny_run, capsys):
    assert cli.main(["train", "--run", str(tiny_run), "--epochs", "2"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert cli.main(["train", "--run", str(tiny_run), "--resume", "--arch", "dense"]) == 2
    assert "arch='dcgan' (asked: 'dense')" in capsys.readouterr().err


def test_sample_writes_npz_and_png(tiny_run, tmp_path):
    # The first in a fresh interpreter, as users run it: the generator's custom layers must load there.
    done = subprocess.run([sys.executable, "-m", "gan_tf.cli", "sample", "--run", str(tiny_run), "--n", "5", "--out",
                           str(tmp_path / "fakes.npz")], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1])))
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "fakes.npz") as f:
        assert list(f) == ["images"]
        assert f["images"].dtype == np.uint8 and f["images"].shape == (5, 28, 28, 1)
    assert cli.main(["sample", "--run", str(tiny_run), "--n", "3", "--out", str(tmp_path / "pngs")]) == 0
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [f"sample_{i:05d}.png" for i in range(3)]


def test_conditional_run_draws_the_requested_digit_shape(tmp_path, idx_dir, capsys):
    run = tmp_path / "cgan"
    assert cli.main(["train", "--dataset", f"idx:{idx_dir}", "--conditional", "--epochs", "1", "--run", str(run),
                     *TINY]) == 0
    assert cli.main(["sample", "--run", str(run), "--n", "4", "--digit", "7", "--out", str(tmp_path / "s.npz")]) == 0
    assert "conditional_accuracy" in json.loads((run / "metrics.json").read_text())
    assert cli.main(["sample", "--run", str(run), "--n", "4", "--digit", "11", "--out", str(tmp_path / "x.npz")]) == 2
    assert "digit must be in 0..9" in capsys.readouterr().err


def test_evaluate_reports_distance_and_floor(tiny_run, capsys):
    assert cli.main(["evaluate", "--run", str(tiny_run), "--n", "50"]) == 0
    out = capsys.readouterr().out
    assert "classifier distance (FCD)" in out and "real-vs-real floor" in out
    assert json.loads((tiny_run / "evaluation.json").read_text())["n_samples"] == 50


def test_bad_input_gives_one_error_line_and_exit_code_2(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "cifar", "--run", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-tf train: error: unknown dataset 'cifar'") and err.count("\n") == 1
    assert cli.main(["sample", "--run", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "not a finished or checkpointed gan-tf run" in capsys.readouterr().err


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    class FakeModel:
        stop_training = False

    guard = callbacks.NaNGuard()
    guard.set_model(FakeModel())
    guard.on_train_batch_end(3, {"d_loss": 0.5, "g_loss": float("nan")})
    assert guard.model.stop_training and guard.tripped

    checkpoint = callbacks.Checkpoint(tmp_path)
    checkpoint.on_epoch_end(4, {"d_loss": float("nan")})  # returns before touching the (absent) manager
    assert not (tmp_path / "checkpoints").exists()


def test_training_runs_under_a_mirrored_strategy(tmp_path, idx_dir):
    # One CPU replica here; the same code path splits batches across GPUs.
    run = tmp_path / "mirrored"
    assert cli.main(["train", "--dataset", f"idx:{idx_dir}", "--epochs", "1", "--run", str(run), "--strategy",
                     "mirrored", *TINY]) == 0
    assert math.isfinite(json.loads((run / "metrics.json").read_text())["fcd"])


def test_help_texts_come_from_the_config_comments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "size of the noise vector (default: 64)" in out


def test_the_same_seed_gives_the_same_run_whether_the_judge_was_cached_or_not(tmp_path, idx_dir, monkeypatch):
    import keras

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # run 1 trains the judge first
    args = ["train", "--dataset", f"idx:{idx_dir}", "--epochs", "1", *TINY, "--seed", "3"]
    assert cli.main([*args, "--run", str(tmp_path / "first")]) == 0
    assert cli.main([*args, "--run", str(tmp_path / "second")]) == 0  # run 2 loads it from the cache
    first, second = (keras.saving.load_model(tmp_path / name / "generator.keras").get_weights()
                     for name in ("first", "second"))
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, atol=1e-5)
