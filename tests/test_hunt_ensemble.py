"""--members: several networks from different seeds, averaged into one saved model."""

import json

import keras
import numpy as np
import pytest

from gradient_hunt.atomic import save_model
from gradient_hunt.settings import SettingsError
from hunt_tf import cli, ensemble
from hunt_tf.config import HuntConfig
from hunt_tf.explain import heatmaps
from hunt_tf.model import build_classifier
from hunt_tf.predict import predict_pixels
from tests.conftest import read_rows, write_messy_folder

TINY = ["--epochs", "1", "--batch-size", "8", "--filters", "4", "--depth", "1", "--image-size", "16",
        "--precision", "float32", "--val-split", "0.3"]


def pixels(n=6, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def members(n, size=16):
    out = []
    for k in range(n):
        keras.utils.set_random_seed(k)
        out.append(build_classifier(size, 2, filters=4, depth=1))
    return out


@pytest.mark.parametrize(("members", "seconds", "expected"), [
    (2, [], True), (2, [500.0], True), (2, [1.0, 1.0], False),  # a number: exactly that many, whatever the time
    (0, [], True),  # auto: the first always
    (0, [100.0], True),  # 100 s so far + one more like the slowest = 200 s
    (0, [100.0, 100.0], True),  # 200 + 100 = 300 s: just inside
    (0, [150.0, 150.0], False),  # 300 + 150 s
    (0, [200.0], False),  # 400 s
    (0, [1.0, 1.0, 1.0], False),  # never more than AUTO_MAX_MEMBERS
])
def test_members_are_a_number_or_as_many_as_the_time_budget_allows(members, seconds, expected, monkeypatch):
    monkeypatch.setattr(ensemble, "AUTO_BUDGET_S", 300.0)
    assert ensemble.wants_another(members, seconds) is expected


def test_the_budget_expects_the_slowest_member_again_not_the_last(monkeypatch):
    monkeypatch.setattr(ensemble, "AUTO_BUDGET_S", 300.0)
    assert not ensemble.wants_another(0, [150.0, 10.0])  # 160 + 150 > 300, though the last took 10 s
    assert ensemble.wants_another(0, [140.0, 10.0])  # 150 + 140


def test_negative_members_are_refused():
    with pytest.raises(SettingsError, match="--members"):
        ensemble.wants_another(-1, [])


def test_a_run_saved_before_members_existed_had_one_network(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 3}))
    assert HuntConfig.load(tmp_path / "config.json").members == 1


def test_the_combined_model_outputs_the_mean_of_its_members_and_survives_saving(tmp_path):
    nets = members(3)
    model = ensemble.combine(nets)
    x = pixels().astype("float32")
    expected = np.mean([net.predict(x, verbose=0) for net in nets], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(nets[0].predict(x, verbose=0), nets[1].predict(x, verbose=0))  # the mean is not a copy
    save_model(model, tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert len(ensemble.members_of(loaded)) == 3


def test_one_member_is_the_network_itself():
    net = members(1)[0]
    assert ensemble.combine([net]) is net
    assert ensemble.members_of(net) == [net]


def test_an_ensemble_is_explained_by_its_members_heat_averaged():
    nets = members(2)
    model = ensemble.combine(nets)
    x = pixels(4)
    classes = predict_pixels(model, x).argmax(1)
    each = [heatmaps(net, x, classes) for net in nets]
    mean = np.mean(each, axis=0)
    expected = mean / mean.reshape(len(mean), -1).max(1)[:, None, None]
    np.testing.assert_allclose(heatmaps(model, x), expected, rtol=1e-5, atol=1e-6)


def test_a_run_with_members_trains_each_from_its_own_seed_and_resumes_the_missing_one(tmp_path, capsys):
    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--members", "2"]) == 0
    assert "2 networks averaged" in capsys.readouterr().out
    model = keras.saving.load_model(run / "model.keras")
    first, second = ensemble.members_of(model)
    assert not all(np.allclose(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    for k in (0, 1):  # each member's own run: its checkpoint, its history, its TensorBoard logs
        assert (run / "members" / str(k) / "model.keras").exists()
        assert (run / "members" / str(k) / "history.csv").exists()
        assert any((run / "logs" / f"member{k}").rglob("events.out.tfevents*"))
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["members"] == 2 and report["n_validation"] > 0  # the report says what it measured

    # A run that crashed while training its second member: the first is reloaded, not retrained.
    kept = (run / "members" / "0" / "model.keras").read_bytes()
    (run / "model.keras").unlink()
    (run / "members" / "1" / "model.keras").unlink()
    record = run / "members" / "seconds.json"
    record.write_text(json.dumps(json.loads(record.read_text())[:1]))  # the second never finished
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--members", "2"]) == 0
    out = capsys.readouterr().out
    assert "member 1 (seed 0) of 2" not in out and "member 2 (seed 1) of 2" in out
    assert (run / "members" / "0" / "model.keras").read_bytes() == kept
    # The member that never finished started afresh: its history holds one attempt, not two.
    assert len((run / "members" / "1" / "history.csv").read_text().splitlines()) == 2  # header + its one epoch
    resumed = ensemble.members_of(keras.saving.load_model(run / "model.keras"))
    for a, b in zip(resumed[0].get_weights(), first.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("budget", "trained"), [(0.0, 1), (1e9, 3)])
def test_auto_members_train_while_the_budget_allows(budget, trained, tmp_path, monkeypatch):
    monkeypatch.setattr(ensemble, "AUTO_BUDGET_S", budget)
    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--members", "0"]) == 0
    seconds = json.loads((run / "members" / "seconds.json").read_text())
    assert len(seconds) == trained and all(s > 0 for s in seconds)
    model = keras.saving.load_model(run / "model.keras")
    assert len(ensemble.members_of(model)) == trained
    assert json.loads((run / "config.json").read_text())["members"] == 0  # the run keeps asking for "auto"
    assert json.loads((run / "report" / "report.json").read_text())["members"] == trained
    assert {r["Id"] for r in read_rows(run / "submission.csv")} == {"img_0", "img_1", "img_2", "img_3", "webp_test",
                                                                    "broken"}  # every id answered
