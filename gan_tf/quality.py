"""How good are the samples? Measured in the feature space of a small digit classifier.

    from gan_tf.quality import Judge
    judge = Judge.for_dataset(dataset)           # trains (or loads the cached) classifier
    report = judge.score(fake_images)            # classifier distance, score, modes
    print(report["fcd"], report["fcd_real_floor"])

- Frechet classifier distance (FCD): FID's formula on the classifier's penultimate
  features, fakes vs held-out real images; `fcd_real_floor` is real vs real, same sizes.
- Classifier score: exp(E_x[KL(p(y|x) || p(y))]), 1 (useless) .. num_classes (perfect).
- Modes: the share of samples the classifier puts in each class.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np
from keras import layers
from scipy import linalg

from gan_tf.errors import DatasetError
from gradient_hunt.atomic import save_model
from gradient_hunt.cache import cache_dir

CLASSIFIER_VERSION = "v1"  # bump when the architecture or training recipe changes
FEATURES_LAYER = "features"
# A class counts as "covered" when it holds at least this share of uniform (1/num_classes).
MODE_PRESENT_FRACTION = 0.25


def build_digit_classifier(num_classes=10):
    """A small float32 CNN; its 128-unit layer is the feature space for the distance."""
    f32 = {"dtype": "float32"}  # metrics must not change with the training precision
    x = inputs = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255.0, **f32)(x)
    x = layers.MaxPooling2D(**f32)(layers.Conv2D(32, 3, activation="relu", **f32)(x))
    x = layers.MaxPooling2D(**f32)(layers.Conv2D(64, 3, activation="relu", **f32)(x))
    x = layers.Dense(128, activation="relu", name=FEATURES_LAYER, **f32)(layers.Flatten(**f32)(x))
    x = layers.Dropout(0.3, **f32)(x)
    outputs = layers.Dense(num_classes, activation="softmax", **f32)(x)
    return keras.Model(inputs, outputs, name="digit_classifier")


def _split(n, seed=0):
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def frechet_distance(a, b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    # A tiny ridge keeps the product well-conditioned: ReLU features include dead units.
    ridge = 1e-6 * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * covmean))


def classifier_score(probs, eps=1e-12):
    marginal = probs.mean(0, keepdims=True)
    kl = np.sum(probs * (np.log(probs + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


class Judge:
    """A trained digit classifier plus the real reference it compares samples against."""

    def __init__(self, classifier, real_images, real_labels=None, n=2500, seed=0):
        self.classifier = classifier
        self.num_classes = classifier.output_shape[-1]
        self.feature_model = keras.Model(classifier.input, [classifier.get_layer(FEATURES_LAYER).output, classifier.output])
        half_a, half_b = _split(len(real_images), seed)
        self.n = min(n, len(half_a))
        self.reference_features, _ = self.embed(real_images[half_b[: self.n]])
        floor_features, _ = self.embed(real_images[half_a[: self.n]])
        self.real_floor = frechet_distance(floor_features, self.reference_features)

    @classmethod
    def for_dataset(cls, images, labels, name, n=2500, epochs=10, verbose=True):
        """Load the cached classifier for this data, or train one (about a minute on 2 CPU cores)."""
        if labels is None:
            raise DatasetError("quality metrics need a labelled dataset (mnist, mnist5k, fashion, or labelled idx/folder)")
        digest = hashlib.sha1(images.tobytes() + labels.tobytes()).hexdigest()[:12]
        path = cache_dir() / f"classifier-{CLASSIFIER_VERSION}-{digest}.keras"
        if path.exists():
            classifier = keras.saving.load_model(path)
        else:
            classifier = train_classifier(images, labels, epochs=epochs, verbose=verbose, name=name)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_model(classifier, path)  # parallel runs never read half a file
        return cls(classifier, images, labels, n=n)

    def embed(self, images, batch_size=1000):
        features, probs = self.feature_model.predict(np.asarray(images), batch_size=batch_size, verbose=0)
        return features.astype("float64"), probs.astype("float64")

    def score(self, fake_images, requested=None):
        """Metrics for uint8 samples (N, 28, 28, 1); `requested` = the digits a conditional GAN was asked for."""
        features, probs = self.embed(fake_images[: self.n])
        predicted = probs.argmax(1)
        shares = np.bincount(predicted, minlength=self.num_classes) / len(predicted)
        report = {
            "fcd": frechet_distance(features, self.reference_features),
            "fcd_real_floor": self.real_floor,
            "classifier_score": classifier_score(probs),
            "modes_covered": int(np.sum(shares >= MODE_PRESENT_FRACTION / self.num_classes)),
            "mode_shares": [round(float(s), 4) for s in shares],
            "n_samples": int(len(features)),
        }
        if requested is not None:
            report["conditional_accuracy"] = float(np.mean(predicted == np.asarray(requested)[: len(predicted)]))
        return report


def train_classifier(images, labels, epochs=10, verbose=True, name="data", seed=0):
    """Fit the digit classifier on 90% of the real data; print its held-out accuracy."""
    keras.utils.set_random_seed(seed)
    num_classes = int(labels.max()) + 1
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(0.9 * len(order))
    train, held = order[:cut], order[cut:]
    classifier = build_digit_classifier(num_classes)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(images[train], labels[train], batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    _, accuracy = classifier.evaluate(images[held], labels[held], verbose=0)
    if verbose:
        print(f"digit classifier for {name}: held-out accuracy {accuracy:.3f} (cached in {cache_dir()})")
    return classifier
