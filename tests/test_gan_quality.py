import hashlib
import math

import numpy as np
import pytest

from gan_tf import datasets, quality
from tests.conftest import toy_digits

DISTANCES = ("fcd", "kid", "fcd2", "kid2")


def toy_rgb(n=200, size=(32, 32), seed=0):
    """RGB digits-like toys: class k is a bar at row 2k+4 in colour channel k % 3."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, *size, 3)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4 : 2 * k + 7, 4 : size[1] - 4, k % 3] = 255
    return images, labels


def noise_like(images, seed=1):
    return np.random.default_rng(seed).integers(0, 255, images.shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def real_data():
    """Loaded once: mnist5k for the names mnist and mnist5k (full MNIST needs a download)."""
    loaded = {}

    def load(name):
        source = "fashion" if name == "fashion" else "mnist5k"
        if source == "fashion" and not datasets.DEBIAN_FASHION_DIR.is_dir():
            pytest.skip("Fashion-MNIST is not installed (Debian's dataset-fashion-mnist)")
        if source not in loaded:
            loaded[source] = datasets.load(source)
        return loaded[source]

    return load


@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to train a judge fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a judge was trained")

    monkeypatch.setattr(quality, "train_judges", refuse)
    monkeypatch.setattr(quality, "fit_classifier", refuse)


@pytest.fixture
def quick_training(monkeypatch):
    # Enough steps for the toy data (BatchNorm's running statistics included), few enough for a unit test.
    monkeypatch.setattr(quality, "MIN_STEPS", 60)


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    assert quality.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    shifted = quality.frechet_distance(feats, feats + 2.0)
    assert shifted == pytest.approx(8 * 4.0, rel=0.01)  # ||mu shift||^2 = 8 dims * 2^2


def test_classifier_score_spans_one_to_num_classes():
    confident_uniform = np.eye(10)[np.arange(100) % 10]
    assert quality.classifier_score(confident_uniform) == pytest.approx(10.0, rel=1e-6)
    assert quality.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)


def test_kernel_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    feats = np.random.default_rng(0).normal(size=(2000, 8))
    half_1, half_2 = feats[:1000], feats[1000:]  # two disjoint samples of one distribution
    same = quality.kernel_distance(half_1, half_2)
    shifted = [quality.kernel_distance(half_1, half_2 + s) for s in (0.25, 0.5, 1.0)]
    assert abs(same) < 0.05 * shifted[0]
    assert shifted[0] < shifted[1] < shifted[2]


def test_kernel_distance_is_the_unbiased_estimate():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.5

    def k(p, q):
        return (p @ q / 3 + 1) ** 3

    m = len(x)
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    # One subset as large as the sets: the U-statistic of Binkowski et al., term by term.
    assert quality.kernel_distance(x, y, subsets=1) == pytest.approx(within - 2 * across, rel=1e-9)
    same = [quality.kernel_distance(*np.split(np.random.default_rng(s).normal(size=(400, 4)), 2)) for s in range(10)]
    assert min(same) < 0 < max(same)  # no bias: same-distribution estimates straddle zero


@pytest.mark.parametrize("shape", [(28, 28, 1), (16, 40, 1), (64, 64, 3)])
def test_judges_build_for_any_shape_in_float32_under_mixed_precision(shape):
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")  # conftest restores float32
    for build, width in ((quality.build_classifier_a, 128), (quality.build_classifier_b, 64)):
        model = build(shape, 7)
        features, probs = quality._feature_model(model).predict(np.zeros((2, *shape), np.uint8), verbose=0)
        assert features.shape == (2, width) and probs.shape == (2, 7)
        assert features.dtype == probs.dtype == np.float32
        assert {w.dtype for w in model.weights} == {"float32"}
        assert model.layers[1].__class__.__name__ == "Rescaling"  # pixels go in as they are


def test_first_use_judges_train_on_disjoint_halves_and_tell_real_from_noise(monkeypatch, quick_training):
    images, labels = toy_digits(400)
    seen = {}
    fit = quality.fit_classifier

    def spy(which, rows, row_labels, held, *args):
        seen[which], seen[which + " held"] = {r.tobytes() for r in rows}, {r.tobytes() for r in held}
        return fit(which, rows, row_labels, held, *args)

    monkeypatch.setattr(quality, "fit_classifier", spy)
    judge = quality.Judge.for_dataset(images, labels, "toy", n=200, epochs=1, verbose=False)
    assert seen["a"].isdisjoint(seen["b"]) and len(seen["a"] | seen["b"]) == len(images)
    assert seen["a held"] <= seen["b"] and seen["b held"] <= seen["a"]  # tested on rows it never saw

    real = judge.score(images[::-1].copy(), requested=labels[::-1])
    noise = judge.score(noise_like(images))
    assert real["modes_covered"] == 10 and real["classifier_score"] > 5 and real["conditional_accuracy"] > 0.9
    assert real["n_samples"] == judge.n == 200 and judge.num_classes == 10
    for key in ("fcd", "fcd2"):
        assert noise[key] > 10 * max(real[key], real[key + "_real_floor"])
    for key in ("kid", "kid2"):
        assert noise[key] > 10 * max(abs(real[key]), abs(real[key + "_real_floor"]))
    assert real["fcd_real_floor"] == judge.real_floor
    assert len(list(quality.cache_dir().glob("classifier-*.keras"))) >= 2  # cached for the next run


def test_first_use_judges_take_any_shape_and_are_cached(monkeypatch, capsys, quick_training):
    images, labels = toy_rgb(300)
    judge = quality.Judge.for_dataset(images, labels, "folder:toy-rgb", n=150, epochs=1)
    assert judge.source == quality.FIRST_USE
    assert "comparable only within this machine" in capsys.readouterr().out
    assert judge.classifier.input_shape == judge.second.input_shape == (None, 32, 32, 3)
    real = judge.score(images[::-1].copy())
    noise = judge.score(noise_like(images))
    assert real["judges"] == quality.FIRST_USE and real["modes_covered"] == 10
    assert all(math.isfinite(real[k]) for k in DISTANCES)
    assert noise["fcd"] > 10 * real["fcd_real_floor"] and noise["fcd2"] > 10 * real["fcd2_real_floor"]

    monkeypatch.setattr(quality, "train_judges", lambda *a, **k: pytest.fail("trained again instead of the cache"))
    again = quality.Judge.for_dataset(images, labels, "folder:toy-rgb", n=150, verbose=False)
    assert again.real_floor == pytest.approx(judge.real_floor) and again.real_floor2 == pytest.approx(judge.real_floor2)


def test_a_shipped_name_with_another_shape_trains_at_first_use(monkeypatch):
    calls = []

    def untrained(images, labels, name, epochs, verbose):
        calls.append(images.shape)
        return quality.build_classifier_a(images.shape[1:]), quality.build_classifier_b(images.shape[1:])

    monkeypatch.setattr(quality, "first_use_judges", untrained)
    images, labels = toy_rgb(40)
    judge = quality.Judge.for_dataset(images, labels, "mnist", n=20, verbose=False)
    assert calls == [(40, 32, 32, 3)] and judge.source == quality.FIRST_USE


@pytest.mark.parametrize("name, key", [("mnist", "mnist"), ("mnist5k", "mnist"), ("fashion", "fashion")])
def test_shipped_judges_load_without_training_and_tell_real_from_noise(name, key, real_data, no_training, capsys):
    data = real_data(name)
    rows = np.random.default_rng(0).permutation(len(data.images))[:2000]  # the files are sorted by class
    images, labels = data.images[rows], data.labels[rows]
    judge = quality.Judge.for_dataset(images, labels, name, n=1000)
    assert judge.source == f"shipped {key} judges {quality.CLASSIFIER_VERSION}"
    assert "shipped" in capsys.readouterr().out
    noise = judge.score(noise_like(images[:1000]))
    for k in DISTANCES:
        assert noise[k] > 20 * abs(noise[k + "_real_floor"]), k
    assert noise["judges"] == judge.source


def test_shipped_judges_are_the_recorded_ones(real_data, no_training):
    # Same files, same numbers on every machine: that is why they ship.
    manifest = quality.shipped_manifest()
    assert manifest["version"] == quality.CLASSIFIER_VERSION
    for entry in manifest["judges"].values():
        for name, digest in entry["sha256"].items():
            assert hashlib.sha256((quality.JUDGES_DIR / name).read_bytes()).hexdigest() == digest
            assert (quality.JUDGES_DIR / name).stat().st_size < 2_000_000
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # as a GAN may train; conftest restores float32
    data = real_data("mnist5k")
    judge = quality.Judge.for_dataset(data.images, data.labels, "mnist5k", n=2500, verbose=False)
    floors = manifest["judges"]["mnist"]["real_floors"]
    assert judge.real_floor == pytest.approx(floors["fcd"], rel=1e-3)
    assert judge.real_floor2 == pytest.approx(floors["fcd2"], rel=1e-3)
    assert judge.kid_real_floor == pytest.approx(floors["kid"], abs=0.01)
    assert judge.kid2_real_floor == pytest.approx(floors["kid2"], abs=0.01)


def test_the_second_space_is_another_network_trained_on_other_rows(real_data, no_training):
    data = real_data("mnist5k")
    judge = quality.Judge.for_dataset(data.images[::10], data.labels[::10], "mnist", n=200, verbose=False)
    a, b = judge.classifier, judge.second
    assert a.get_layer(quality.FEATURES_LAYER).units == 128 and b.get_layer(quality.FEATURES_LAYER).units == 64

    def kinds(model):
        return {type(layer).__name__ for layer in model.layers}

    assert {"BatchNormalization", "GlobalAveragePooling2D"} <= kinds(b) - kinds(a)
    rows_a, rows_b = quality.training_halves(len(data.images))
    assert not set(rows_a) & set(rows_b) and len(rows_a) + len(rows_b) == len(data.images)
    assert quality.shipped_manifest()["judges"]["mnist"]["training_rows"] == {"a": len(rows_a), "b": len(rows_b)}


def test_quality_needs_labels():
    images, _ = toy_digits(20)
    with pytest.raises(ValueError, match="need a labelled dataset"):
        quality.Judge.for_dataset(images, None, "unlabelled")
