import json

import keras
import numpy as np
import pytest

from gan_tf import networks
from gan_tf.gan import GAN, conditional_classes, generate_images, to_uint8


def tiny_gan(arch="dcgan", num_classes=0, seed=1):
    g = networks.build_generator(arch, latent_dim=8, width=4, num_classes=num_classes)
    d = networks.build_discriminator(arch, width=4, num_classes=num_classes)
    gan = GAN(g, d, latent_dim=8, num_classes=num_classes, seed=seed)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-3),
        g_optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=False,
    )
    return gan


def real_batch(n=16, num_classes=0):
    images = np.random.default_rng(0).uniform(-1, 1, (n, 28, 28, 1)).astype("float32")
    return (images, np.arange(n) % num_classes) if num_classes else images


@pytest.mark.parametrize("arch", ["dcgan", "dense"])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_networks_have_the_right_shapes(arch, num_classes):
    g = networks.build_generator(arch, latent_dim=8, width=4, num_classes=num_classes)
    d = networks.build_discriminator(arch, width=4, num_classes=num_classes)
    z = np.zeros((3, 8), "float32")
    labels = np.array([[1], [2], [3]])
    images = g.predict([z, labels] if num_classes else z, verbose=0)
    assert images.shape == (3, 28, 28, 1)
    assert images.min() >= -1 and images.max() <= 1
    assert d.predict([images, labels] if num_classes else images, verbose=0).shape == (3, 1)
    assert conditional_classes(g) == num_classes


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        networks.build_generator("resnet")


@pytest.mark.parametrize("num_classes", [0, 10])
def test_one_fit_step_updates_both_networks(num_classes):
    gan = tiny_gan(num_classes=num_classes)
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    data = real_batch(16, num_classes)
    x, y = data if num_classes else (data, None)
    history = gan.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert set(history.history) == {"d_loss", "g_loss", "d_real_acc", "d_fake_acc"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(g_before, gan.generator.trainable_weights))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(d_before, gan.discriminator.trainable_weights))
    assert int(gan.d_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 1


def test_metrics_reset_at_every_epoch():
    gan = tiny_gan()
    counts = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                counts.append(float(self.model.d_loss_tracker.count.numpy()))

    gan.fit(real_batch(32), batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=[Probe()])
    assert counts == [0.0, 0.0, 0.0]  # 4 batches accumulate within an epoch, none carry over
    assert float(gan.d_loss_tracker.count.numpy()) == 4.0


def test_config_round_trip_rebuilds_the_same_model():
    gan = tiny_gan(num_classes=10, seed=7)
    clone = GAN.from_config(gan.get_config())
    assert (clone.latent_dim, clone.num_classes, clone.seed) == (8, 10, 7)
    assert clone.generator.get_config() == gan.generator.get_config()
    assert clone.discriminator.count_params() == gan.discriminator.count_params()


@pytest.mark.parametrize("channels, multiple, rounded", [(24, 16, 32), (33, 16, 48), (48, 16, 48), (16, 16, 16),
                                                          (8, 16, 8), (24, 1, 24)])
def test_channel_counts_round_up_to_the_multiple_only_above_it(channels, multiple, rounded):
    assert networks.rounded_channels(channels, multiple) == rounded


def test_the_generator_rounds_its_channels_and_a_run_saved_before_keeps_its_own(tmp_path):
    from gan_tf.config import GANConfig
    from gan_tf.train import build_gan

    def transposed_filters(config):
        generator = build_gan(config, num_classes=10).generator
        return [layer.filters for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]

    assert transposed_filters(GANConfig(latent_dim=8)) == [48, 32]  # width 48: 48, 24 rounded up
    assert transposed_filters(GANConfig(latent_dim=8, channel_multiple=1)) == [48, 24]
    # A run saved before the setting existed was built with 24 channels: --resume must rebuild those.
    GANConfig(latent_dim=8).save(tmp_path / "config.json")
    old = json.loads((tmp_path / "config.json").read_text())
    del old["channel_multiple"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert transposed_filters(GANConfig.load(tmp_path / "config.json")) == [48, 24]


def test_save_then_load_gives_the_same_samples(tmp_path):
    gan = tiny_gan()
    gan.fit(real_batch(16), batch_size=16, epochs=1, verbose=0, shuffle=False)
    gan.save(tmp_path / "gan.keras")
    gan.generator.save(tmp_path / "generator.keras")
    reloaded = keras.saving.load_model(tmp_path / "gan.keras", compile=False)
    generator = keras.saving.load_model(tmp_path / "generator.keras", compile=False)
    expected = gan.generate(6, seed=3)
    assert isinstance(reloaded, GAN)
    np.testing.assert_array_equal(reloaded.generate(6, seed=3), expected)
    np.testing.assert_array_equal(generate_images(generator, 8, 0, 6, seed=3), expected)


def test_conditional_generation_needs_a_conditional_generator():
    with pytest.raises(ValueError, match="not conditional"):
        tiny_gan().generate(4, digits=7)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        tiny_gan(num_classes=10).generate(4, digits=12)


def test_generated_images_are_uint8_in_the_full_range():
    assert to_uint8(np.array([-1.0, 0.0, 1.0, 3.0])).tolist() == [0, 128, 255, 255]
    images = tiny_gan().generate(5, seed=0)
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28, 1)


def test_the_weight_average_follows_the_generator_with_its_warm_up_decay():
    g = networks.build_generator("dcgan", latent_dim=8, width=4)
    d = networks.build_discriminator("dcgan", width=4)
    gan = GAN(g, d, latent_dim=8, seed=1, ema_decay=0.999)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2),
                jit_compile=False)
    start = [w.numpy().copy() for w in gan.ema_generator.weights]
    gan.fit(real_batch(16), batch_size=16, epochs=1, verbose=0, shuffle=False)  # one step: iterations becomes 1
    decay = min(0.999, (1.0 + 1) / (10.0 + 1))  # the warm-up, not 0.999, early in training
    for average, before, current in zip(gan.ema_generator.weights, start, gan.generator.weights):
        np.testing.assert_allclose(average.numpy(), decay * before + (1 - decay) * current.numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert gan.sampler is gan.ema_generator
    assert not all(np.allclose(a.numpy(), b.numpy()) for a, b in zip(gan.ema_generator.weights, gan.generator.weights))


@pytest.mark.parametrize("num_classes", [0, 10])
def test_train_on_batch_runs_the_same_step_as_fit(num_classes):
    # The runtime's precision probe times gan.train_on_batch; Keras hands train_step a 3-tuple there.
    gan = tiny_gan(num_classes=num_classes)
    data = real_batch(8, num_classes)
    x, y = data if num_classes else (data, None)
    logs = gan.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "d_real_acc", "d_fake_acc"} and all(np.isfinite(list(logs.values())))


def test_the_precision_probe_times_a_real_gan_step():
    from gan_tf.config import GANConfig
    from gan_tf.train import precision_probe
    from gradient_hunt import precision

    workload = precision_probe(GANConfig(width=4, latent_dim=8, batch_size=8))
    assert workload.name.startswith("gan 28x28x1 b8 cond10")
    timings = precision.measure(workload, rounds=1)
    assert all(0 < t < 5 for t in timings.values())


def test_byte_dropout_drops_its_rounded_rate_and_keeps_the_mean():
    import tensorflow as tf

    layer = networks.ByteDropout(0.3)
    x = tf.ones((63, 4001))  # an odd size: the last random word is only partly used
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        total = tf.reduce_sum(y)
    dropped = float(tf.reduce_mean(tf.cast(y == 0, tf.float32)))
    assert abs(dropped - 77 / 256) < 0.005  # 0.3 rounded to bytes
    np.testing.assert_allclose(y.numpy()[y.numpy() > 0], 256 / 179, rtol=1e-6)  # exactly inverted
    assert abs(float(tf.reduce_mean(y)) - 1.0) < 0.01
    # The gradient flows through the kept units only, scaled as they are.
    np.testing.assert_allclose(tape.gradient(total, x), y)
    # A new mask every call; none at inference or at rate 0; the input's dtype is kept.
    assert not np.array_equal(layer(x, training=True), y)
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(networks.ByteDropout(0.0)(x, training=True), x)
    for rate in (-0.1, 0.999, 1.0):
        with pytest.raises(ValueError, match="outside"):
            networks.ByteDropout(rate)
    assert networks.ByteDropout(0.3, dtype="mixed_bfloat16")(x, training=True).dtype == tf.bfloat16


def test_byte_dropout_masks_repeat_under_the_global_seed():
    import tensorflow as tf

    masks = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        masks.append(networks.ByteDropout(0.5)(tf.ones((8, 50)), training=True).numpy())
    np.testing.assert_array_equal(*masks)


def test_byte_dropout_compiles_with_xla():
    import tensorflow as tf

    layer = networks.ByteDropout(0.5)
    y = tf.function(lambda x: layer(x, training=True), jit_compile=True)(tf.ones((3, 5)))
    assert set(np.unique(y.numpy())) <= {0.0, 2.0}
