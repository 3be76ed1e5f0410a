"""Self-training on the Test folder (hunt_tf.self_train): what is picked, that it teaches, and the run's record."""

import json
import re
import shutil

import numpy as np

from gradient_hunt.runtime import configure
from hunt_tf import cli, self_train, train
from hunt_tf.config import HuntConfig
from hunt_tf.model import build_model
from hunt_tf.predict import Predictions
from hunt_tf.rows import TrainingRows
from hunt_tf.submit import Outcome, unseen_fakes
from tests.conftest import read_rows, write_messy_folder

TINY = ["--epochs", "1", "--batch-size", "8", "--filters", "4", "--depth", "1", "--image-size", "16",
        "--precision", "float32", "--val-split", "0.3", "--members", "1"]


def test_pick_takes_the_surest_share_of_each_called_class_with_the_class_it_was_called():
    p_ai = np.array([0.9, 0.6, 0.99, 0.7, 0.2, 0.1, 0.45, 0.3, 0.05, 0.4])
    probs = np.stack([p_ai, 1 - p_ai], axis=1)
    # The cut moved: row 6 (P(AI) 0.45) was called AI, row 1 (0.6) Real.
    decided = np.array([0, 1, 0, 0, 1, 1, 0, 1, 1, 1])
    picked, labels = self_train.pick(probs, decided, fraction=0.5)
    # Called AI: rows 0, 2, 3, 6 -> the surest two by P(AI); called Real: six rows -> the three with the highest P(Real).
    assert picked.tolist() == [2, 0, 8, 5, 4]
    assert labels.tolist() == [0, 0, 1, 1, 1]
    # A class nobody was called gets nothing; the other still gets its share.
    picked, labels = self_train.pick(probs, np.ones(10, int), fraction=0.2)
    assert picked.tolist() == [8, 5] and labels.tolist() == [1, 1]


def test_a_test_folder_larger_than_training_or_memory_gives_every_class_a_smaller_share():
    p_ai = np.linspace(0.01, 0.99, 100)
    probs, decided = np.stack([p_ai, 1 - p_ai], axis=1), (p_ai < 0.8).astype(int)  # 20 called AI, 80 Real
    picked, labels = self_train.pick(probs, decided, fraction=0.5, limit=25)
    assert np.sum(labels == 0) == 5 and np.sum(labels == 1) == 20  # a quarter of each instead of half
    assert set(picked[labels == 0]) == set(range(95, 100))  # the surest AI: the highest P(AI)
    assert len(self_train.pick(probs, decided, fraction=0.5, limit=1000)[0]) == 50
    assert self_train.pick_limit(train_rows=400, decode_size=32) == 400  # the labelled rows bound it...
    assert self_train.pick_limit(train_rows=10**6, decode_size=256) == (1 << 30) // (256 * 256 * 3)  # ...or memory


def test_sure_images_whose_probability_reads_1_are_still_told_apart():
    # All four read P(Real) = 1.0 in float32; their P(AI) says which are surest (not their order).
    probs = np.array([[1e-9, 1.0], [1e-25, 1.0], [1e-12, 1.0], [1e-20, 1.0]], np.float32)
    picked, labels = self_train.pick(probs, np.ones(4, int), fraction=0.5)
    assert picked.tolist() == [1, 3] and labels.tolist() == [1, 1]


def test_picked_records_are_records_the_model_saw_and_called_ai():
    p_ai = np.array([0.9, 0.5, 0.95, 0.1, 0.5, 0.05, 0.8, 0.85])
    seen = np.array([True, False, True, True, False, True, True, True])  # 1 and 4: undecodable, the fallback's answer
    called = ["AI", "AI", "AI", "Real", "AI", "Real", "AI", "AI"]
    predicted = Predictions(called, np.stack([p_ai, 1 - p_ai], axis=1), 0.5, None, seen)
    records, labels = self_train.picked_records(predicted, ["AI", "Real"])
    # Of 0, 2, 6, 7 (called AI) the surest half; none of 3, 5: an unseen generator's fakes called Real
    # would be taught as real.
    assert records.tolist() == [2, 0] and labels.tolist() == [0, 0]
    records, labels = self_train.picked_records(predicted, ["AI", "Real"], limit=1)  # the cap counts AI only
    assert records.tolist() == [2]
    swapped = Predictions(called, np.stack([1 - p_ai, p_ai], axis=1), 0.5, None, seen)
    records, labels = self_train.picked_records(swapped, ["Real", "AI"])  # Real first: AI is class 1
    assert records.tolist() == [2, 0] and labels.tolist() == [1, 1]
    pets = Predictions(["cat" if c == "AI" else "dog" for c in called], predicted.probs, 0.5, None, seen)
    assert len(self_train.picked_records(pets, ["cat", "dog"])[0]) == 0  # no Real class: nothing


def _images(value, n, size=8, stripes=False):
    rng = np.random.default_rng(int(value))
    images = np.clip(value + rng.normal(0, 8, (n, size, size, 3)), 0, 255)
    if stripes:
        images[:, ::2] = 255 - images[:, ::2]
    return images.astype(np.uint8)


def test_fine_tune_teaches_the_labels_given_to_the_picked_test_images():
    config = HuntConfig(image_size=8, resize_mode="resize", input="rgb", filters=4, depth=1, batch_size=8,
                        epochs=8, learning_rate=3e-2, augment="none", precision="float32", dropout=0.0)
    runtime = configure("float32")
    rows = TrainingRows.in_memory(np.concatenate([_images(40, 32), _images(210, 32)]), np.repeat([0, 1], 32))
    unseen = _images(128, 64, stripes=True)  # a kind Train never had
    for label in (0, 1):
        model = build_model(config, 8, 2)
        model.fit(rows.dataset(8, seed=0), epochs=8, verbose=0, shuffle=False)
        before = model.predict(unseen, verbose=0)[:, label].mean()
        self_train.fine_tune(model, config, runtime, rows, unseen, np.full(len(unseen), label), 2, verbose=0)
        after = model.predict(unseen, verbose=0)[:, label].mean()
        assert after > max(before, 0.5) + 0.05, (label, before, after)
        # ...and the training rows still are what they were.
        assert model.predict(rows.pixels, verbose=0).argmax(1).tolist() == rows.labels.tolist()


def test_only_test_images_unlike_validation_open_the_gate():
    rng = np.random.default_rng(0)
    reals = list(rng.normal(6, 1, 200))  # validation reals' Real log-odds; its fakes lie far below
    decision = {"threshold": 0.5, "fallback_class": 0, "real_scores": reals}

    def outcome(real_log_odds, adapted=None):
        p_real = 1 / (1 + np.exp(-np.asarray(real_log_odds)))
        probs = np.stack([1 - p_real, p_real], axis=1)
        labels = ["Real" if p >= 0.5 else "AI" for p in p_real]
        return Outcome({}, Predictions(labels, probs, 0.5, adapted, np.ones(len(probs), bool)), decision)

    like_validation = np.r_[rng.normal(6, 1, 500), rng.normal(-6, 1, 500)]
    assert unseen_fakes(outcome(like_validation), ["AI", "Real"]) is None
    unseen = np.r_[rng.normal(6, 1, 500), rng.normal(1.5, 0.5, 500)]  # between the two: Real at 0.5
    assert unseen_fakes(outcome(unseen), ["AI", "Real"]) is not None  # also where --cut validation kept 0.5
    moved = object()
    assert unseen_fakes(outcome(like_validation, adapted=moved), ["AI", "Real"]) is moved  # the cut that moved says so
    assert unseen_fakes(outcome(unseen), ["cat", "dog"]) is None  # no class named Real: no evidence


def opens_the_gate_and_picks_half(monkeypatch):
    """As if Test held an unseen generator, and the first half of the test images were called AI
    (which of them a tiny model calls AI depends on the CPU's arithmetic; picking is tested above)."""
    monkeypatch.setattr(train, "unseen_fakes", lambda *args, **kwargs: object())

    def first_half(predicted, class_names, limit=None):
        half = len(predicted.labels) // 2
        return np.arange(half), np.full(half, class_names.index("AI"))

    monkeypatch.setattr(self_train, "picked_records", first_half)


def test_a_run_without_that_evidence_does_not_self_train_and_says_so(tmp_path, capsys):
    data = write_messy_folder(tmp_path / "data")  # a handful of validation reals: never evidence
    assert cli.main(["train", str(data), "--run", str(tmp_path / "run"), *TINY, "--self-train", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"self-training skipped: \d validation reals, and the adaptive cut's test needs 20", out), out
    record = json.loads((tmp_path / "run" / "self-trained.json").read_text())
    assert record["rounds"] == [] and record["skipped"]
    assert json.loads((tmp_path / "run" / "report" / "report.json").read_text())["self_training"] == record


def test_a_run_self_trains_once_and_records_it(tmp_path, capsys, monkeypatch):
    opens_the_gate_and_picks_half(monkeypatch)
    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--self-train", "2"]) == 0
    out = capsys.readouterr().out
    assert "self-training round 1 of 2" in out and "self-training round 2 of 2" in out
    record = json.loads((run / "self-trained.json").read_text())
    assert len(record["rounds"]) == 2 and sum(record["rounds"][0]["picked"].values()) > 0
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["self_training"] == record and report["n_test"] == len(read_rows(run / "submission.csv"))
    decision = (run / "decision.json").read_text()

    # Run again (the setting is kept): the saved model is the self-trained one (the decision it gives is the one
    # written); it only predicts.
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "already holds this trained run" in out and "self-training round" not in out
    assert (run / "decision.json").read_text() == decision
    assert json.loads((run / "report" / "report.json").read_text())["self_training"] == record


def test_a_run_stopped_in_self_training_keeps_the_trained_run_and_self_trains_when_run_again(
        tmp_path, capsys, monkeypatch):
    opens_the_gate_and_picks_half(monkeypatch)
    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--self-train", "0"]) == 0
    trained = {name: (run / name).read_bytes() for name in ("model.keras", "decision.json", "submission.csv")}
    calls = []

    def stops_in_round_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fine_tune(*args, **kwargs)

    fine_tune = self_train.fine_tune
    monkeypatch.setattr(self_train, "fine_tune", stops_in_round_2)
    # --self-train 2 given to a trained run self-trains it; Ctrl-C in round 2:
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--self-train", "2"]) == 130
    assert {name: (run / name).read_bytes() for name in trained} == trained  # round 1 wrote nothing
    assert not (run / "self-trained.json").exists()
    monkeypatch.setattr(self_train, "fine_tune", fine_tune)
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--self-train", "2"]) == 0
    assert "self-training round 2 of 2" in capsys.readouterr().out
    assert len(json.loads((run / "self-trained.json").read_text())["rounds"]) == 2
    assert (run / "decision.json").read_bytes() != trained["decision.json"]


def test_the_default_self_trains_and_0_or_a_run_without_test_images_does_not(tmp_path, capsys, monkeypatch):
    opens_the_gate_and_picks_half(monkeypatch)
    data = write_messy_folder(tmp_path / "data")
    assert cli.main(["train", str(data), "--run", str(tmp_path / "bad"), *TINY, "--self-train", "-1"]) == 2
    assert "--self-train must be 0 (off) or more rounds (got -1)" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # refused before the run directory is written
    assert cli.main(["train", str(data), "--run", str(tmp_path / "default"), *TINY]) == 0
    assert "self-training round 3 of 3" in capsys.readouterr().out  # the default: 3 rounds where the test says so
    assert len(json.loads((tmp_path / "default" / "self-trained.json").read_text())["rounds"]) == 3
    assert cli.main(["train", str(data), "--run", str(tmp_path / "off"), *TINY, "--self-train", "0"]) == 0
    assert "self-training" not in capsys.readouterr().out
    assert not (tmp_path / "off" / "self-trained.json").exists()
    assert "self_training" not in json.loads((tmp_path / "off" / "report" / "report.json").read_text())
    pets = shutil.copytree(data, tmp_path / "pets")  # no class named Real: nothing to teach as AI
    (pets / "Train" / "AI").rename(pets / "Train" / "cat")
    (pets / "Train" / "Real").rename(pets / "Train" / "dog")
    assert cli.main(["train", str(pets), "--run", str(tmp_path / "pets-run"), *TINY, "--self-train", "2"]) == 0
    assert "no self-training: it needs" in capsys.readouterr().out  # asked for: said why not
    assert not (tmp_path / "pets-run" / "self-trained.json").exists()
    for f in (data / "Test").iterdir():  # only a broken file left: nothing to learn from, still an answer
        if f.name != "broken.jpg":
            f.unlink()
    assert cli.main(["train", str(data), "--run", str(tmp_path / "broken"), *TINY, "--self-train", "2"]) == 0
    assert json.loads((tmp_path / "broken" / "self-trained.json").read_text())["rounds"] == []
    assert [r["Id"] for r in read_rows(tmp_path / "broken" / "submission.csv")] == ["broken"]
    shutil.rmtree(data / "Test")
    assert cli.main(["train", str(data), "--run", str(tmp_path / "no-test"), *TINY, "--self-train", "2"]) == 0
    assert not (tmp_path / "no-test" / "self-trained.json").exists()


def test_rounds_stop_and_say_so_when_nothing_is_left_to_pick(tmp_path, capsys, monkeypatch):
    opens_the_gate_and_picks_half(monkeypatch)
    half = self_train.picked_records
    calls = []

    def nothing_after_round_1(predicted, class_names, limit=None):
        calls.append(1)
        return half(predicted, class_names, limit) if len(calls) == 1 else (np.zeros(0, int), np.zeros(0, int))

    monkeypatch.setattr(self_train, "picked_records", nothing_after_round_1)
    data = write_messy_folder(tmp_path / "data")
    assert cli.main(["train", str(data), "--run", str(tmp_path / "run"), *TINY, "--self-train", "3"]) == 0
    out = capsys.readouterr().out
    assert "self-training round 1 of 3" in out and "self-training round 2 of 3" not in out
    assert out.count("self-training stopped after 1 round(s): the model calls too few test images AI to pick any") == 1
    assert len(calls) == 2  # no third round was tried
    assert len(json.loads((tmp_path / "run" / "self-trained.json").read_text())["rounds"]) == 1
