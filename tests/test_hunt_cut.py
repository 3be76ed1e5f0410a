"""The adaptive cut (hunt_tf.adaptive_cut): it moves for fakes the validation never showed, and only then."""

import numpy as np
import pytest

from hunt_tf.adaptive_cut import MIN_REALS, adapted_score_cut, adapted_threshold, log_odds, real_scores_of
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
    assert 0.0 < cut <= np.quantile(reals, 0.10)

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


@pytest.mark.parametrize("classes", [["AI", "Real"], ["Real", "fake"]])
def test_threshold_is_on_class_one_whichever_class_is_real(classes):
    real = classes.index("Real")
    rng = np.random.default_rng(1)
    val_reals = real_scores_of(probs_of(scores(rng, 400, 6.0), real), real)
    test_reals, unseen = scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)
    probs = probs_of(np.concatenate([test_reals, unseen]), real)
    at_half = predict_labels(probs, 0.5)
    threshold, note = adapted_threshold(0.5, val_reals, probs, classes)
    assert threshold != 0.5 and "cut adapted" in note
    labels = predict_labels(probs, threshold)
    truth = np.r_[np.full(300, real), np.full(900, 1 - real)]
    assert np.mean(labels == truth) > np.mean(at_half == truth) + 0.2
    np.testing.assert_allclose(log_odds(probs, real), np.sort(np.concatenate([test_reals, unseen])), atol=1e-6)


def test_no_real_class_or_more_classes_keep_the_threshold():
    rng = np.random.default_rng(2)
    val_reals = list(scores(rng, 400, 6.0))
    probs = probs_of(np.concatenate([scores(rng, 300, 6.0), scores(rng, 900, 2.0, 1.0)]), 1)
    assert adapted_threshold(0.5, val_reals, probs, ["cat", "dog"]) == (0.5, None)
    assert adapted_threshold(0.4, None, probs, ["AI", "Real"]) == (0.4, None)
    three = np.concatenate([probs, np.zeros((len(probs), 1))], axis=1)
    assert adapted_threshold(None, val_reals, three, ["AI", "Real", "Other"]) == (None, None)


def test_train_keeps_the_validation_reals_and_predict_adapts_only_when_asked(tmp_path):
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
            "--precision", "float32", "--val-split", "0.3"]
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
    assert read_rows(kept) == read_rows(run / "submission.csv")
    called_real = [sum(r["Label"] == "Real" for r in read_rows(p)) for p in (kept, adapted)]
    assert called_real[1] < called_real[0]
