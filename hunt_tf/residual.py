"""What the network sees: RGB, NPR residuals (generator traces), or both.

    x = pixel_features(inputs, "residual")   # raw 0..255 pixels in, features for the first conv out

NPR, neighbouring pixel relationships (Tan et al., CVPR 2024, "Rethinking the Up-Sampling
Operations in CNN-based Generative Network for Generalizable Deepfake Detection"): every
generator that upsamples leaves a fixed relation between the pixels of each 2x2 cell. The
residual `x - up(down(x))`, nearest neighbour both ways, keeps that relation and drops
most of the content, so a detector trained on it transfers better to generators it never
saw than one trained on RGB (92.5% vs 67.1% mean across unseen generators in the paper).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from gradient_hunt.settings import SettingsError
from hunt_tf.choices import MODEL_INPUTS

# Residuals of 0..255 pixels are mostly within +-16: scaled so the first conv sees values
# of order one, as it does for RGB / 255.
RESIDUAL_SCALE = 1 / 32.0


@keras.saving.register_keras_serializable(package="hunt_tf")
class NPRResidual(layers.Layer):
    """x - nearest_up(nearest_down(x, 2)): each pixel minus the top-left pixel of its 2x2 cell.

    The cell grid starts at the image's top-left corner, so crops taken at even offsets
    (hunt_tf.crops) keep the grid of the image they came from.
    """

    def call(self, x):
        anchors = x[:, ::2, ::2, :]
        up = ops.repeat(ops.repeat(anchors, 2, axis=1), 2, axis=2)
        return x - up[:, : ops.shape(x)[1], : ops.shape(x)[2], :]

    def compute_output_shape(self, input_shape):
        return input_shape


def pixel_features(inputs, kind="rgb"):
    """Raw pixels (float, 0..255) -> the first layer's input for the chosen kind."""
    if kind not in MODEL_INPUTS:  # "auto" is resolved from the data first (hunt_tf.crops.choose_sizes)
        raise SettingsError(f"unknown input {kind!r}; choose from {', '.join(MODEL_INPUTS)}")
    rgb = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    if kind == "rgb":
        return rgb
    residual = layers.Rescaling(RESIDUAL_SCALE, name="residual_scale")(NPRResidual(name="npr")(inputs))
    if kind == "residual":
        return residual
    return layers.Concatenate(name="rgb_and_residual")([rgb, residual])
