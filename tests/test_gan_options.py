"""The GAN options of issue #11: DiffAugment/ADA, loss, spectral norm, R1, any image shape."""

import json

import keras
import numpy as np
import pytest

from gan_tf import cli, networks
from gan_tf.augment import DiffAugment, parse_policy
from gan_tf.gan import ADA_SPEED_IMAGES, GAN
from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()


def images(n=8, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype("float32")


def tiny_gan(shape=(28, 28, 1), loss="bce", r1_weight=0.0, spectral_norm=False, augment="none", ada_target=0.0,
             minibatch_std=False):
    keras.utils.set_random_seed(3)
    g = networks.build_generator("dcgan", latent_dim=8, width=4, image_shape=shape)
    d = networks.build_discriminator("dcgan", width=4, image_shape=shape, spectral_norm=spectral_norm,
                                     minibatch_std=minibatch_std)
    gan = GAN(g, d, latent_dim=8, seed=1, augment=augment, ada_target=ada_target)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2), loss=loss,
                r1_weight=r1_weight, jit_compile=False)
    return gan


def one_step(gan, shape=(28, 28, 1)):
    logs = gan.train_on_batch(images(16, shape), return_dict=True)
    return logs, [w.numpy().copy() for w in gan.discriminator.trainable_weights]


# --- DiffAugment ---------------------------------------------------------------------------

def shifted(image, dy, dx, fill=-1.0):
    out = np.full_like(image, fill)
    h, w = image.shape[:2]
    src = image[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def test_translation_is_an_exact_integer_shift_filled_with_black():
    x = images(6, (28, 32, 3))
    y = np.asarray(DiffAugment("translation", seed=0)(x))
    for original, augmented in zip(x, y):
        matches = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                   if np.allclose(shifted(original, dy, dx), augmented, atol=1e-6)]
        assert len(matches) == 1  # one shift of at most 1/8 of each side (rounded) explains the result
    assert not np.allclose(x, y)


def test_cutout_erases_one_square_of_at_most_half_the_side_to_grey():
    y = np.asarray(DiffAugment("cutout", seed=0)(np.ones((16, 28, 28, 1), "float32")))
    erased = (y == 0).sum(axis=(1, 2, 3))
    assert erased.max() <= 14 * 14 and erased.min() > 0 and set(np.unique(y)) <= {0.0, 1.0}


def test_colour_moves_brightness_and_contrast():
    x = images(16, (8, 8, 3))
    y = np.asarray(DiffAugment("color", seed=0)(x))
    assert not np.allclose(x.mean(axis=(1, 2, 3)), y.mean(axis=(1, 2, 3)))


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_every_policy_is_differentiable(policy):
    x = tf.constant(images(4, (16, 16, 3)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(DiffAugment(policy, seed=0)(x) ** 2)
    grad = tape.gradient(total, x)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0


def test_probability_zero_is_the_identity_and_policies_are_checked():
    x = images(4)
    np.testing.assert_allclose(np.asarray(DiffAugment("color,translation,cutout", seed=0)(x, 0.0)), x, atol=1e-6)
    assert parse_policy("none") == () and parse_policy("translation, cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match="unknown augmentation rotate"):
        parse_policy("translation,rotate")


class Recorder:
    """Stands in for the GAN's augmentation and keeps what passed through it."""

    def __init__(self, augment):
        self.augment, self.seen = augment, []

    def __bool__(self):
        return True

    def __call__(self, x, probability):
        self.seen.append(np.asarray(x).copy())
        return self.augment(x, probability)


def test_real_and_fake_images_both_pass_through_the_same_augmentation_in_both_steps():
    gan = tiny_gan(augment="translation,cutout")
    gan.run_eagerly = True
    recorder = Recorder(gan.augment)
    gan.augment = recorder
    real = images(16)
    gan.train_on_batch(real)
    assert len(recorder.seen) == 3  # D step: real and fake; G step: fake
    np.testing.assert_array_equal(recorder.seen[0], real)
    assert all(seen.shape == real.shape for seen in recorder.seen)
    assert not np.allclose(recorder.seen[1], recorder.seen[2])  # new fakes for the generator step


# --- loss, spectral norm, R1, ADA --------------------------------------------------------

@pytest.mark.parametrize("option", [{"loss": "hinge"}, {"spectral_norm": True}, {"r1_weight": 10.0},
                                    {"augment": "translation,cutout"}, {"minibatch_std": True}])
def test_each_option_changes_the_step_and_keeps_shapes(option):
    _, baseline = one_step(tiny_gan())
    logs, changed = one_step(tiny_gan(**option))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(a.shape == b.shape and not np.allclose(a, b) for a, b in zip(baseline, changed))
    if "r1_weight" in option:
        assert logs["r1"] > 0


def test_hinge_losses_follow_their_formula():
    from gan_tf.gan import discriminator_losses, generator_losses

    real, fake = np.array([[2.0], [0.5]], "float32"), np.array([[-2.0], [0.0]], "float32")
    np.testing.assert_allclose(discriminator_losses("hinge", real, fake), [0.0, 1.5])
    np.testing.assert_allclose(generator_losses("hinge", fake), [2.0, 0.0])
    with pytest.raises(ValueError, match="unknown GAN loss"):
        tiny_gan(loss="wasserstein")


@pytest.mark.parametrize("name, value", [("loss", "wasserstein"), ("arch", "resnet"), ("jit", "maybe")])
def test_a_mistyped_choice_in_gan_settings_stops_before_the_run_is_written(tmp_path, name, value):
    from gan_tf.train import train
    from gradient_hunt.settings import SettingsError

    with pytest.raises(SettingsError, match=f"unknown {name} '{value}'; choose from "):
        train(tmp_path / "run", {name: value})  # e.g. a config.json edited by hand
    assert not (tmp_path / "run").exists()


def test_spectral_norm_wraps_every_discriminator_layer_with_weights():
    d = networks.build_discriminator("dcgan", width=4, spectral_norm=True)
    weighted = [layer for layer in d.layers if layer.weights]
    assert weighted and all(isinstance(layer, keras.layers.SpectralNormalization) for layer in weighted)
    assert d.output.dtype == "float32"


def test_minibatch_std_shows_the_discriminator_a_batch_without_spread():
    layer = networks.MinibatchStdDev()
    same = np.repeat(images(1, (7, 7, 3)), 8, axis=0)
    spread = np.asarray(layer(same))[..., -1]
    assert np.asarray(layer(same)).shape == (8, 7, 7, 4) and spread.max() < 1e-3
    assert np.asarray(layer(images(8, (7, 7, 3))))[..., -1].min() > 0.3
    np.testing.assert_array_equal(np.asarray(layer(same))[..., :3], same)


def test_the_spread_has_the_first_and_second_gradients_of_its_formula():
    x = tf.constant(images(8, (7, 7, 3)))

    def by_autodiff(v):  # the definition, differentiated by TensorFlow
        return tf.reduce_mean(tf.sqrt(tf.math.reduce_variance(tf.cast(v, tf.float32), axis=0) + 1e-8))

    def first_and_second(spread, v, weights):
        """The gradient, and the gradient of (gradient . weights): what R1's penalty differentiates."""
        with tf.GradientTape() as outer:
            outer.watch(v)
            with tf.GradientTape() as inner:
                inner.watch(v)
                value = spread(v)
            slope = inner.gradient(value, v)
            along = tf.reduce_sum(tf.cast(slope, tf.float32) * weights)
        return value, slope, outer.gradient(along, v)

    weights = tf.constant(images(8, (7, 7, 3), seed=1))
    for dtype, tolerance in ((tf.float32, 1e-5), (tf.bfloat16, 1e-2)):
        v = tf.cast(x, dtype)
        for run in (lambda f: f, tf.function):  # eager, and traced as train_step is
            ours = run(lambda u, w: first_and_second(networks.mean_spread, u, w))(v, weights)
            reference = run(lambda u, w: first_and_second(by_autodiff, u, w))(v, weights)
            assert float(ours[0]) == pytest.approx(float(reference[0]), rel=1e-6)
            assert ours[1].dtype == dtype
            for got, want in zip(ours[1:], reference[1:]):
                got, want = tf.cast(got, tf.float32).numpy(), tf.cast(want, tf.float32).numpy()
                assert np.abs(want).max() > 0
                np.testing.assert_allclose(got, want, atol=tolerance * np.abs(want).max())


def test_ada_raises_the_probability_when_d_is_sure_of_real_images_and_lowers_it_otherwise():
    gan = tiny_gan(augment="translation", ada_target=0.6)
    assert float(gan.augment_probability.numpy()) == 0.0  # ADA starts without augmentation
    step = 64 / ADA_SPEED_IMAGES
    gan._adapt_augmentation(tf.ones((64, 1)), 64)  # every real image called real: overfitting
    gan._adapt_augmentation(tf.ones((64, 1)), 64)
    assert float(gan.augment_probability.numpy()) == pytest.approx(2 * step)
    gan._adapt_augmentation(-tf.ones((64, 1)), 64)
    assert float(gan.augment_probability.numpy()) == pytest.approx(step)
    for _ in range(3):
        gan._adapt_augmentation(-tf.ones((64, 1)), 64)
    assert float(gan.augment_probability.numpy()) == 0.0  # clipped to [0, 1]
    assert float(tiny_gan(augment="translation").augment_probability.numpy()) == 1.0  # DiffAugment: always


# --- any image shape ---------------------------------------------------------------------

@pytest.mark.parametrize("shape,seed_grid", [((28, 28, 1), (7, 7, 2)), ((32, 32, 3), (4, 4, 3)),
                                             ((64, 64, 3), (4, 4, 4)), ((28, 32, 1), (7, 8, 2))])
def test_the_generator_grows_from_a_small_grid_to_the_data_shape(shape, seed_grid):
    assert networks.upsampling_plan(*shape[:2]) == seed_grid
    gan = tiny_gan(shape, augment="translation,cutout")
    logs, _ = one_step(gan, shape)
    assert np.isfinite(logs["d_loss"])
    assert gan.generate(3).shape == (3, *shape)


def test_a_size_that_cannot_be_grown_by_doubling_is_refused():
    with pytest.raises(ValueError, match="cannot be grown by doubling"):
        networks.upsampling_plan(27, 27)


def test_rgb_folder_round_trips_through_train_sample_evaluate_and_export(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(40):
            pixels = np.clip(rng.normal(colour, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    run = tmp_path / "run"
    dataset = f"folder:{tmp_path / 'data'}"
    assert cli.main(["train", "--dataset", dataset, "--epochs", "1", "--run", str(run), "--batch-size", "16",
                     "--latent-dim", "8", "--width", "4", "--eval-samples", "30", "--precision", "float32"]) == 0
    assert Image.open(run / "samples" / "epoch_001.png").mode == "RGB"
    metrics = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(metrics["fcd"]) and "kid" in metrics

    assert cli.main(["sample", "--run", str(run), "--n", "5", "--out", str(tmp_path / "fakes.npz")]) == 0
    assert np.load(tmp_path / "fakes.npz")["images"].shape == (5, 32, 32, 3)
    # A hunt folder: the GAN's samples as AI, the data's own images as Real, RGB PNG files.
    assert cli.main(["sample", "--run", str(run), "--n", "4", "--out", str(tmp_path / "hunt" / "AI")]) == 0
    assert cli.main(["export", "--dataset", dataset, "--n", "4", "--out", str(tmp_path / "hunt" / "Real")]) == 0
    for side in ("AI", "Real"):
        files = sorted((tmp_path / "hunt" / side).glob("*.png"))
        assert len(files) == 4 and all(Image.open(f).mode == "RGB" and Image.open(f).size == (32, 32) for f in files)
    assert cli.main(["evaluate", "--run", str(run), "--n", "30"]) == 0


def test_time_limit_stops_at_an_epoch_end_and_the_last_epoch_is_measured(tmp_path, idx_dir, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--dataset", f"idx:{idx_dir}", "--epochs", "50", "--run", str(run),
                     "--time-limit", "0.01", "--eval-every", "10", "--batch-size", "32", "--latent-dim", "8",
                     "--width", "4", "--eval-samples", "50", "--precision", "float32"]) == 0
    assert "time limit: stopped after epoch 1 of 50" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    assert (run / "quality.csv").read_text().strip().splitlines()[-1].startswith("1,")


def test_conditional_is_the_default_on_labelled_data_and_unlabelled_folders_train_unconditionally(tmp_path, capsys):
    from PIL import Image

    from gan_tf.gan import conditional_classes

    rng = np.random.default_rng(0)
    (tmp_path / "flat").mkdir()
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "flat" / f"{i}.png")
    tiny = ["--epochs", "1", "--batch-size", "8", "--latent-dim", "8", "--width", "4", "--precision", "float32"]
    run = tmp_path / "run"
    assert cli.main(["train", "--dataset", f"folder:{tmp_path / 'flat'}", "--run", str(run), *tiny]) == 0
    assert "training an unconditional GAN" in capsys.readouterr().out
    generator = keras.saving.load_model(run / "generator.keras")
    assert conditional_classes(generator) == 0 and generator.output_shape == (None, 16, 16, 1)
    # Asked for explicitly, it is an error, not a silent change.
    assert cli.main(["train", "--dataset", f"folder:{tmp_path / 'flat'}", "--run", str(tmp_path / "r2"),
                     "--conditional", *tiny]) == 2
    assert "--conditional needs labels" in capsys.readouterr().err


class StubJudge:
    """Scores every sample set the same: what is tested is *when* QualityMetrics measures."""

    n, num_classes = 4, 10

    def score(self, images, requested=None):
        from gan_tf.callbacks import QualityMetrics

        return {**{k: 1.0 for k in QualityMetrics.FIELDS[2:]}, "mode_shares": [0.1] * 10}


def test_time_limit_stops_at_the_epoch_end_past_it_and_quality_measures_that_epoch(tmp_path):
    from gan_tf.callbacks import QualityMetrics, TimeLimit

    ticks = iter(range(100))
    limit = TimeLimit(3, clock=lambda: next(ticks))  # 0 at train begin, then 1, 2, 3 at epoch ends
    quality = QualityMetrics(StubJudge(), tmp_path, clock=lambda: 0.0, every=10, total_epochs=10)
    history = tiny_gan().fit(images(16), batch_size=8, epochs=10, verbose=0, callbacks=[limit, quality])
    assert len(history.history["d_loss"]) == 3 and limit.stopped_at == 3
    rows = (tmp_path / "quality.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "3"]  # the first epoch, and the one it stopped at


def test_a_quality_csv_with_other_columns_is_set_aside_not_appended_to(tmp_path):
    from gan_tf.callbacks import QualityMetrics

    (tmp_path / "quality.csv").write_text("epoch,seconds,fcd\n1,2.0,300\n")
    quality = QualityMetrics(StubJudge(), tmp_path, clock=lambda: 0.0, every=1, total_epochs=1)
    tiny_gan().fit(images(8), batch_size=8, epochs=1, verbose=0, callbacks=[quality])
    assert (tmp_path / "quality.csv").read_text().splitlines()[0] == ",".join(QualityMetrics.FIELDS)
    assert (tmp_path / "quality-old-columns.csv").read_text().startswith("epoch,seconds,fcd\n")


def test_bad_options_are_one_line_errors_before_anything_is_written(tmp_path, idx_dir, capsys):
    for bad in (["--augment", "rotate"], ["--ada-target", "2"], ["--r1-weight", "-1"], ["--channel-multiple", "0"]):
        run = tmp_path / bad[0].strip("-")
        rc = cli.main(["train", "--dataset", f"idx:{idx_dir}", "--run", str(run), *bad])
        assert rc == 2 and not run.exists()
    err = capsys.readouterr().err
    assert "unknown augmentation rotate" in err and "Traceback" not in err
