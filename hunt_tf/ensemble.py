"""Several CNNs trained on the same split from different seeds, their probabilities averaged.

    while wants_another(config.members, seconds):   # 0 = auto: as many as the time budget allows, up to 3
        ...train member k from seed + k, append its training seconds...
    model = combine([model_0, model_1, model_2])      # one Keras model: pixels in, mean probability out
    parts = members_of(model)                         # [model_0, ...] again (a single model: [model])

A deep ensemble (Lakshminarayanan et al., NeurIPS 2017): members that differ only in their
initialisation, shuffling and augmentation make different mistakes, so their average is more
accurate and better calibrated than any one of them. The combined model is saved as the run's
`model.keras`, so `hunt-tf predict|evaluate|explain` read it as they read a single network.

Each member costs one network's training time, so "auto" trains the first, then another
only while the time spent so far plus one more member's (the slowest so far) stays within
AUTO_BUDGET_S. Measured on a 2-core Xeon (BENCHMARKS.md, session 12): three members for
CIFAKE (about 70 s each) and Fashion-MNIST folders (about 30 s), two for a thousand 256-512 px
images (about 105 s each; 225 s for the whole `make train-cnn`). Since the epochs of a small
folder come from its size (hunt_tf.optim.auto_epochs), one such network takes longer: on a
2-core EPYC (session 15) auto trained one for r1 (39 epochs) and for 1,000 images (20). A slower
or busier machine trains fewer, and a run records how many it trained (report.json "members").
"""

from __future__ import annotations

import keras
from keras import layers

from gradient_hunt.settings import SettingsError

AUTO_MAX_MEMBERS = 3
AUTO_BUDGET_S = 300.0  # seconds of training for the whole ensemble: `make train-cnn` stays well inside 10 minutes


def check(members: int) -> int:
    """`members` if it is a member count the command line may ask for (0 = auto), else a SettingsError."""
    if members < 0:
        raise SettingsError(f"--members must be 0 (auto) or more (got {members})")
    return members


def wants_another(members: int, seconds) -> bool:
    """Whether to train one more member, given the training seconds of those trained so far:
    until there are `members`, or for 0 (auto) the first always, then more while the total
    plus the slowest so far (early stopping makes members differ) stays within AUTO_BUDGET_S,
    up to AUTO_MAX_MEMBERS."""
    done = len(seconds)
    if check(members):
        return done < members
    if done == 0:
        return True
    return done < AUTO_MAX_MEMBERS and sum(seconds) + max(seconds) <= AUTO_BUDGET_S


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
