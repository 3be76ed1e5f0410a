"""A quick screen of ideas for CIFAKE (32 px) before any of them enters hunt-tf: one network
of the default's shape (3 blocks of 2 conv-BatchNorm-ReLU, 32/64/128 filters, max pooling,
global average pooling, dropout 0.3; Adam 3e-3 with a cosine schedule and one warm-up epoch;
15 epochs; the epoch of lowest validation loss kept), trained on 80% of CIFAKE's Train and
scored on its 1,000 labelled Test images, with one thing changed at a time.

    .venv/bin/python benchmarks/cifake_screen.py rgb:0 rgb:1 rgb:0:up2 dct:0 rgb:0:res
    .venv/bin/python benchmarks/cifake_screen.py --data ../shared/data --bf16 rgb:0:half

A variant is INPUT:SEED[:EXTRA]. INPUT: rgb (pixels / 255), dct (log |2-D DCT| per channel,
standardised per coefficient: Frank et al., ICML 2020, "Leveraging frequency analysis for deep
fake image recognition"), both (stacked). EXTRA, any of: up2 (each pixel repeated 2x2: 64 px),
half (half the training rows), rot (random quarter turns on top of the mirror), ls (label
smoothing 0.1), res (residual blocks: a 3-stage ResNet, stride-2 convs), wide (res at 64
filters), e30 / e40 (epochs). It is a standalone copy of the network's shape, so an input can
be swapped freely; no extra fakes, no ensemble, no self-training, so its accuracy sits a little
under `make train-cnn`'s. One line of JSON per variant goes to ROOT/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.fft import dctn

from gradient_hunt.runtime import import_keras

CLASSES = ("AI", "Real")  # label 0, 1


def load_cifake(root: Path, cache: Path):
    """(train pixels, train labels, test pixels, test labels), uint8 (N, 32, 32, 3); cached as .npz."""
    if cache.exists():
        d = np.load(cache)
        return d["x"], d["y"], d["tx"], d["ty"]
    x, y = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((root / "Train" / name).iterdir()):
            x.append(np.asarray(Image.open(path).convert("RGB")))
            y.append(label)
    with open(root / "test_labels.csv") as f:
        truth = dict(line.strip().split(",") for line in f.readlines()[1:])
    tx = [np.asarray(Image.open(root / "Test" / f"{i}.jpg").convert("RGB")) for i in sorted(truth)]
    ty = [CLASSES.index(truth[i]) for i in sorted(truth)]
    arrays = {"x": np.stack(x), "y": np.array(y), "tx": np.stack(tx), "ty": np.array(ty)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays["x"], arrays["y"], arrays["tx"], arrays["ty"]


def log_dct(pixels):
    return np.log(np.abs(dctn(pixels.astype("float32") / 255.0 - 0.5, axes=(1, 2), norm="ortho")) + 1e-3)


def features(pixels, kind, extra, dct_stats):
    if "up2" in extra:
        pixels = pixels.repeat(2, 1).repeat(2, 2)
    rgb = pixels.astype("float32") / 255.0
    if kind == "rgb":
        return rgb
    mean, std = dct_stats
    dct = (log_dct(pixels) - mean) / std
    return dct if kind == "dct" else np.concatenate([rgb, dct], -1)


def network(keras, shape, extra):
    from keras import layers, regularizers

    def conv_bn(x, filters, strides=1, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                          kernel_regularizer=regularizers.L2(1e-4))(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        return layers.ReLU()(x) if relu else x

    x = inputs = keras.Input(shape)
    if "res" in extra:
        width = 64 if "wide" in extra else 32
        x = conv_bn(x, width)
        for stage in range(3):
            filters = width * 2**stage
            for block in range(2):
                strides = 2 if stage and not block else 1
                shortcut = x
                if strides > 1 or x.shape[-1] != filters:
                    shortcut = layers.BatchNormalization(momentum=0.9)(
                        layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x))
                x = layers.ReLU()(layers.Add()([shortcut, conv_bn(conv_bn(x, filters, strides), filters, relu=False)]))
    else:
        for stage in range(3):
            x = conv_bn(conv_bn(x, 32 * 2**stage), 32 * 2**stage)
            x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, layers.Dense(2, activation="softmax", dtype="float32")(x))


def run(data, kind, seed, extra):
    keras = import_keras()
    from sklearn.metrics import roc_auc_score

    x, y, tx, ty = data
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    val, train = order[: len(x) // 5], order[len(x) // 5:]
    if "half" in extra:
        train = train[: len(train) // 2]
    train_dct = log_dct(x[train])
    stats = (train_dct.mean(0), train_dct.std(0) + 1e-6)
    xtr, xva, xte = (features(a, kind, extra, stats) for a in (x[train], x[val], tx))
    epochs = 40 if "e40" in extra else 30 if "e30" in extra else 15
    steps_per_epoch = -(-len(train) // 32)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, (epochs - 1) * steps_per_epoch, warmup_target=3e-3,
                                                      warmup_steps=steps_per_epoch)
    smooth = "ls" in extra
    model = network(keras, xtr.shape[1:], extra)
    model.compile(keras.optimizers.Adam(schedule),
                  keras.losses.CategoricalCrossentropy(label_smoothing=0.1) if smooth else "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    targets = (lambda v: np.eye(2)[v]) if smooth else (lambda v: v)

    def augmented(a):  # a mirror flips only the signs of DCT coefficients: |.| is unchanged, so rgb only
        if kind != "rgb":
            return a
        a = a.copy()
        mirror = rng.random(len(a)) < 0.5
        a[mirror] = a[mirror, :, ::-1]
        if "rot" in extra:
            turns = rng.integers(0, 4, len(a))
            for k in (1, 2, 3):
                a[turns == k] = np.rot90(a[turns == k], k, axes=(1, 2))
        return a

    best = (np.inf, None, 0.0)
    start = time.time()
    for _ in range(epochs):
        model.fit(augmented(xtr), targets(y[train]), batch_size=32, epochs=1, verbose=0, shuffle=True)
        loss, accuracy = model.evaluate(xva, targets(y[val]), verbose=0)
        if loss < best[0]:
            best = (loss, model.get_weights(), accuracy)
    model.set_weights(best[1])
    p_real = model.predict(xte, verbose=0)[:, 1]
    return {"input": kind, "seed": seed, "extra": extra, "validation": round(best[2], 4),
            "test": round(float(((p_real > 0.5) == ty).mean()), 4), "test_auc": round(float(roc_auc_score(ty, p_real)), 4),
            "seconds": round(time.time() - start)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variants", nargs="+", help="INPUT:SEED[:EXTRA], e.g. rgb:0 dct:1 rgb:2:up2")
    p.add_argument("--data", default="../shared/data", type=Path, help="holds cifake-dev/")
    p.add_argument("--root", default="runs/cifake-screen", type=Path)
    p.add_argument("--bf16", action="store_true", help="mixed_bfloat16 (compare rows of one precision only)")
    args = p.parse_args()
    keras = import_keras()
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    data = load_cifake(args.data / "cifake-dev", args.root / "cifake.npz")
    for spec in args.variants:
        kind, seed, *extra = spec.split(":")
        if kind not in ("rgb", "dct", "both"):
            p.error(f"unknown input {kind!r} in {spec!r}; choose from rgb, dct, both")
        row = {**run(data, kind, int(seed), extra[0] if extra else ""), "bf16": args.bf16}
        print(json.dumps(row), flush=True)
        with open(args.root / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
