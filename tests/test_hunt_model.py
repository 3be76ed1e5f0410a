import keras
import numpy as np
import pytest

from gradient_hunt.atomic import save_model
from hunt_tf import data
from hunt_tf.choices import ARCHITECTURES, PRESETS
from hunt_tf.config import HuntConfig
from hunt_tf.errors import WeightsError
from hunt_tf.fitting import callbacks
from hunt_tf.model import build_classifier, build_model
from hunt_tf.optim import MAX_EPOCHS, MIN_EPOCHS, MIN_STEPS, auto_epochs, auto_patience, learning_rate, make_optimizer
from hunt_tf.predict import predict_pixels
from hunt_tf.report import choose_threshold
from hunt_tf.splits import class_weights


def fit_one_step(model, size=32, classes=2):
    x = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype("float32")
    y = np.arange(4) % classes
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # 2 steps: a warm-up starts at lr 0
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, model.trainable_weights))
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "backbone", [pytest.param(b, marks=pytest.mark.slow) if b not in ("cnn", "mobilenetv2") else b for b in ARCHITECTURES]
)
def test_every_backbone_builds_and_trains_one_step(backbone):
    model = build_classifier(32, 2, backbone=backbone, weights="none")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.output_shape == (None, 2)
    fit_one_step(model)


@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize("pool_size", [2, 3])
def test_cnn_options_change_the_model(batchnorm, pool_size):
    model = build_classifier(24, 3, filters=4, depth=2, kernel_size=5, pool_size=pool_size, batchnorm=batchnorm,
                             l2=0.0, dropout=0.0)
    names = [layer.name for layer in model.layers]
    assert ("block1_bn" in names) == batchnorm
    assert model.get_layer("block1_conv").kernel_size == (5, 5)
    assert model.get_layer("block1_pool").pool_size == (pool_size, pool_size)
    assert model.get_layer("block2_conv").filters == 8  # doubles per block
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fit_one_step(model, size=24, classes=3)


@pytest.mark.parametrize("convs", [1, 2])
def test_convs_stacks_that_many_conv_layers_in_every_block(convs):
    model = build_classifier(16, 2, filters=4, depth=2, convs=convs)
    convs_per_block = [sum(isinstance(layer, keras.layers.Conv2D) and layer.name.startswith(f"block{b}_")
                           for layer in model.layers) for b in (1, 2)]
    assert convs_per_block == [convs, convs]
    # the config reaches the builder (build_model), and a run saved before convs existed had one per block
    built = build_model(HuntConfig(filters=4, depth=2, convs=convs), image_size=16, num_classes=2)
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in built.layers) == 2 * convs


def test_a_run_or_tuned_file_from_before_convs_existed_means_one_conv_per_block(tmp_path):
    import json

    from hunt_tf.config import resolve_config

    (tmp_path / "config.json").write_text(json.dumps({"filters": 8, "depth": 2}))
    assert HuntConfig.load(tmp_path / "config.json").convs == 1
    (tmp_path / "best_hparams.json").write_text(json.dumps({"hparams": {"filters": 8, "depth": 2}}))
    assert resolve_config({}, tmp_path / "best_hparams.json").convs == 1
    assert resolve_config({"convs": 2}, tmp_path / "best_hparams.json").convs == 2  # the command line wins
    (tmp_path / "lr.json").write_text(json.dumps({"learning_rate": 0.01}))  # no architecture in it
    assert resolve_config({}, tmp_path / "lr.json").convs == 0  # still from the data


def test_build_model_builds_the_head_the_config_names_or_the_data_would_pick():
    from hunt_tf.model import build_model

    def hidden(config, size):
        return any(layer.name == "hidden" for layer in build_model(config, size, 2).layers)

    assert hidden(HuntConfig(head="flatten", filters=4, depth=2), 16)
    assert not hidden(HuntConfig(head="gap", filters=4, depth=2, resize_mode="resize"), 64)
    assert hidden(HuntConfig(filters=4, depth=2, resize_mode="resize"), 64)  # auto: a whole image of 64 px
    assert not hidden(HuntConfig(filters=4, depth=2, resize_mode="crop"), 64)  # auto: crops are pooled


def test_a_run_or_tuned_file_from_before_heads_existed_means_global_pooling(tmp_path):
    import json

    from hunt_tf.config import resolve_config

    (tmp_path / "config.json").write_text(json.dumps({"filters": 8, "depth": 2, "image_size": 96}))
    assert HuntConfig.load(tmp_path / "config.json").head == "gap"
    (tmp_path / "best_hparams.json").write_text(json.dumps({"hparams": {"filters": 8, "depth": 2}}))
    assert resolve_config({}, tmp_path / "best_hparams.json").head == "gap"
    assert resolve_config({"head": "flatten"}, tmp_path / "best_hparams.json").head == "flatten"
    (tmp_path / "new.json").write_text(json.dumps({"hparams": {"depth": 2, "head": "flatten"}}))
    assert resolve_config({}, tmp_path / "new.json").head == "flatten"  # a search that chose it
    (tmp_path / "lr.json").write_text(json.dumps({"learning_rate": 0.01}))
    assert resolve_config({}, tmp_path / "lr.json").head == "auto"  # still from the data


def test_imagenet_weights_offline_is_one_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    import keras.src.applications.mobilenet_v2 as mobilenet

    monkeypatch.setattr(mobilenet.file_utils, "get_file", offline)
    with pytest.raises(WeightsError, match="--weights none .* or --weights PATH"):
        build_classifier(32, 2, backbone="mobilenetv2", weights="imagenet")


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        build_classifier(32, 2, backbone="vgg")


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "cosine", "step", "plateau"])
def test_every_optimizer_and_schedule_trains(optimizer, schedule, tmp_path):
    config = HuntConfig(optimizer=optimizer, schedule=schedule, filters=4, depth=1, epochs=2)
    model = build_model(config, image_size=16, num_classes=2, steps_per_epoch=2)
    fit_one_step(model, size=16)
    assert type(model.optimizer).__name__.lower() == optimizer
    kind = {"constant": "float", "plateau": "float", "cosine": "CosineDecay", "step": "PiecewiseConstantDecay"}
    assert type(learning_rate(config, steps_per_epoch=2)).__name__ == kind[schedule]
    plateau = [c for c in callbacks(tmp_path, config, "val_loss") if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    assert len(plateau) == (schedule == "plateau")  # plateau is a callback, not a schedule


def test_save_then_load_gives_the_trained_models_predictions(tmp_path):
    model = build_model(HuntConfig(filters=4, depth=2, epochs=1), image_size=16, num_classes=2, steps_per_epoch=2)
    fit_one_step(model, size=16)
    pixels = np.random.default_rng(1).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    save_model(model, tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predict_pixels(loaded, pixels), predict_pixels(model, pixels), rtol=1e-5, atol=1e-6)


def test_tta_averages_the_image_and_its_mirror():
    model = build_classifier(16, 2, filters=4, depth=1)
    pixels = np.random.default_rng(2).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    plain = model.predict(pixels, verbose=0)
    mirrored = model.predict(pixels[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(predict_pixels(model, pixels, tta=True), (plain + mirrored) / 2, rtol=1e-5)


def test_the_threshold_maximises_accuracy_and_prefers_the_cut_nearest_one_half():
    y = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.1, 0.2, 0.7, 0.75, 0.8, 0.9])
    assert choose_threshold(y, score) == 0.75  # 0.5 would call the 0.7 negative "AI": 5/6
    assert choose_threshold(np.array([0, 1]), np.array([0.2, 0.9])) == 0.5  # many perfect cuts: 0.5 among them
    assert choose_threshold(np.array([1, 1]), np.array([0.2, 0.9])) == 0.5  # one class: no basis to move it


def test_class_weights_balance_the_classes():
    weights = class_weights(np.array([0, 0, 0, 1]), num_classes=2)
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0})
    assert class_weights(np.array([0, 2, 2]), num_classes=3) == pytest.approx({0: 1.0, 2: 0.5})

def test_cosine_schedule_warms_up_then_decays():
    config = HuntConfig(schedule="cosine", learning_rate=1e-2, warmup_epochs=1, epochs=4)
    schedule = make_optimizer(config, steps_per_epoch=10)._learning_rate
    values = [float(schedule(step)) for step in (0, 5, 10, 25, 39)]
    assert values[0] == 0.0 and values[1] == pytest.approx(5e-3) and values[2] == pytest.approx(1e-2)
    assert values[2] > values[3] > values[4]


@pytest.mark.parametrize(("epochs", "rows", "expected"), [
    (0, 395, 39),  # r1's training split: 13 steps an epoch, 39 epochs for 500 steps
    (0, 800, 20),
    (0, 4000, 15),  # a large folder keeps the 15-epoch floor
    (0, 10, 40),  # a tiny one is capped
    (7, 395, 7),  # a given count is kept
])
def test_auto_epochs_give_a_small_folder_more_passes(epochs, rows, expected):
    assert auto_epochs(epochs, rows, batch_size=32) == expected


def test_the_help_quotes_the_rule_auto_epochs_applies():
    assert f"{MIN_STEPS} steps" in HuntConfig.comments()["epochs"]
    assert f"{MIN_EPOCHS}..{MAX_EPOCHS}" in HuntConfig.comments()["epochs"]


def test_auto_patience_is_a_third_of_the_epochs_and_at_least_five():
    assert (auto_patience(0, 15), auto_patience(0, 39), auto_patience(2, 39)) == (5, 13, 2)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_augmentation_preset_changes_images_and_keeps_shapes(preset):
    pixels = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(8) % 2
    ds = data.from_pixels(pixels, labels, batch_size=8, training=True, augment=preset, seed=1)
    x, y = next(iter(ds))
    assert x.shape == (8, 16, 16, 3) and x.dtype == "float32"
    assert float(x.numpy().min()) >= -1e-3 and float(x.numpy().max()) <= 255.001
    assert sorted(y.numpy().tolist()) == sorted(labels.tolist())
    # Compare each augmented image with its own original (the pipeline shuffles, so match by content).
    originals = {img.astype(np.float32).tobytes() for img in pixels}
    unchanged = sum(img.tobytes() in originals for img in x.numpy())
    if preset == "none":
        assert unchanged == 8
    else:
        assert unchanged < 8, f"preset {preset!r} changed nothing"


def test_jpeg_recompression_runs_only_for_the_images_it_applies_to(monkeypatch):
    calls = []
    real = data.tf.image.random_jpeg_quality
    monkeypatch.setattr(data.tf.image, "random_jpeg_quality", lambda *a, **k: calls.append(1) or real(*a, **k))
    augment = data.image_augmenter("robust", strength=1.0)  # JPEG with probability 0.3
    data.tf.random.set_seed(0)
    image = data.tf.constant(np.full((16, 16, 3), 128.0, np.float32))
    for _ in range(40):
        augment(image)  # eager: only the branch taken runs
    assert 0 < len(calls) < 25  # about 12 of 40; it was all 40, thrown away 70% of the time


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation preset 'wild'"):
        data.batch_augmenter("wild")


def test_reported_accuracy_never_uses_a_threshold_fitted_on_the_same_rows():
    from hunt_tf.report import build_report

    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    score = rng.random(200)  # no signal at all
    probs = np.stack([1 - score, score], axis=1)
    in_sample = np.mean((score >= choose_threshold(y, score)) == y)
    report, _ = build_report(y, probs, ["AI", "Real"])
    assert in_sample > 0.52  # the best cut on the very rows flatters noise...
    assert report["threshold"] == 0.5  # ...fitted on one half it does not beat 0.5 on the other: not used
    assert report["accuracy"] == np.mean((score >= 0.5) == y) < in_sample
    separable = np.where(y == 1, 0.6 + 0.3 * rng.random(200), 0.4 * rng.random(200))
    report, _ = build_report(y, np.stack([1 - separable, separable], axis=1), ["AI", "Real"])
    assert report["accuracy"] == 1.0 and report["threshold"] == 0.5
    shifted = np.where(y == 1, 0.8 + 0.15 * rng.random(200), 0.55 + 0.2 * rng.random(200))  # 0.5 calls all Real
    report, _ = build_report(y, np.stack([1 - shifted, shifted], axis=1), ["AI", "Real"])
    assert report["threshold"] == choose_threshold(y, shifted) > 0.7  # a cut that proves itself is used
    assert report["accuracy"] >= 0.95  # measured on decisions from the other half's cut


def test_the_shift_preset_moves_whole_pixels_and_invents_none():
    image = np.random.default_rng(3).integers(0, 255, (1, 16, 16, 3), dtype=np.uint8)
    copies = np.repeat(image, 8, axis=0)  # eight draws of one epoch (a new epoch replays seeded draws)
    ds = data.from_pixels(copies, [0] * 8, batch_size=8, training=True, augment="shift", seed=2)
    seen = list(next(iter(ds))[0].numpy().astype(np.uint8))
    palette = {tuple(p) for p in image[0].reshape(-1, 3)}
    for out in seen:  # reflect padding and a crop: every pixel is one of the image's own (no interpolation)
        assert {tuple(p) for p in out.reshape(-1, 3)} <= palette
    plain = {image[0].tobytes(), image[0][:, ::-1].tobytes()}
    assert any(out.tobytes() not in plain for out in seen)  # and something moved
