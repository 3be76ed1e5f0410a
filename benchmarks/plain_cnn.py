"""The reference every hunt benchmark compares with: a plain load-then-fit CNN, as a
competitor writes it in 30 lines (resize everything to 128 px in memory, three conv
blocks, flatten, dense, Adam, 10 epochs). Our detector must beat this on data we never made.

    probs = plain_cnn_probabilities(train_paths, train_labels, test_paths, seed=0)   # P(class 1)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gradient_hunt.runtime import import_keras

SIZE = 128


def load(paths, size=SIZE):
    def one(path):
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB").resize((size, size)))
        except Exception:  # a broken file is a black image, as a quick script would do
            return np.zeros((size, size, 3), np.uint8)

    return np.stack([one(p) for p in paths])


def plain_cnn_probabilities(train_paths, train_labels, test_paths, seed=0, epochs=10, size=SIZE):
    keras = import_keras()
    from keras import layers

    keras.utils.set_random_seed(seed)
    x, y = load(train_paths, size), np.asarray(train_labels)
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        layers.Rescaling(1 / 255.0),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(128, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dropout(0.5),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model.predict(load(test_paths, size), verbose=0)[:, 1]
