import keras
import numpy as np
import pytest

from hunt_tf import data
from hunt_tf.choices import ARCHITECTURES, PRESETS
from hunt_tf.config import HuntConfig
from hunt_tf.errors import WeightsError
from hunt_tf.model import build_classifier, build_model
from hunt_tf.optim import make_optimizer


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
def test_every_optimizer_and_schedule_trains(optimizer, schedule):
    config = HuntConfig(optimizer=optimizer, schedule=schedule, filters=4, depth=1, epochs=2)
    model = build_model(config, image_size=16, num_classes=2, steps_per_epoch=2)
    fit_one_step(model, size=16)
    assert type(model.optimizer).__name__.lower() == optimizer

def test_cosine_schedule_warms_up_then_decays():
    config = HuntConfig(schedule="cosine", learning_rate=1e-2, warmup_epochs=1, epochs=4)
    schedule = make_optimizer(config, steps_per_epoch=10)._learning_rate
    values = [float(schedule(step)) for step in (0, 5, 10, 25, 39)]
    assert values[0] == 0.0 and values[1] == pytest.approx(5e-3) and values[2] == pytest.approx(1e-2)
    assert values[2] > values[3] > values[4]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_augmentation_preset_runs_and_keeps_shapes(preset):
    pixels = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    ds = data.from_pixels(pixels, [0, 1, 0, 1], batch_size=4, training=True, augment=preset)
    x, y = next(iter(ds))
    assert x.shape == (4, 16, 16, 3) and x.dtype == "float32"
    assert float(x.numpy().min()) >= -1e-3 and float(x.numpy().max()) <= 255.001
    assert sorted(y.numpy().tolist()) == [0, 0, 1, 1]


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation preset 'wild'"):
        data.batch_augmenter("wild")
