"""Cross-generator benchmark: a detector trained on ONE generator family, tested on families
it never saw, on MNIST and on Fashion-MNIST: `make hunt-bench`.

    .venv/bin/python benchmarks/hunt_families.py [--root runs/hunt-families] [--datasets mnist5k fashion]
                                                 [--train-family dcgan]

Generator families (each trained here on the dataset's real images):
  dcgan           the project's DCGAN (`gan-tf train`): transposed convolutions from 7x7
  dense           the project's MLP GAN (`gan-tf train --arch dense`): no upsampling at all
  vae             an MLP variational autoencoder, sampled from its prior: smooth, blurry
  ae-transposed   a conv autoencoder's reconstructions; decoder upsamples by transposed convs
  ae-nearest      the same with nearest-neighbour upsampling + conv
  ae-bilinear     the same with bilinear upsampling + conv
Train = 2,000 real + 2,000 fakes of the training family. With `--tune MINUTES` instead:
Train/AI holds two families in sub-folders (dcgan, dense; 1,000 each), `hunt-tune` searches
with one of them held out as its validation (leave-one-generator-out; `--tuner random` trains
every trial its full 15 epochs), and the tuned and the untuned detector are scored on the four
families neither the search nor training saw. `--two-families` trains the variants on that
folder instead of on one family. Test = 1,000 held-out real images +
500 fakes of every family; each family's score is the balanced accuracy of (its fakes, the
real test images). Fashion-MNIST comes from Debian's `dataset-fashion-mnist` offline
(`apt-get install dataset-fashion-mnist`). Steps whose outputs exist are skipped, and rows are
kept by variant name: `defaults` self-trains on Test where its test opens since session 21
(`--self-train`; 2 rounds then, 3 since session 22), so a root made before holds `defaults`
rows of an older default; use a new root, or name the setting with `--try`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gradient_hunt.runtime import import_keras

sys.path.insert(0, str(Path(__file__).parent))
from plain_cnn import plain_cnn_probabilities  # noqa: E402
from variants import add_tried, add_try_option  # noqa: E402

BIN = Path(sys.executable).parent
FAMILIES = ("dcgan", "dense", "vae", "ae-transposed", "ae-nearest", "ae-bilinear")
GAN_EPOCHS = {"mnist5k": {"dcgan": 25, "dense": 40}, "fashion": {"dcgan": 3, "dense": 5}}
# The named variants pin the settings they compare, the validation cut, one network and no
# self-training included (the rows in BENCHMARKS.md before sessions 9, 12 and 21 were measured
# so); "defaults" is whatever make train-cnn does.
PINNED = ["--cut", "validation", "--members", "1", "--self-train", "0"]
VARIANTS = {
    "defaults": [],
    "rgb": ["--input", "rgb", "--extra-fakes", "none", "--convs", "1", *PINNED],
    "residual": ["--input", "residual", "--extra-fakes", "none", "--convs", "1", *PINNED],
    "both": ["--input", "both", "--extra-fakes", "none", "--convs", "1", *PINNED],
    "rgb + resample fakes": ["--input", "rgb", "--extra-fakes", "resample", "--convs", "1", *PINNED],
    "residual + resample fakes": ["--input", "residual", "--extra-fakes", "resample", "--convs", "1", *PINNED],
    "rgb + noise fakes": ["--input", "rgb", "--extra-fakes", "noise", "--convs", "1", *PINNED],
    "rgb + resample+noise fakes": ["--input", "rgb", "--extra-fakes", "resample+noise", "--convs", "1", *PINNED],
    "rgb, 2 convs + resample fakes": ["--input", "rgb", "--extra-fakes", "resample", "--convs", "2", *PINNED],
    "rgb, 2 convs + resample+noise fakes": ["--input", "rgb", "--extra-fakes", "resample+noise", "--convs", "2", *PINNED],
}
N_TRAIN, N_TEST_REAL, N_TEST_FAKE = 2000, 1000, 500
TWO_FAMILIES = ("dcgan", "dense")  # --tune and --two-families: Train/AI holds 1,000 of each


def sh(*args):
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def real_images(dataset):
    from gan_tf.datasets import load

    images = load(dataset).images[..., 0]
    images = images[np.random.default_rng(0).permutation(len(images))]  # mnist5k is sorted by digit
    # Detector Real train, generator-independent test, and images the autoencoders reconstruct.
    return {"train": images[:N_TRAIN], "test": images[-N_TEST_REAL:], "recon": images[N_TRAIN : 2 * N_TRAIN],
            "recon_test": images[-N_TEST_REAL - N_TEST_FAKE : -N_TEST_REAL], "fit": images[: len(images) - N_TEST_REAL]}


def autoencoder(kind, latent=32):
    keras = import_keras()
    from keras import layers

    x = inp = keras.Input((28, 28, 1))
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Dense(latent)(layers.Flatten()(x))
    x = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(x))
    for filters in (64, 32):
        if kind == "transposed":
            x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu")(x)
        else:
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(layers.UpSampling2D(2, interpolation=kind)(x))
    out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    model = keras.Model(inp, out)
    model.compile("adam", "binary_crossentropy")
    return model


def vae_samples(fit_images, n, seed, latent=16, epochs=15):
    keras = import_keras()
    import tensorflow as tf
    from keras import layers

    class VAE(keras.Model):  # an MLP VAE (Kingma & Welling 2014)
        def __init__(self):
            super().__init__()
            self.enc = keras.Sequential([layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dense(2 * latent)])
            self.dec = keras.Sequential([layers.Dense(256, activation="relu"), layers.Dense(784, activation="sigmoid"),
                                         layers.Reshape((28, 28, 1))])

        def train_step(self, x):
            with tf.GradientTape() as tape:
                mu, logvar = tf.split(self.enc(x), 2, axis=1)
                z = mu + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mu))
                recon = tf.reduce_sum(keras.losses.binary_crossentropy(x, self.dec(z)), axis=(1, 2))
                kl = -0.5 * tf.reduce_sum(1 + logvar - mu**2 - tf.exp(logvar), axis=1)
                loss = tf.reduce_mean(recon + kl)
            self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
            return {"loss": loss}

    keras.utils.set_random_seed(0)
    vae = VAE()
    vae.compile(optimizer="adam")
    vae.fit(fit_images[..., None] / 255.0, epochs=epochs, batch_size=128, verbose=0)
    z = np.random.default_rng(seed).normal(size=(n, latent)).astype("float32")
    return vae.dec(z).numpy()[..., 0]


def make_fakes(dataset, family, real, root):
    """{'train': uint8 (N, 28, 28), 'test': ...} of one family, cached as .npz."""
    path = root / dataset / "fakes" / f"{family}.npz"
    if path.exists():
        return dict(np.load(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if family in ("dcgan", "dense"):
        run = root / dataset / "gans" / family
        sh(BIN / "gan-tf", "train", "--run", run, "--dataset", dataset, "--arch", family, "--resume",
           "--epochs", GAN_EPOCHS[dataset][family])
        fakes = {}
        for split, n, seed in (("train", N_TRAIN, 11), ("test", N_TEST_FAKE, 22)):
            sh(BIN / "gan-tf", "sample", "--run", run, "--n", n, "--seed", seed, "--out", path.with_suffix(f".{split}.npz"))
            fakes[split] = np.load(path.with_suffix(f".{split}.npz"))["images"][..., 0]
    elif family == "vae":
        drawn = vae_samples(real["fit"], N_TRAIN + N_TEST_FAKE, seed=5)
        drawn = np.clip(drawn * 255 + 0.5, 0, 255).astype(np.uint8)
        fakes = {"train": drawn[:N_TRAIN], "test": drawn[N_TRAIN:]}
    else:
        keras = import_keras()
        keras.utils.set_random_seed(0)
        model = autoencoder(family.split("-")[1])
        model.fit(real["fit"][..., None] / 255.0, real["fit"][..., None] / 255.0, epochs=5, batch_size=128, verbose=0)

        def recon(x):
            return np.clip(model.predict(x[..., None] / 255.0, verbose=0)[..., 0] * 255 + 0.5, 0, 255).astype(np.uint8)

        fakes = {"train": recon(real["recon"]), "test": recon(real["recon_test"])}
    np.savez_compressed(path, **fakes)
    return fakes


def write_pngs(folder, images, prefix):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{prefix}_{i:05d}.png")


def detector_folder(root, dataset, train_family, real, fakes):
    folder = root / dataset / f"data-{train_family}"
    if not (folder / "Test").exists():
        write_pngs(folder / "Train" / "Real", real["train"], "real")
        write_pngs(folder / "Train" / "AI", fakes[train_family]["train"], train_family)
        write_pngs(folder / "Test", real["test"], "real")
        for family in FAMILIES:
            write_pngs(folder / "Test", fakes[family]["test"], family)
    return folder


def two_family_folder(root, dataset, real, fakes, families=TWO_FAMILIES):
    folder = root / dataset / f"data-{'-'.join(families)}"
    if not (folder / "Test").exists():
        write_pngs(folder / "Train" / "Real", real["train"], "real")
        for family in families:
            write_pngs(folder / "Train" / "AI" / family, fakes[family]["train"][: N_TRAIN // len(families)], family)
        write_pngs(folder / "Test", real["test"], "real")
        for family in FAMILIES:
            write_pngs(folder / "Test", fakes[family]["test"], family)
    return folder


def tuned_vs_untuned(root, dataset, folder, minutes, seed, results, log, tuner="hyperband"):
    """hunt-tune on the two-family folder, then the tuned and untuned detectors on unseen families.
    One search per budget and tuner (its seed is the first run's); each seed retrains both."""
    search = f"{minutes:g} min search" + ("" if tuner == "hyperband" else f", {tuner}")
    tune = root / dataset / (f"tune-{minutes:g}min" + ("" if tuner == "hyperband" else f"-{tuner}"))
    if not (tune / "best_hparams.json").exists():
        # Random search trains every trial for the full 15 epochs: no trial is ranked on 2 epochs.
        # More trials than the budget fits, so the budget ends it (random's own cap is 12).
        trials = ["--trials", 200] if tuner == "random" else []
        sh(BIN / "hunt-tune", folder, "--run", tune, "--budget-minutes", minutes, "--seed", seed, "--tuner", tuner,
           *trials)
    seen = TWO_FAMILIES
    for variant, extra in (("untuned", []), ("tuned", ["--hparams", tune / "best_hparams.json"])):
        key = dict(dataset=dataset, train_family="+".join(seen), variant=f"{variant} ({search})",
                   seed=seed)
        if any(all(r.get(k) == v for k, v in key.items()) for r in results):
            continue
        run = root / dataset / "detectors" / f"two-{variant}-{tune.name}-s{seed}"
        start = time.time()
        sh(BIN / "hunt-tf", "train", folder, "--run", run, "--fresh", "--seed", seed, *extra)
        lines = (run / "submission.csv").read_text().strip().splitlines()[1:]
        row = {**key, **score(dict(line.split(",") for line in lines)), "seconds": round(time.time() - start, 1)}
        report = json.loads((run / "report" / "report.json").read_text())
        row["validation accuracy"] = report["accuracy"]
        record(row, [f for f in FAMILIES if f not in seen], results, log)


def record(row, unseen, results, log):
    row["unseen mean"] = float(np.mean([row[f] for f in unseen]))
    row["unseen worst"] = float(np.min([row[f] for f in unseen]))
    print(json.dumps(row), flush=True)
    results.append(row)
    with open(log, "a") as f:
        f.write(json.dumps(row) + "\n")


def score(predicted: dict):
    """{id: 'AI'|'Real'} -> {family: balanced accuracy of (its fakes, the real test images)}."""
    real = np.mean([label == "Real" for i, label in predicted.items() if i.startswith("real_")])
    out = {"real": float(real)}
    for family in FAMILIES:
        caught = np.mean([label == "AI" for i, label in predicted.items() if i.startswith(family + "_")])
        out[family] = float((caught + real) / 2)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="runs/hunt-families", type=Path)
    p.add_argument("--datasets", nargs="+", default=["mnist5k", "fashion"])
    p.add_argument("--train-family", default="dcgan", choices=FAMILIES)
    p.add_argument("--variants", nargs="*", default=[*VARIANTS, "plain CNN"],
                   help="(default: all, the defaults first; `defaults` is what make train-cnn runs, adaptive cut included)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tune", type=float, default=0, metavar="MINUTES",
                   help="instead: a search of this budget on two families, tuned vs untuned on the other four")
    p.add_argument("--two-families", action="store_true",
                   help="train the variants on the --tune folder (Train/AI/dcgan, Train/AI/dense) instead of one "
                        "family; the defaults train on both and estimate on the DCGAN held out (its accuracy is "
                        "kept as 'held-out estimate'), `--validation source` submits from the held-out run")
    p.add_argument("--tuner", choices=["hyperband", "random"], default="hyperband",
                   help="--tune's search (random: every trial 15 epochs, until the budget)")
    add_try_option(p)
    args = p.parse_args()
    if args.tune and args.two_families:
        p.error("--tune and --two-families are two different benchmarks: choose one")
    if args.tuner != "hyperband" and not args.tune:
        p.error("--tuner is --tune's search")
    if args.two_families and args.train_family != "dcgan":
        p.error("--two-families trains on the DCGAN and the MLP GAN; --train-family is for one family")
    add_tried(args, VARIANTS)
    log = args.root / "results.jsonl"
    args.root.mkdir(parents=True, exist_ok=True)
    results = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    for dataset in args.datasets:
        real = real_images(dataset)
        fakes = {family: make_fakes(dataset, family, real, args.root) for family in FAMILIES}
        if args.tune:
            folder = two_family_folder(args.root, dataset, real, fakes)
            tuned_vs_untuned(args.root, dataset, folder, args.tune, args.seed, results, log, args.tuner)
            continue
        if args.two_families:
            seen, folder = TWO_FAMILIES, two_family_folder(args.root, dataset, real, fakes)
        else:
            seen, folder = (args.train_family,), detector_folder(args.root, dataset, args.train_family, real, fakes)
        for variant in args.variants:
            key = dict(dataset=dataset, train_family="+".join(seen), variant=variant, seed=args.seed)
            if any(all(r.get(k) == v for k, v in key.items()) for r in results):
                continue
            start, held = time.time(), None
            if variant == "plain CNN":
                test = sorted((folder / "Test").iterdir())
                train = [(p, 1) for p in sorted((folder / "Train" / "Real").iterdir())]
                train += [(p, 0) for p in sorted((folder / "Train" / "AI").rglob("*.png"))]
                probs = plain_cnn_probabilities([p for p, _ in train], [y for _, y in train], test, args.seed, size=32)
                predicted = {p.stem: "Real" if q >= 0.5 else "AI" for p, q in zip(test, probs)}
            else:
                run = args.root / dataset / "detectors" / f"{key['train_family']}-{variant.replace(' ', '-')}-s{args.seed}"
                sh(BIN / "hunt-tf", "train", folder, "--run", run, "--fresh", "--seed", args.seed, *VARIANTS[variant])
                lines = (run / "submission.csv").read_text().strip().splitlines()[1:]
                predicted = dict(line.split(",") for line in lines)
                # With sub-folders the run estimates itself on a generator it never saw: keep it beside the truth.
                held = json.loads((run / "report" / "report.json").read_text()).get("held_out")
            row = {**key, **score(predicted), "seconds": round(time.time() - start, 1)}
            if held:
                row["held-out estimate"] = round(held["accuracy"], 4)
            record(row, [f for f in FAMILIES if f not in seen], results, log)
    cols = ["real", *FAMILIES, "unseen mean", "unseen worst"]
    print("\n| dataset | trained on | variant | " + " | ".join(cols) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in cols) + " |")
    for r in results:
        print(f"| {r['dataset']} | {r['train_family']} | {r['variant']} (seed {r['seed']}) | "
              + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")


if __name__ == "__main__":
    main()
