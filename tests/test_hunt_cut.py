"""The adaptive cut (hunt_tf.adaptive_cut): it moves for fakes the validation never showed, and only then."""

import numpy as np
import pytest

from hunt_tf.adaptive_cut import CAP, MIN_REALS, adapted_cut, adapted_score_cut, log_odds, real_scores_of, score_cut_of
from hunt_tf.report import predict_labels


def scores(rng, n, mean, sd=1.5):
    return rng.normal(mean, sd, n)


@pytest.mark.parametrize("seed", range(20))
def test_stays_when_the_test_fakes_are_the_validation_kind(seed):
    # A small competition split (64 validation reals, 130 test images): sampling noise alone
    # must not move the cut into the real images.
    rng = np.random.default_rng(seed)
    reals = scores(rng, 64, 6.0)
    test = np.concatenate([scores(rng, 80, 6.0), scores(rng, 50, -6.0)])
    assert adapted_score_cut(reals, test, 0.0) == 0.0


def test_moves_toward_real_for_fakes_between_and_gains_accuracy():
    rng = np.random.default_rng(0)
    reals = scores(rng, 400, 6.0)
    test_reals, unseen = scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)  # fakes the model half believes
    cut = adapted_score_cut(reals, np.concatenate([test_reals, unseen]), 0.0)
    assert 0.0 < cut <= np.quantile(reals, CAP)

    def accuracy(c):
        return (np.sum(test_reals >= c) + np.sum(unseen < c)) / 1200

    assert accuracy(cut) > accuracy(0.0) + 0.2


def test_too_few_validation_reals_keep_the_cut():
    rng = np.random.default_rng(0)
    test = np.concatenate([scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)])
    assert adapted_score_cut(scores(rng, MIN_REALS - 1, 6.0), test, 0.0) == 0.0


def probs_of(real_log_odds, real):
    p_real = 1 / (1 + np.exp(-real_log_odds))
    return np.stack([p_real, 1 - p_real] if real == 0 else [1 - p_real, p_real], axis=1)


def test_never_past_the_cap_of_validation_reals():
    # Fakes just below the reals: counts alone would put the cut among a quarter of the reals.
    rng = np.random.default_rng(3)
    reals = scores(rng, 400, 6.0)
    test = np.concatenate([scores(rng, 300, 6.0), scores(rng, 1000, 4.5, 0.3), scores(rng, 2000, -6.0)])
    assert adapted_score_cut(reals, test, 0.0, cap=1.0) > np.quantile(reals, 0.2)
    assert adapted_score_cut(reals, test, 0.0) <= np.quantile(reals, CAP)


@pytest.mark.parametrize("classes", [["AI", "Real"], ["Real", "fake"]])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_the_cut_moves_toward_real_whichever_class_is_real(classes, threshold):
    real = classes.index("Real")
    rng = np.random.default_rng(1)
    val_reals = real_scores_of(probs_of(scores(rng, 400, 6.0), real), real)
    test_reals, unseen = scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)
    probs = probs_of(np.concatenate([test_reals, unseen]), real)
    cut = adapted_cut(threshold, val_reals, probs, classes)
    assert cut is not None and "cut adapted" in cut.note
    labels, at_validation = cut.decide(probs), predict_labels(probs, threshold)
    truth = np.r_[np.full(300, real), np.full(900, 1 - real)]
    assert np.mean(labels == truth) > np.mean(at_validation == truth) + 0.2
    # Only images validation called Real change, and only to the other class.
    changed = labels != at_validation
    assert changed.any() and np.all(at_validation[changed] == real) and np.all(labels[changed] == 1 - real)
    np.testing.assert_array_equal(predict_labels(probs, cut.threshold), labels)  # the same cut on P(class 1)
    np.testing.assert_allclose(log_odds(probs, real), np.concatenate([test_reals, unseen]), atol=1e-6)


@pytest.mark.parametrize("real", [0, 1])
@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.9])
def test_a_threshold_on_class_one_is_the_same_cut_on_real_log_odds(real, threshold):
    probs = probs_of(np.random.default_rng(6).normal(0, 3, 2000), real)
    is_real = predict_labels(probs, threshold) == real
    c0 = score_cut_of(threshold, real)
    scores_ = log_odds(probs, real)
    near = np.abs(scores_ - c0) < 1e-6  # the boundary itself: >= on one side, > on the other
    np.testing.assert_array_equal(is_real[~near], scores_[~near] >= c0)


def test_decided_in_log_odds_where_float32_probabilities_saturate():
    # A near-perfect detector: reals at log-odds ~25, where float32 P(Real) is exactly 1.0.
    rng = np.random.default_rng(4)
    val_reals = list(np.sort(scores(rng, 400, 25.0)))
    test_reals, unseen = scores(rng, 300, 25.0), scores(rng, 900, 19.0, 1.0)
    p_ai = np.exp(-np.concatenate([test_reals, unseen])).astype(np.float32)
    probs = np.stack([p_ai, np.ones_like(p_ai)], axis=1)  # ["AI", "Real"]: P(Real) saturated
    cut = adapted_cut(0.5, val_reals, probs, ["AI", "Real"])
    assert cut is not None and cut.score > 17
    called_real = cut.decide(probs) == 1
    assert called_real[:300].mean() > 0.85 and called_real[300:].mean() < 0.05


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_a_cut_at_zero_or_one_is_left_alone(threshold):
    rng = np.random.default_rng(5)
    probs = probs_of(np.concatenate([scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)]), 1)
    assert adapted_cut(threshold, list(scores(rng, 400, 6.0)), probs, ["AI", "Real"]) is None


def test_no_real_class_or_more_classes_keep_the_threshold():
    rng = np.random.default_rng(2)
    val_reals = list(scores(rng, 400, 6.0))
    probs = probs_of(np.concatenate([scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)]), 1)
    assert adapted_cut(0.5, val_reals, probs, ["AI", "Real"]) is not None
    assert adapted_cut(0.5, val_reals, probs, ["cat", "dog"]) is None
    assert adapted_cut(0.4, None, probs, ["AI", "Real"]) is None
    assert adapted_cut(0.5, val_reals[: MIN_REALS - 1], probs, ["AI", "Real"]) is None
    three = np.concatenate([probs, np.zeros((len(probs), 1))], axis=1)
    assert adapted_cut(None, val_reals, three, ["AI", "Real", "Other"]) is None


def test_an_unknown_cut_setting_is_an_error():
    from gradient_hunt.settings import SettingsError
    from hunt_tf.adaptive_cut import adapts

    assert adapts("adaptive") and not adapts("validation")
    with pytest.raises(SettingsError, match="unknown cut"):
        adapts("adaptve")


def test_train_keeps_the_validation_reals_and_predict_adapts_only_when_asked(tmp_path, capsys):
    import json

    from PIL import Image

    from hunt_tf import cli
    from tests.conftest import read_rows

    rng = np.random.default_rng(0)
    for name, level in (("AI", 60), ("Real", 190)):
        (tmp_path / "data" / "Train" / name).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(rng.normal(level, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / "Train" / name / f"{i}.png")
    (tmp_path / "data" / "Test").mkdir()
    for i in range(150):
        pixels = np.clip(rng.normal(rng.choice([60, 125, 190]), 30, (16, 16, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / "data" / "Test" / f"t{i}.png")
    run = tmp_path / "run"
    tiny = ["--epochs", "2", "--batch-size", "8", "--filters", "4", "--depth", "2", "--image-size", "16",
            "--precision", "float32", "--val-split", "0.3", "--members", "1"]
    assert cli.main(["train", str(tmp_path / "data"), "--run", str(run), *tiny]) == 0
    decision = json.loads((run / "decision.json").read_text())
    assert len(decision["real_scores"]) == 9 and decision["real_scores"] == sorted(decision["real_scores"])

    # Validation reals that score far above every test image: an adaptive cut calls more of them AI.
    decision["real_scores"] = [60.0] * 100
    (run / "decision.json").write_text(json.dumps(decision))
    kept, adapted = tmp_path / "kept.csv", tmp_path / "adapted.csv"
    images = ["predict", "--run", str(run), "--images", str(tmp_path / "data" / "Test")]
    assert cli.main([*images, "--out", str(kept), "--cut", "validation"]) == 0
    assert cli.main([*images, "--out", str(adapted)]) == 0  # the run's own setting: adaptive
    assert read_rows(kept) == read_rows(run / "submission.csv")  # 9 validation reals: too few to adapt in training
    called_real = [sum(r["Label"] == "Real" for r in read_rows(p)) for p in (kept, adapted)]
    assert called_real[1] < called_real[0]
    assert "cut adapted to the test images" in capsys.readouterr().out
    # Mirrored predictions score lower than the single-view validation reals: not compared.
    assert cli.main([*images, "--out", str(tmp_path / "tta.csv"), "--tta"]) == 0
    assert "no validation reals' scores predicted with mirrors" in capsys.readouterr().out
    decision["real_scores_tta"] = decision["real_scores"]  # as `train --tta` writes them
    (run / "decision.json").write_text(json.dumps(decision))
    assert cli.main([*images, "--out", str(tmp_path / "tta.csv"), "--tta"]) == 0
    assert "cut adapted to the test images" in capsys.readouterr().out

    # Trained again into the same run without --cut: it keeps its own cut (here: validation's).
    assert cli.main(["train", str(tmp_path / "data"), "--run", str(run), *tiny, "--cut", "validation"]) == 0
    assert cli.main(["train", str(tmp_path / "data"), "--run", str(run), *tiny]) == 0
    assert json.loads((run / "config.json").read_text())["cut"] == "validation"


def test_a_run_saved_before_the_setting_keeps_the_validation_cut(tmp_path):
    import dataclasses
    import json

    from hunt_tf.config import HuntConfig

    saved = dataclasses.asdict(HuntConfig())
    del saved["cut"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert HuntConfig.load(tmp_path / "config.json").cut == "validation"
    assert HuntConfig().cut == "adaptive"
