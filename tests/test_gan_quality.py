import numpy as np
import pytest

from gan_tf import quality
from tests.conftest import toy_digits


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    assert quality.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    shifted = quality.frechet_distance(feats, feats + 2.0)
    assert shifted == pytest.approx(8 * 4.0, rel=0.01)  # ||mu shift||^2 = 8 dims * 2^2


def test_classifier_score_spans_one_to_num_classes():
    confident_uniform = np.eye(10)[np.arange(100) % 10]
    assert quality.classifier_score(confident_uniform) == pytest.approx(10.0, rel=1e-6)
    assert quality.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)


def test_judge_scores_real_data_near_the_floor_and_noise_far_away():
    images, labels = toy_digits(400)
    judge = quality.Judge.for_dataset(images, labels, "toy", n=200, epochs=3, verbose=False)
    real = judge.score(images[::-1].copy())
    noise = judge.score(np.random.default_rng(1).integers(0, 255, images.shape, dtype=np.uint8))
    assert real["modes_covered"] == 10 and real["classifier_score"] > 5
    assert noise["fcd"] > 10 * max(real["fcd"], judge.real_floor)
    assert len(list(quality.cache_dir().glob("classifier-*.keras"))) >= 1  # cached for the next run


def test_quality_needs_labels():
    images, _ = toy_digits(20)
    with pytest.raises(ValueError, match="need a labelled dataset"):
        quality.Judge.for_dataset(images, None, "unlabelled")
