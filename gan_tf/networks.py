"""Generator and discriminator builders: `dcgan` (convolutional) and `dense` (the baseline).

    from gan_tf.networks import build_generator, build_discriminator
    g = build_generator("dcgan", latent_dim=64, width=64)           # z -> (28, 28, 1) in [-1, 1]
    d = build_discriminator("dcgan", width=64, num_classes=10)      # [image, label] -> logit

With `num_classes > 0` both networks are conditional: they take `[input, label]`.
The last layer of each runs in float32 so mixed precision never reaches the loss.
"""

from __future__ import annotations

import keras
from keras import layers

from gan_tf.config import ARCHITECTURES

IMAGE_SHAPE = (28, 28, 1)


def _check_arch(arch):
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")


def build_generator(arch="dcgan", latent_dim=64, width=64, kernel_size=4, num_classes=0, name="generator"):
    """Map latent vectors (and labels, when conditional) to 28x28x1 images in [-1, 1]."""
    _check_arch(arch)
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
        x = layers.Dense(28 * 28)(x)
        x = layers.Reshape(IMAGE_SHAPE)(x)
    else:
        # 7x7 seed -> 14x14 -> 28x28 -> 3x3 conv; transposed convs (not UpSampling2D) so XLA can differentiate.
        # Keras' BatchNormalization, not the fused one of the hunt CNN: on these small maps the fused
        # kernel measured ~15% slower per step in bfloat16 and no faster in float32 on this CPU
        # (benchmarks/gan_batchnorm.py).
        x = layers.Dense(7 * 7 * 2 * width, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Reshape((7, 7, 2 * width))(x)
        x = layers.Conv2DTranspose(width, kernel_size, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2DTranspose(width // 2, kernel_size, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        # A last 3x3 conv at full resolution cleans up strokes (measured: lower FCD per second).
        x = layers.Conv2D(1, 3, padding="same")(x)
    outputs = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(inputs if num_classes else z, outputs, name=name)


def build_discriminator(arch="dcgan", width=64, kernel_size=4, num_classes=0, dropout=0.3, name="discriminator"):
    """Map images (and labels, when conditional) to one real-vs-fake logit."""
    _check_arch(arch)
    image = keras.Input(IMAGE_SHAPE, name="image")
    inputs, x = [image], image
    if num_classes:
        # The label enters as an extra image channel, so every filter can condition on it.
        label = keras.Input((1,), dtype="int32", name="label")
        inputs.append(label)
        plane = layers.Embedding(num_classes, 28 * 28)(label)
        x = layers.Concatenate()([image, layers.Reshape(IMAGE_SHAPE)(plane)])

    if arch == "dense":
        x = layers.Flatten()(x)
        for units in (8 * width, 4 * width):
            x = layers.Dropout(dropout)(layers.LeakyReLU(0.2)(layers.Dense(units)(x)))
    else:
        x = layers.LeakyReLU(0.2)(layers.Conv2D(width, kernel_size, strides=2, padding="same")(x))
        x = layers.LeakyReLU(0.2)(layers.Conv2D(2 * width, kernel_size, strides=2, padding="same")(x))
        x = layers.Dropout(dropout)(layers.Flatten()(x))
    outputs = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs if num_classes else image, outputs, name=name)
