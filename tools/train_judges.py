"""Train the quality judges that ship in gan_tf/judges/, once and deterministically.

    .venv/bin/python tools/train_judges.py                 # mnist (from mnist5k) and fashion
    .venv/bin/python tools/train_judges.py --only fashion

For each dataset: judge A (gan_tf.quality.build_classifier_a) on one half of the rows and
judge B (build_classifier_b) on the other half (gan_tf.quality.training_halves), each with
its own fixed seed, float32, op determinism on; each is tested on the half it never saw.
Writes `<key>-a.weights.h5`, `<key>-b.weights.h5` and `judges.json` (version, recipe,
held-out accuracies, real-vs-real floors at n=2500); gan_tf/judges/README.md quotes them.
Data is offline: MNIST is the 5,000-digit subset (full MNIST cannot be downloaded here),
Fashion-MNIST the 70,000 images of Debian's dataset-fashion-mnist.

Held-out accuracies of the shipped v2 judges (trained on 2 CPU cores, TF 2.21, Keras 3.15):
    mnist   A 0.9620  B 0.9744   (2,500 training rows each, 20 epochs; 2,500 held out)
    fashion A 0.8770  B 0.8979   (35,000 training rows each, 4 epochs; 10,000 held out)
A second run of the script wrote byte-identical weights (sha256 in judges.json).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402

from gan_tf import datasets, quality  # noqa: E402
from gradient_hunt.atomic import write_json  # noqa: E402

# judge key -> (dataset it is trained on, epochs); MNIST's 5k rows need more passes than Fashion's 70k.
RECIPES = {"mnist": ("mnist5k", 20), "fashion": ("fashion", 4)}
FLOOR_SAMPLES = 2500


def save_weights(model, path: Path):
    # Keras wants the name to end in .weights.h5, so the temporary file keeps that ending.
    tmp = path.with_name(f".{os.getpid()}-{path.name}")
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def train_one(key, out: Path, epochs=None) -> dict:
    dataset, default_epochs = RECIPES[key]
    epochs = epochs or default_epochs
    data = datasets.load(dataset)
    start = time.perf_counter()
    judges, accuracy = quality.train_judges(data.images, data.labels, epochs=epochs, name=dataset)
    files = {}
    for which, model in judges.items():
        path = out / f"{key}-{which}.weights.h5"
        save_weights(model, path)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    judge = quality.Judge(judges["a"], judges["b"], data.images, n=FLOOR_SAMPLES, source=f"new {key} judges")
    floors = {
        "n": judge.n,
        "fcd": judge.real_floor,
        "kid": judge.kid_real_floor,
        "fcd2": judge.real_floor2,
        "kid2": judge.kid2_real_floor,
    }
    halves = quality.training_halves(len(data.images))
    print(f"{key}: trained in {time.perf_counter() - start:.0f} s; real-vs-real floors at n={judge.n}: "
          + ", ".join(f"{k} {v:.4g}" for k, v in floors.items() if k != "n"))
    return {
        "dataset": dataset,
        "description": data.description,
        "rows": len(data.images),
        "training_rows": {"a": len(halves[0]), "b": len(halves[1])},
        "epochs": epochs,
        "accuracy": {k: round(v, 4) for k, v in accuracy.items()},
        "real_floors": floors,
        "sha256": files,
    }


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=sorted(RECIPES), help="train one dataset's judges (default: all)")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs (for trials; ship the recipe's)")
    p.add_argument("--out", type=Path, default=quality.JUDGES_DIR, help="where the weights go (default: %(default)s)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    keras.mixed_precision.set_global_policy("float32")
    tf.config.experimental.enable_op_determinism()  # the same weights from the same code, run after run
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "judges.json"
    manifest = quality.shipped_manifest() if args.out == quality.JUDGES_DIR else {}
    if manifest.get("version") != quality.CLASSIFIER_VERSION:
        manifest = {}  # a new recipe: the other dataset's old judges are stale too
    manifest.update(version=quality.CLASSIFIER_VERSION, keras=keras.__version__, tensorflow=tf.__version__)
    judges = manifest.setdefault("judges", {})
    for key in [args.only] if args.only else sorted(RECIPES):
        judges[key] = train_one(key, args.out, args.epochs)
        write_json(manifest_path, manifest)  # after each dataset: a later failure keeps the earlier ones
    print(f"wrote {manifest_path}")


if __name__ == "__main__":
    main()
