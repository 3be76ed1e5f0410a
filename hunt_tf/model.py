"""build_classifier(...): the functional CNN, or a keras.applications backbone.

    model = build_classifier(image_size=64, num_classes=2)                      # scratch CNN
    model = build_classifier(image_size=64, num_classes=2, input_kind="residual")         # NPR residuals
    model = build_classifier(image_size=96, num_classes=2, head="flatten")                # layout counts
    model = build_classifier(image_size=96, num_classes=2, backbone="efficientnetb0", weights="none")

Inputs are raw pixels (float 0..255); each model scales them (and takes residuals) itself,
so a saved model predicts from plain decoded images.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import layers, regularizers

from gradient_hunt.batchnorm import FusedBatchNormalization
from gradient_hunt.multi_worker import across_workers
from gradient_hunt.precision import Workload
from gradient_hunt.settings import SettingsError
from hunt_tf.choices import ARCHITECTURES, BACKBONES, FLATTEN_UNITS, MODEL_HEADS
from hunt_tf.config import HuntConfig
from hunt_tf.crops import COLOUR_CONVS, auto_head, auto_input
from hunt_tf.errors import WeightsError
from hunt_tf.optim import make_optimizer
from hunt_tf.residual import pixel_features

MIN_BACKBONE_SIZE = 32  # keras.applications refuses smaller inputs


def conv_block(x, filters, kernel_size, pool_size, batchnorm, l2, name, convs=1):
    """(Conv -> BatchNorm -> ReLU) x convs -> max pooling."""
    for j in range(convs):
        suffix = "" if j == 0 else f"{j + 1}"  # the first layer keeps the one-conv block's names
        x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batchnorm,
                          kernel_regularizer=regularizers.L2(l2) if l2 else None, name=f"{name}_conv{suffix}")(x)
        if batchnorm:
            # momentum 0.9, not 0.99: competition folders are small, and the moving statistics
            # must settle within a few hundred steps for validation to mean anything.
            x = FusedBatchNormalization(momentum=0.9, synchronized=across_workers(), name=f"{name}_bn{suffix}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{suffix}")(x)
    return layers.MaxPooling2D(pool_size, padding="same", name=f"{name}_pool")(x)


def build_classifier(image_size=64, num_classes=2, backbone="cnn", filters=32, depth=3, kernel_size=3,
                     pool_size=2, batchnorm=True, l2=1e-4, dropout=0.3, weights="none", input_kind="rgb", convs=1,
                     head="gap"):
    """A Keras functional model from raw RGB pixels to class probabilities (softmax)."""
    if backbone not in ARCHITECTURES:
        raise SettingsError(f"unknown backbone {backbone!r}; choose from {', '.join(ARCHITECTURES)}")
    if head not in MODEL_HEADS:
        raise SettingsError(f"unknown head {head!r}; choose from {', '.join(MODEL_HEADS)}")
    if backbone != "cnn" and input_kind != "rgb":
        raise SettingsError(f"--input {input_kind} is for the cnn backbone; {backbone} was built for RGB photographs")
    if backbone != "cnn" and head != "gap":
        raise SettingsError(f"--head {head} is for the cnn backbone; {backbone} pools its own features")
    if convs < 1:
        raise SettingsError(f"--convs must be at least 1 (got {convs})")
    if backbone != "cnn" and image_size < MIN_BACKBONE_SIZE:
        raise SettingsError(f"the {backbone} backbone needs images of at least {MIN_BACKBONE_SIZE}x{MIN_BACKBONE_SIZE} "
                            f"(this run uses {image_size}); pass --image-size {MIN_BACKBONE_SIZE} or --backbone cnn")
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    if backbone == "cnn":
        x = pixel_features(inputs, input_kind)
        for i in range(depth):
            x = conv_block(x, filters * 2**i, kernel_size, pool_size, batchnorm, l2, name=f"block{i + 1}", convs=convs)
        if head == "flatten":
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(FLATTEN_UNITS, activation="relu", kernel_regularizer=regularizers.L2(l2) if l2 else None,
                             name="hidden")(x)
        else:
            x = layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = _backbone(inputs, backbone, weights, image_size)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"hunt_{backbone}")


def build_model(config: HuntConfig, image_size: int, num_classes: int, jit_compile=False, steps_per_epoch=1):
    """The classifier a HuntConfig describes, compiled with its optimizer and schedule."""
    model = build_classifier(image_size, num_classes, config.backbone, config.filters, config.depth,
                             config.kernel_size, config.pool_size, config.batchnorm, config.l2, config.dropout,
                             config.weights, auto_input(config.input, image_size, config.backbone),
                             resolved_convs(config), auto_head(config.head, config.resize_mode, image_size, config.backbone))
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def resolved_convs(config: HuntConfig) -> int:
    """The config's conv layers per block; 0 means "from the data" (crops.choose_sizes fills it
    for a run), and a config used without data (a library call) gets the colour choice."""
    return config.convs or COLOUR_CONVS


def precision_probe(config: HuntConfig, image_size: int, num_classes: int) -> Workload:
    """The runtime's precision measurement of exactly this model, at this size and batch: a
    training step of it (gradient_hunt.precision)."""
    timed = dataclasses.replace(config, weights="none")  # weights change no speed, and may need a download

    def step(model):
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (config.batch_size, image_size, image_size, 3)).astype("float32")
        labels = np.arange(config.batch_size) % num_classes
        return lambda: model.train_on_batch(images, labels)

    return Workload(f"hunt {image_size}px b{config.batch_size}", lambda: build_model(timed, image_size, num_classes), step)


def _backbone(inputs, name, weights, image_size):
    constructor, pixels = BACKBONES[name]
    x = inputs if pixels == "raw" else layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    pretrained = "imagenet" if weights == "imagenet" else None
    try:
        net = getattr(keras.applications, constructor)(include_top=False, weights=pretrained,
                                                       input_shape=(image_size, image_size, 3), pooling="avg")
    except Exception as err:
        if pretrained:
            raise WeightsError(
                f"ImageNet weights for {constructor} could not be downloaded ({type(err).__name__}); "
                "offline, use --weights none (train from scratch) or --weights PATH (a saved .weights.h5)"
            ) from None
        raise
    if weights not in ("imagenet", "none", None):
        try:
            net.load_weights(weights)
        except Exception as err:
            raise WeightsError(f"cannot load backbone weights from {weights}: {err}") from None
    return net(x)
