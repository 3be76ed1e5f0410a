"""How good are the samples? Measured in the feature spaces of two small image classifiers.

    from gan_tf.quality import Judge
    judge = Judge.for_dataset(images, labels, "mnist")   # shipped judges, or trained at first use
    report = judge.score(fake_images)                    # distances, score, modes
    print(judge.source, report["fcd"], report["fcd_real_floor"], report["kid2"])

Two judges, each a classifier whose penultimate layer is a feature space:
- A (`fcd`, `kid`): two conv layers, average-pooled to a 4x4 grid, 128 features. The GAN's
  defaults were tuned against this space (v1's recipe, pooled so that any image size fits).
- B (`fcd2`, `kid2`): a different architecture (BatchNorm, three conv blocks, global average
  pooling, 64 features), another seed, trained on the other half of the real data: a second
  opinion that no default was tuned against.

For mnist/mnist5k and fashion at 28x28x1 the judges ship with the package (gan_tf/judges/,
made by tools/train_judges.py), so distances mean the same on every machine. Any other data
gets judges trained at first use and cached per data digest: comparable only on that machine.

- Frechet classifier distance (FCD): FID's formula, fakes vs held-out real images.
- Kernel distance (KID, Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial
  kernel, averaged over subsets; unlike FCD it has no bias with few samples, so it can dip below 0.
- `*_real_floor`: the same measure between two disjoint halves of the real images, n each.
- Classifier score: exp(E_x[KL(p(y|x) || p(y))]) under A, 1 (useless) .. num_classes (perfect).
- Modes: the share of samples A puts in each class.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
import numpy as np
from keras import layers
from scipy import linalg

from gan_tf.errors import DatasetError
from gradient_hunt.atomic import save_model
from gradient_hunt.cache import cache_dir

CLASSIFIER_VERSION = "v2"  # bump when an architecture or the training recipe changes (and retrain the shipped judges)
FEATURES_LAYER = "features"
# A class counts as "covered" when it holds at least this share of uniform (1/num_classes).
MODE_PRESENT_FRACTION = 0.25
JUDGES_DIR = Path(__file__).parent / "judges"
SHIPPED_JUDGES = {"mnist": "mnist", "mnist5k": "mnist", "fashion": "fashion"}  # dataset name -> judge files
SHIPPED_SHAPE = (28, 28, 1)
FIRST_USE = "trained at first use"
# The rows A and B train on; a split independent of the floor's (seed 0), so each floor half
# holds seen and unseen rows alike for both judges.
TRAINING_SPLIT_SEED = 1
SEEDS = {"a": 0, "b": 1}
BATCH_SIZE, MIN_STEPS = 64, 150  # every judge gets at least MIN_STEPS optimizer steps
HELD_OUT_ROWS = 10_000  # accuracy is measured on at most this many rows of the other half
KID_SUBSETS, KID_SUBSET_SIZE = 10, 1000
GRID = 4  # judge A pools its feature maps to at most GRID x GRID cells
F32 = {"dtype": "float32"}  # metrics must not change with the training precision


def build_classifier_a(input_shape=SHIPPED_SHAPE, num_classes=10):
    """Judge A: two conv layers, average-pooled to a grid of (at most) 4x4 whatever the input size, 128 features."""
    x = inputs = keras.Input(input_shape)
    x = layers.Rescaling(1 / 255.0, **F32)(x)
    for filters in (32, 64):
        x = layers.MaxPooling2D(**F32)(layers.Conv2D(filters, 3, padding="same", activation="relu", **F32)(x))
    # A coarse grid keeps where the strokes are. Windows sized from the static shape (7x7, 16x16,
    # 4x10 -> 4x4; 5x5 -> 3x3) need no adaptive-pooling layer, which Keras 3.12 (our minimum) lacks.
    window = tuple(-(-side // GRID) for side in x.shape[1:3])
    x = layers.AveragePooling2D(window, padding="same", **F32)(x)
    x = layers.Dense(128, activation="relu", name=FEATURES_LAYER, **F32)(layers.Flatten(**F32)(x))
    x = layers.Dropout(0.3, **F32)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax", **F32)(x), name="judge_a")


def build_classifier_b(input_shape=SHIPPED_SHAPE, num_classes=10):
    """Judge B: three conv + BatchNorm blocks, global average pooling, 64 features."""
    x = inputs = keras.Input(input_shape)
    x = layers.Rescaling(1 / 255.0, **F32)(x)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, **F32)(x)
        # A quick momentum: small first-use data gives few steps to settle the running statistics.
        x = layers.ReLU(**F32)(layers.BatchNormalization(momentum=0.9, **F32)(x))
        x = layers.MaxPooling2D(**F32)(x)
    x = layers.Dense(64, activation="relu", name=FEATURES_LAYER, **F32)(layers.GlobalAveragePooling2D(**F32)(x))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax", **F32)(x), name="judge_b")


BUILDERS = {"a": build_classifier_a, "b": build_classifier_b}


def _split(n, seed=0):
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def training_halves(n):
    """The disjoint rows judge A and judge B train on."""
    return _split(n, TRAINING_SPLIT_SEED)


def fit_classifier(which, images, labels, held_images, held_labels, num_classes, epochs):
    """Fit judge `which` ("a" or "b") with its own seed; returns (model, held-out accuracy)."""
    keras.utils.set_random_seed(SEEDS[which])
    model = BUILDERS[which](images.shape[1:], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Small data: repeat the rows until the judge gets MIN_STEPS steps (one long epoch is far
    # cheaper than many short ones), rather than hand back a judge that has barely trained.
    repeats = -(-MIN_STEPS * BATCH_SIZE // (len(images) * epochs))
    if repeats > 1:
        images, labels = np.tile(images, (repeats, 1, 1, 1)), np.tile(labels, repeats)
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=0)
    _, accuracy = model.evaluate(held_images, held_labels, batch_size=1000, verbose=0)
    # An uncompiled copy: saved weights then hold the network alone, not Adam's moments (3x the size).
    judge = BUILDERS[which](images.shape[1:], num_classes)
    judge.set_weights(model.get_weights())
    return judge, float(accuracy)


def train_judges(images, labels, epochs=10, verbose=True, name="data"):
    """A on one half of the rows, B on the other; each is tested on the half it never saw."""
    num_classes = int(labels.max()) + 1
    halves = dict(zip("ab", training_halves(len(images))))
    judges, accuracy = {}, {}
    for which, other in (("a", "b"), ("b", "a")):
        rows, held = halves[which], halves[other][:HELD_OUT_ROWS]
        judges[which], accuracy[which] = fit_classifier(
            which, images[rows], labels[rows], images[held], labels[held], num_classes, epochs
        )
        if verbose:
            print(f"judge {which.upper()} for {name}: held-out accuracy {accuracy[which]:.4f} ({len(rows)} training rows)")
    return judges, accuracy


def frechet_distance(a, b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    # A tiny ridge keeps the product well-conditioned: ReLU features include dead units.
    ridge = 1e-6 * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * covmean))


def kernel_distance(a, b, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=0):
    """KID: unbiased MMD^2 under k(x, y) = (x.y / d + 1)^3, averaged over random subsets."""
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    rng = np.random.default_rng(seed)  # fixed subsets: the same sets always give the same number
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx, k_yy, k_xy = ((p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
        # Leaving out the diagonals (k(x, x)) is what makes the estimate unbiased.
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2 * k_xy.mean())
    return float(np.mean(values))


def classifier_score(probs, eps=1e-12):
    marginal = probs.mean(0, keepdims=True)
    kl = np.sum(probs * (np.log(probs + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def _feature_model(classifier):
    return keras.Model(classifier.input, [classifier.get_layer(FEATURES_LAYER).output, classifier.output])


def _space_distances(features, reference):
    return frechet_distance(features, reference), kernel_distance(features, reference)


class Judge:
    """Judges A and B plus the real reference they compare samples against.

    `source` says where the judges came from: "shipped mnist judges v2", or "trained at first use".
    """

    def __init__(self, classifier, second, real_images, n=2500, seed=0, source=FIRST_USE):
        self.classifier, self.second, self.source = classifier, second, source
        self.num_classes = classifier.output_shape[-1]
        image = keras.Input(classifier.input_shape[1:])
        features_a, probs_a = _feature_model(classifier)(image)
        features_b, _ = _feature_model(second)(image)
        self._embedder = keras.Model(image, [features_a, probs_a, features_b])
        half_a, half_b = _split(len(real_images), seed)
        self.n = min(n, len(half_a))
        self.reference = self.embed_both(real_images[half_b[: self.n]])
        floor = self.embed_both(real_images[half_a[: self.n]])
        self.real_floor, self.kid_real_floor = _space_distances(floor[0], self.reference[0])
        self.real_floor2, self.kid2_real_floor = _space_distances(floor[1], self.reference[1])

    @classmethod
    def for_dataset(cls, images, labels, name, n=2500, epochs=10, verbose=True):
        """The shipped judges for mnist/mnist5k/fashion at 28x28x1; otherwise load the cached
        judges for this data, or train them (about a minute per 10,000 small images on 2 CPU cores)."""
        if labels is None:
            raise DatasetError("quality metrics need a labelled dataset (mnist, mnist5k, fashion, or labelled idx/folder)")
        images, labels = np.asarray(images), np.asarray(labels)
        key = SHIPPED_JUDGES.get(str(name).lower())
        if key and images.shape[1:] == SHIPPED_SHAPE and int(labels.max()) + 1 == 10:
            (a, b), accuracy = load_shipped_judges(key)
            source = f"shipped {key} judges {CLASSIFIER_VERSION}"
            note = f"held-out accuracy A {accuracy['a']:.3f}, B {accuracy['b']:.3f}"
        else:
            a, b = first_use_judges(images, labels, name, epochs, verbose)
            source = FIRST_USE
            note = "on this machine, cached in " + str(cache_dir()) + ": its distances are comparable only within this machine"
        if verbose:
            print(f"quality judges for {name}: {source} ({note})")
        return cls(a, b, images, n=n, source=source)

    def embed(self, images):
        """Features and class probabilities in the first space (judge A)."""
        features_a, probs_a, _ = self._embed(images)
        return features_a, probs_a

    def embed_both(self, images):
        """(features in A's space, features in B's space, A's class probabilities)."""
        features_a, probs_a, features_b = self._embed(images)
        return features_a, features_b, probs_a

    def _embed(self, images, batch_size=1000):
        outputs = self._embedder.predict(np.asarray(images), batch_size=batch_size, verbose=0)
        return [o.astype("float64") for o in outputs]

    def score(self, fake_images, requested=None):
        """Metrics for uint8 samples (N, H, W, C); `requested` = the classes a conditional GAN was asked for."""
        features_a, features_b, probs = self.embed_both(fake_images[: self.n])
        fcd, kid = _space_distances(features_a, self.reference[0])
        fcd2, kid2 = _space_distances(features_b, self.reference[1])
        predicted = probs.argmax(1)
        shares = np.bincount(predicted, minlength=self.num_classes) / len(predicted)
        report = {
            "fcd": fcd,
            "fcd_real_floor": self.real_floor,
            "kid": kid,
            "kid_real_floor": self.kid_real_floor,
            "fcd2": fcd2,
            "fcd2_real_floor": self.real_floor2,
            "kid2": kid2,
            "kid2_real_floor": self.kid2_real_floor,
            "classifier_score": classifier_score(probs),
            "modes_covered": int(np.sum(shares >= MODE_PRESENT_FRACTION / self.num_classes)),
            "mode_shares": [round(float(s), 4) for s in shares],
            "n_samples": int(len(features_a)),
            "judges": self.source,
        }
        if requested is not None:
            report["conditional_accuracy"] = float(np.mean(predicted == np.asarray(requested)[: len(predicted)]))
        return report


def shipped_manifest():
    """judges.json: the version, recipe, held-out accuracies and floors of the shipped judges."""
    path = JUDGES_DIR / "judges.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_shipped_judges(key):
    """((judge A, judge B), held-out accuracies) from gan_tf/judges/; no training."""
    manifest = shipped_manifest()
    entry, version = manifest.get("judges", {}).get(key), manifest.get("version")
    if entry is None or version != CLASSIFIER_VERSION:
        raise DatasetError(
            f"the shipped {key} judges are missing or stale ({version}, this code builds {CLASSIFIER_VERSION}); "
            f"run tools/train_judges.py --only {key}"
        )
    judges = []
    for which in "ab":
        model = BUILDERS[which](SHIPPED_SHAPE, 10)
        model.load_weights(JUDGES_DIR / f"{key}-{which}.weights.h5")
        judges.append(model)
    return tuple(judges), entry["accuracy"]


def first_use_judges(images, labels, name, epochs=10, verbose=True):
    """Judges A and B for data without shipped ones: cached per data digest, else trained now."""
    digest = hashlib.sha1(str(images.shape).encode() + images.tobytes() + labels.tobytes()).hexdigest()[:12]
    paths = [cache_dir() / f"classifier-{CLASSIFIER_VERSION}-{digest}-{which}.keras" for which in "ab"]
    if all(p.exists() for p in paths):
        return tuple(keras.saving.load_model(p) for p in paths)
    judges, _ = train_judges(images, labels, epochs=epochs, verbose=verbose, name=name)
    for which, path in zip("ab", paths):
        save_model(judges[which], path)  # parallel runs never read half a file
    return judges["a"], judges["b"]
