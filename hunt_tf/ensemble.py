"""Several CNNs trained on the same split from different seeds, their probabilities averaged.

    members = resolve(config.members, config.decode_size)   # "0" made concrete: 3 for tiny images, else 1
    model = combine([model_0, model_1, model_2])             # one Keras model: pixels in, mean probability out
    parts = members_of(model)                                 # [model_0, ...] again (a single model: [model])

A deep ensemble (Lakshminarayanan et al., NeurIPS 2017): members that differ only in their
initialisation, shuffling and augmentation make different mistakes, so their average is more
accurate and better calibrated than any one of them. The combined model is saved as the run's
`model.keras`, so `hunt-tf predict|evaluate|explain` read it as they read a single network.

Measured (BENCHMARKS.md, session 12): on CIFAKE's 1,000 test images, 3 members averaged
0.925 (worst 0.920) where single networks of the same seeds averaged 0.917 (worst 0.908).
Training costs one network's time per member, so the default is one member except where
images are tiny (decoded under RESIDUAL_MIN_SIDE px: 32 px photographs, 28 px digits).
"""

from __future__ import annotations

import keras
from keras import layers

from gradient_hunt.settings import SettingsError
from hunt_tf.choices import RESIDUAL_MIN_SIDE

TINY_IMAGE_MEMBERS = 3


def resolve(members: int, decode_size: int) -> int:
    """The number of networks a run trains: `members`, or where 0, TINY_IMAGE_MEMBERS for images
    decoded under RESIDUAL_MIN_SIDE px (where a network trains in about a minute) and 1 otherwise."""
    if members < 0:
        raise SettingsError(f"--members must be 0 (from the data) or more (got {members})")
    if members:
        return members
    return TINY_IMAGE_MEMBERS if decode_size < RESIDUAL_MIN_SIDE else 1


def combine(models) -> keras.Model:
    """One model whose output is the mean of the members' class probabilities (one model: itself)."""
    if len(models) == 1:
        return models[0]
    inputs = keras.Input(models[0].input_shape[1:], name="pixels")
    # Each member re-wrapped under its own name: a functional model's layers need unique names.
    named = [keras.Model(m.input, m.output, name=f"member{k}") for k, m in enumerate(models)]
    outputs = layers.Average(dtype="float32", name="mean_probability")([m(inputs) for m in named])
    return keras.Model(inputs, outputs, name="hunt_ensemble")


def members_of(model) -> list:
    """The networks inside a combined model, in order; a single network is its own only member."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner if model.name == "hunt_ensemble" else [model]
