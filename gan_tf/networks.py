"""Generator and discriminator builders: `dcgan` (convolutional) and `dense` (the baseline).

    from gan_tf.networks import build_generator, build_discriminator
    g = build_generator("dcgan", latent_dim=64, width=64)                  # z -> (28, 28, 1) in [-1, 1]
    g = build_generator("dcgan", image_shape=(32, 32, 3))                  # z -> 4x4 -> 8 -> 16 -> 32, RGB
    d = build_discriminator("dcgan", width=64, num_classes=10, spectral_norm=True)  # [image, label] -> logit

The image shape comes from the data: the generator starts from the smallest grid that doubles
up to it (7x7 for 28 px, 4x4 for 32 and 64 px) and grows by transposed convolutions; the
discriminator mirrors it. With `num_classes > 0` both networks are conditional: they take
`[input, label]`. The last layer of each runs in float32 so mixed precision never reaches the loss.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from gan_tf.config import ARCHITECTURES
from gradient_hunt.batchnorm import FusedBatchNormalization
from gradient_hunt.multi_worker import across_workers
from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()

MNIST_SHAPE = (28, 28, 1)
SMALLEST_SEED = 4  # the generator's first grid is at least 4 pixels on its shorter side
MAX_WIDTH_FACTOR = 8  # channels never exceed 8 * width (64 px needs four doublings)


def _check_arch(arch):
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")


def upsampling_plan(height, width):
    """(seed height, seed width, doublings): 28x28 -> (7, 7, 2), 32x32 -> (4, 4, 3), 64x64 -> (4, 4, 4)."""
    doublings = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= SMALLEST_SEED:
        height, width, doublings = height // 2, width // 2, doublings + 1
    if doublings == 0:
        raise ValueError(f"a {height}x{width} image cannot be grown by doubling: use an even size of at least "
                         f"{2 * SMALLEST_SEED} px (e.g. --image-size 32)")
    return height, width, doublings


def _channels(width, level):
    return max(1, min(MAX_WIDTH_FACTOR, 2**level) * width)


def rounded_channels(channels, multiple):
    """`channels` rounded up to a multiple of `multiple` where it is above it (24 -> 32 for 16).
    oneDNN's bfloat16 BatchNorm is 8x slower at 24 channels than at 16 or 32, and a true
    32-channel layer trains faster than a 24-channel one (BENCHMARKS.md, session 25)."""
    return channels if channels <= multiple else multiple * math.ceil(channels / multiple)


@tf.custom_gradient
def mean_spread(x):
    """The batch's standard deviation of each feature, averaged over the features (float32).

    Its gradient is written out, (x - batch mean) / (std * batch size * features): TensorFlow's
    own gradient of the variance took 1.6x as long on this CPU, three times a train step."""
    xf = tf.cast(x, tf.float32)
    centred = xf - tf.reduce_mean(xf, axis=0, keepdims=True)
    spread = tf.sqrt(tf.reduce_mean(tf.square(centred), axis=0, keepdims=True) + 1e-8)

    def gradient(upstream):
        return tf.cast(upstream * centred / (spread * tf.cast(tf.size(centred), tf.float32)), x.dtype)

    return tf.reduce_mean(spread), gradient


@keras.saving.register_keras_serializable(package="gan_tf")
class MinibatchStdDev(layers.Layer):
    """Appends one channel: the batch's average per-pixel standard deviation (Karras et al. 2018,
    "Progressive Growing of GANs"). A generator that collapses to one image per label makes a
    batch with no spread, which the discriminator can then see and punish."""

    def call(self, x):
        mean = ops.cast(mean_spread(x), x.dtype)
        return ops.concatenate([x, ops.ones_like(x[..., :1]) * mean], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


@keras.saving.register_keras_serializable(package="gan_tf")
class ByteDropout(layers.Layer):
    """Inverted dropout that draws one random byte per unit instead of one float: a quarter of the
    random numbers, and the discriminator's dropout took half the time (0.7 against 1.4 ms a call,
    three calls a train step, bfloat16 on a 2-core Xeon). The rate is rounded to a multiple of 1/256
    (0.3 -> 77/256), and the kept units are scaled by exactly 1 / (1 - that rate)."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 255.5 / 256:
            raise ValueError(f"dropout rate {rate} is outside [0, 0.998): it is rounded to a multiple of 1/256")
        self.rate = rate
        self.dropped_of_256 = round(rate * 256)
        self.seed_generator = keras.random.SeedGenerator()

    def call(self, x, training=False):
        if not training or not self.dropped_of_256:
            return x
        units = tf.size(x)
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        words = tf.random.stateless_uniform([(units + 3) // 4], seed, minval=None, maxval=None, dtype=tf.uint32)
        keep = tf.reshape(tf.reshape(tf.bitcast(words, tf.uint8), [-1])[:units], tf.shape(x)) >= self.dropped_of_256
        scale = ops.cast(256 / (256 - self.dropped_of_256), x.dtype)
        return tf.where(keep, x * scale, ops.zeros_like(x))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def _discriminator_layer(layer, spectral_norm):
    # Spectral normalisation (Miyato et al. 2018) caps each layer's Lipschitz constant, so the
    # discriminator cannot sharpen without bound: one power iteration per step.
    # The wrapper computes in the wrapped layer's precision (float32 for the logit).
    return layers.SpectralNormalization(layer, dtype=layer.dtype_policy) if spectral_norm else layer


def build_generator(arch="dcgan", latent_dim=64, width=64, kernel_size=4, num_classes=0, image_shape=MNIST_SHAPE,
                    channel_multiple=16, name="generator"):
    """Map latent vectors (and labels, when conditional) to images of `image_shape` in [-1, 1].
    The convolutional generator's channel counts are rounded up by `rounded_channels` (1 = as they are)."""
    _check_arch(arch)
    height, width_px, channels = image_shape
    z = keras.Input((latent_dim,), name="latent")
    inputs, x = [z], z
    if num_classes:
        label = keras.Input((1,), dtype="int32", name="label")
        inputs.append(label)
        embedded = layers.Flatten()(layers.Embedding(num_classes, latent_dim)(label))
        x = layers.Concatenate()([z, embedded])

    if arch == "dense":
        for units in (4 * width, 8 * width):
            x = layers.LeakyReLU(0.2)(layers.Dense(units)(x))
        x = layers.Dense(math.prod(image_shape))(x)
        x = layers.Reshape(tuple(image_shape))(x)
    else:
        # Seed grid -> doublings by transposed convs (not UpSampling2D, so XLA can differentiate),
        # halving the channels each time: 7x7x2w -> 14x14xw -> 28x28xw/2 for digits (96, 48, 32 for w48).
        # The fused BatchNorm of the hunt CNN: Keras' own cost more than the generator's convolutions
        # (train step +12-16% in bfloat16, +6-7% in float32 on an AMX Xeon, benchmarks/gan_layers.py).
        seed_h, seed_w, doublings = upsampling_plan(height, width_px)
        sync = across_workers()  # statistics of the global batch, as one process would see it
        seed_channels = rounded_channels(_channels(width, doublings - 1), channel_multiple)
        x = layers.Dense(seed_h * seed_w * seed_channels, use_bias=False)(x)
        x = layers.ReLU()(FusedBatchNormalization(synchronized=sync)(x))
        x = layers.Reshape((seed_h, seed_w, seed_channels))(x)
        for level in range(doublings - 2, -2, -1):
            channels_out = rounded_channels(_channels(width, level) if level >= 0 else max(1, width // 2),
                                            channel_multiple)
            x = layers.Conv2DTranspose(channels_out, kernel_size, strides=2, padding="same", use_bias=False)(x)
            x = layers.ReLU()(FusedBatchNormalization(synchronized=sync)(x))
        # A last 3x3 conv at full resolution cleans up strokes (measured: lower FCD per second).
        x = layers.Conv2D(channels, 3, padding="same")(x)
    outputs = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(inputs if num_classes else z, outputs, name=name)


def build_discriminator(arch="dcgan", width=64, kernel_size=4, num_classes=0, dropout=0.3, image_shape=MNIST_SHAPE,
                        spectral_norm=False, minibatch_std=False, name="discriminator"):
    """Map images (and labels, when conditional) to one real-vs-fake logit."""
    _check_arch(arch)
    height, width_px, _ = image_shape
    image = keras.Input(tuple(image_shape), name="image")
    inputs, x = [image], image
    if num_classes:
        # The label enters as an extra image channel, so every filter can condition on it.
        label = keras.Input((1,), dtype="int32", name="label")
        inputs.append(label)
        plane = layers.Embedding(num_classes, height * width_px)(label)
        x = layers.Concatenate()([image, layers.Reshape((height, width_px, 1))(plane)])

    def normed(layer):
        return _discriminator_layer(layer, spectral_norm)

    if arch == "dense":
        x = layers.Flatten()(x)
        if minibatch_std:
            x = MinibatchStdDev()(x[:, None, None, :])[:, 0, 0, :]
        for units in (8 * width, 4 * width):
            x = ByteDropout(dropout)(layers.LeakyReLU(0.2)(normed(layers.Dense(units))(x)))
    else:
        # The generator's plan in reverse: one stride-2 conv per doubling, channels w -> 2w -> ...
        _, _, doublings = upsampling_plan(height, width_px)
        for level in range(doublings):
            conv = layers.Conv2D(_channels(width, level), kernel_size, strides=2, padding="same")
            x = layers.LeakyReLU(0.2)(normed(conv)(x))
        if minibatch_std:
            x = MinibatchStdDev()(x)
        x = ByteDropout(dropout)(layers.Flatten()(x))
    outputs = normed(layers.Dense(1, dtype="float32", name="logit"))(x)
    return keras.Model(inputs if num_classes else image, outputs, name=name)
