import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hunt_tf import cli, optim
from tests.conftest import read_rows, write_messy_folder

TINY = ["--epochs", "2", "--batch-size", "8", "--filters", "4", "--depth", "2", "--image-size", "16",
        "--precision", "float32", "--val-split", "0.3", "--members", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("hunt")
    data = write_messy_folder(root / "data")
    run = root / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0
    return data, run


def test_train_writes_model_report_and_submission(trained):
    data, run = trained
    for name in ("model.keras", "best.keras", "config.json", "classes.json", "history.csv", "submission.csv",
                 "report/report.json", "report/confusion_matrix.png", "report/roc.png", "report/misclassified.png"):
        assert (run / name).exists(), name
    report = json.loads((run / "report" / "report.json").read_text())
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "threshold"} <= set(report)
    config = json.loads((run / "config.json").read_text())
    assert (config["image_size"], config["input"], config["head"]) == (16, "rgb", "gap")  # resolved from the data
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


def test_submission_has_exactly_the_test_ids(trained):
    data, run = trained
    rows = read_rows(run / "submission.csv")
    expected = sorted(p.stem for p in (data / "Test").iterdir())
    assert sorted(r["Id"] for r in rows) == expected  # the undecodable broken.jpg included
    assert {r["Label"] for r in rows} <= {"AI", "Real"}


def test_predict_cli_in_a_fresh_process_matches_the_training_run(trained, tmp_path):
    # A new interpreter, as users run it: the saved model's custom layers must load there too.
    data, run = trained
    out = tmp_path / "sub.csv"
    done = subprocess.run([sys.executable, "-m", "hunt_tf.cli", "predict", "--run", str(run), "--images",
                           str(data / "Test"), "--out", str(out)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1])))
    assert done.returncode == 0, done.stderr
    assert read_rows(out) == read_rows(run / "submission.csv")


def test_epochs_and_patience_from_the_data_are_recorded_and_trained(tmp_path, monkeypatch):
    monkeypatch.setattr(optim, "MIN_STEPS", 1000)  # more steps than the cap allows: the cap decides
    monkeypatch.setattr(optim, "MAX_EPOCHS", 3)
    monkeypatch.setattr(optim, "MIN_EPOCHS", 2)
    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY[2:]]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["epochs"], config["patience"]) == (3, optim.MIN_PATIENCE)
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 3


def test_auto_epochs_count_the_rows_an_epoch_passes_over(tmp_path, monkeypatch):
    monkeypatch.setattr(optim, "MIN_STEPS", 24)
    monkeypatch.setattr(optim, "MIN_EPOCHS", 1)
    monkeypatch.setattr(optim, "MIN_PATIENCE", 1)
    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    args = ["--batch-size", "3", "--val-split", "0.5", "--filters", "4", "--depth", "1", "--image-size", "16",
            "--precision", "float32", "--members", "1"]
    assert cli.main(["train", str(data), "--run", str(run), *args]) == 0
    config = json.loads((run / "config.json").read_text())
    # 18 Train files that scan (6 Real) + 6 resample fakes (auto at 16 px) = 24 rows, half of
    # them 12: 4 steps of 3, 6 epochs for 24 steps. Without the fakes 8, without the share 3.
    assert config["extra_fakes"] == "resample" and config["epochs"] == 6
    assert config["patience"] == 2  # a third of the resolved epochs


def test_missing_test_folder_trains_only(tmp_path):
    data = write_messy_folder(tmp_path / "data")
    shutil.rmtree(data / "Test")
    assert cli.main(["train", str(data), "--run", str(tmp_path / "run"), *TINY]) == 0
    assert (tmp_path / "run" / "model.keras").exists()
    assert not (tmp_path / "run" / "submission.csv").exists()


def test_three_classes_with_other_names(tmp_path):
    data = write_messy_folder(tmp_path / "data", classes=("cats", "dogs", "foxes"), test_dir="Test_Images")
    assert cli.main(["train", str(data), "--run", str(tmp_path / "run"), *TINY, "--augment", "robust"]) == 0
    assert {r["Label"] for r in read_rows(tmp_path / "run" / "submission.csv")} <= {"cats", "dogs", "foxes"}
    assert cli.main(["evaluate", "--run", str(tmp_path / "run"), "--data", str(data)]) == 0
    assert (tmp_path / "run" / "evaluation" / "confusion_matrix.png").exists()


def test_tuned_hparams_are_picked_up_and_command_line_wins(trained, tmp_path, capsys):
    data, _ = trained
    hp = tmp_path / "best_hparams.json"
    hp.write_text(json.dumps({"hparams": {"l2": 0.001, "dropout": 0.1, "kernel_size": 5}}))
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--hparams", str(hp), "--dropout", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "using tuned hyperparameters" in out
    assert "held-out source" not in out  # one source per class: a random split, nothing held out
    config = json.loads((run / "config.json").read_text())
    assert (config["l2"], config["kernel_size"], config["dropout"], config["filters"]) == (0.001, 5, 0.2, 4)


@pytest.mark.parametrize("name, value", [("augment", "heavy"), ("schedule", "cosin"), ("head", "flat"),
                                         ("cache", "ssd"), ("cut", "fitted")])
def test_a_mistyped_choice_in_an_hparams_file_stops_before_the_run_is_written(tmp_path, capsys, name, value):
    hp = tmp_path / "best_hparams.json"
    hp.write_text(json.dumps({"hparams": {name: value}}))  # hand-edited: argparse never saw it
    run = tmp_path / "run"
    assert cli.main(["train", str(tmp_path / "nowhere"), "--run", str(run), "--hparams", str(hp)]) == 2
    err = capsys.readouterr().err
    assert f"error: unknown {name} {value!r}; choose from " in err and err.count("\n") == 1
    assert not run.exists()  # refused before the data is read or a run directory written


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert cli.main(["train", str(tmp_path / "nowhere"), "--run", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == f"hunt-tf train: error: data folder not found: {tmp_path / 'nowhere'}"
    assert cli.main(["predict", "--run", str(tmp_path), "--images", str(tmp_path)]) == 2
    assert "not a trained hunt-tf run" in capsys.readouterr().err


def test_audit_cli_prints_the_table(trained, capsys):
    data, _ = trained
    assert cli.main(["audit", str(data)]) == 0
    out = capsys.readouterr().out
    assert "metadata-only accuracy" in out and "class AI:" in out and "Test:" in out


def test_every_train_option_says_what_it_does_and_how_to_turn_a_switch_off(capsys):
    # Help comes from HuntConfig's comments: a field without one printed only "(default: 3)".
    from hunt_tf.config import HuntConfig

    described = HuntConfig.comments()
    assert [name for name in HuntConfig.field_names() if not described.get(name)] == []
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["train", "--help"])
    assert "--batchnorm {true,false}" in capsys.readouterr().out
