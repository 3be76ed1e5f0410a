"""The hunt detector on real AI-vs-Real data nobody on this project made: `make hunt-real`.

    .venv/bin/python benchmarks/hunt_real.py [--data ../shared/data] [--root runs/hunt-real] [--seeds 0 1 2]

Sets (built under ROOT/sets from DATA, which users do not have: this is a benchmark, not a test):
  r1-raw      gradient-hunt-r1 Train, 20% held out (stratified, per seed) as a labelled Test
  r1-reenc    the same split, every image centre-cropped, downscaled (never upscaled: smaller
              images are left out) to 224 px and saved as JPEG q90: no format or size shortcut
  r1-96       r1 re-encoded the same way at 96 px, and at 64 px: the middle sizes, where images are
  r1-64       resized whole, read as NPR residuals and flattened (`--head auto`); a split of their
              own (more images are large enough than at 224 px)
  cifake      cifake-dev: its 5,000 Train images, scored on its 1,000 labelled Test images
Each variant is a `hunt-tf train` command line (its defaults, or options); beside them, the
plain load-then-fit CNN of benchmarks/plain_cnn.py. Results go to ROOT/results.jsonl, one line
per (set, seed, variant); finished lines are kept, so a re-run only adds what is missing
(`defaults` self-trains on Test where its test opens since session 21: use a new root to
measure that).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from gradient_hunt.runtime import import_keras

sys.path.insert(0, str(Path(__file__).parent))
from plain_cnn import plain_cnn_probabilities  # noqa: E402
from variants import add_tried, add_try_option  # noqa: E402

BIN = Path(sys.executable).parent
# The named variants pin one network, as they were measured before ensembles (session 12).
# Their epochs are the defaults': 15 when they were measured, from the data since session 15
# (39 for r1): add "--epochs 15 --patience 5" to repeat an older row.
ONE_NETWORK = ["--members", "1", "--self-train", "0"]  # as these rows were measured before session 21
VARIANTS = {
    "defaults": [],
    "resize, rgb": ["--resize-mode", "resize", "--input", "rgb", "--extra-fakes", "none", *ONE_NETWORK],
    "resize, residual": ["--resize-mode", "resize", "--input", "residual", "--extra-fakes", "none", *ONE_NETWORK],
    "resize, both": ["--resize-mode", "resize", "--input", "both", "--extra-fakes", "none", *ONE_NETWORK],
    "crop, rgb": ["--resize-mode", "crop", "--input", "rgb", "--extra-fakes", "none", *ONE_NETWORK],
    "crop 64, residual": ["--resize-mode", "crop", "--input", "residual", "--image-size", "64", "--extra-fakes", "none", *ONE_NETWORK],
    "crop 128, residual": ["--resize-mode", "crop", "--input", "residual", "--image-size", "128",
                           "--extra-fakes", "none", *ONE_NETWORK],
    "defaults + resample fakes": ["--extra-fakes", "resample", *ONE_NETWORK],
}
CLASSES = ("AI", "Real")


def reencode(src: Path, dst: Path, size=224):
    """Centre square crop, downscale to `size` (LANCZOS), RGB JPEG q90; None when smaller than size."""
    with Image.open(src) as img:
        img = img.convert("RGB")
        side = min(img.size)
        if side < size:
            return None
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS).save(dst, quality=90)
    return dst


def labelled_r1(data: Path, root: Path, size=None):
    """[(path, label)] of r1's Train, raw (size None) or re-encoded at `size` px (once, into
    ROOT/r1-reencoded, or ROOT/r1-reencoded-<size> for other sizes than 224)."""
    items = []
    folder = root / ("r1-reencoded" if size == 224 else f"r1-reencoded-{size}")
    for label, name in enumerate(CLASSES):
        for path in sorted((data / "gradient-hunt-r1" / "Train" / name).iterdir()):
            if size:
                out = folder / name / (path.stem + ".jpg")
                out.parent.mkdir(parents=True, exist_ok=True)
                if not out.exists() and reencode(path, out, size) is None:
                    continue
                path = out
            items.append((path, label))
    return items


def make_set(folder: Path, train, test):
    """A hunt folder of symlinks: Train/<class>/, Test/<index>.<ext>; returns the test labels by id."""
    if not (folder / "labels.json").exists():
        for i, (path, label) in enumerate(train):
            link = folder / "Train" / CLASSES[label] / f"{i:05d}{path.suffix}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
        (folder / "Test").mkdir(parents=True, exist_ok=True)
        for i, (path, _) in enumerate(test):
            (folder / "Test" / f"t{i:05d}{path.suffix}").symlink_to(path.resolve())
        (folder / "labels.json").write_text(json.dumps({f"t{i:05d}": label for i, (_, label) in enumerate(test)}))
    return json.loads((folder / "labels.json").read_text())


def test_paths(folder: Path, truth) -> list[Path]:
    """The Test file of each id in `truth` (make_set's labels), in its order."""
    return [next((folder / "Test").glob(f"{i}.*")) for i in truth]


def sets(data: Path, root: Path, seeds, names=("r1-raw", "r1-reenc", "r1-96", "r1-64", "cifake")):
    """(name, seed) -> (folder, {test id: label}, train items, test items), for the sets in `names`."""
    out = {}
    for name, size in (("r1-raw", None), ("r1-reenc", 224), ("r1-96", 96), ("r1-64", 64)):
        if name not in names:
            continue
        items = labelled_r1(data, root, size)
        labels = [label for _, label in items]
        for seed in seeds:
            train_idx, test_idx = train_test_split(np.arange(len(items)), test_size=0.2, stratify=labels,
                                                   random_state=seed)
            train, test = [items[i] for i in train_idx], [items[i] for i in test_idx]
            folder = root / "sets" / f"{name}-s{seed}"
            out[name, seed] = (folder, make_set(folder, train, test), train, test)
    if "cifake" not in names:
        return out
    cifake = data / "cifake-dev"
    train = [(p, label) for label, name in enumerate(CLASSES) for p in sorted((cifake / "Train" / name).iterdir())]
    with open(cifake / "test_labels.csv") as f:
        truth = {row["Id"]: CLASSES.index(row["Label"]) for row in csv.DictReader(f)}
    test = [(p, truth[p.stem]) for p in sorted((cifake / "Test").iterdir()) if p.stem in truth]
    for seed in seeds:  # one split (the dataset's own); the seed changes training only
        folder = root / "sets" / f"cifake-s{seed}"
        out["cifake", seed] = (folder, make_set(folder, train, test), train, test)
    return out


def score_submission(path: Path, truth: dict):
    with open(path) as f:
        rows = {row["Id"]: CLASSES.index(row["Label"]) for row in csv.DictReader(f)}
    return float(np.mean([rows[i] == label for i, label in truth.items()]))


def test_auc(run: Path, folder: Path, truth: dict):
    """ROC AUC of the run's P(Real) on the labelled test files (in this process, with the run's model)."""
    keras = import_keras()
    import gradient_hunt.batchnorm  # noqa: F401  (registers the saved model's layers)
    import hunt_tf.residual  # noqa: F401
    from hunt_tf import files
    from hunt_tf.config import HuntConfig
    from hunt_tf.predict import predict_records

    config = HuntConfig.load(run / "config.json")
    records = [files.probe(p) for p in test_paths(folder, truth)]
    model = keras.saving.load_model(run / "model.keras")
    probs = predict_records(model, records, list(CLASSES), config.decode_size, config.resize_mode, progress=False).probs
    return float(roc_auc_score([truth[i] for i in truth], probs[:, 1]))


def run_variant(folder, truth, seed, variant, args, root):
    run = root / "runs" / f"{folder.name}-{variant.replace(', ', '-').replace(' ', '-')}"
    start = time.time()
    subprocess.run([BIN / "hunt-tf", "train", folder, "--run", run, "--fresh", "--seed", str(seed), *args],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = round(time.time() - start, 1)
    report = json.loads((run / "report" / "report.json").read_text())  # what a choice may look at
    return {"accuracy": score_submission(run / "submission.csv", truth), "auc": test_auc(run, folder, truth),
            "seconds": seconds, "val_accuracy": report["accuracy"],
            "val_auc": report.get("roc_auc")}


def run_plain(train, test, seed):
    start = time.time()
    probs = plain_cnn_probabilities([p for p, _ in train], [y for _, y in train], [p for p, _ in test], seed)
    y = np.array([label for _, label in test])
    return {"accuracy": float(np.mean((probs >= 0.5) == y)), "auc": float(roc_auc_score(y, probs)),
            "seconds": round(time.time() - start, 1)}


def table(results, variants):
    set_names = list(dict.fromkeys(r["set"] for r in results))
    lines = ["| variant | " + " | ".join(f"{s}: accuracy mean (worst) / ROC AUC" for s in set_names)
             + " | seconds per run |",
             "| --- | " + " | ".join("---" for _ in set_names) + " | --- |"]
    for v in variants:
        cells, secs = [], []
        for s in set_names:
            acc = [r["accuracy"] for r in results if r["set"] == s and r["variant"] == v]
            secs += [r["seconds"] for r in results if r["set"] == s and r["variant"] == v]
            auc = [r["auc"] for r in results if r["set"] == s and r["variant"] == v and "auc" in r]
            cell = f"{np.mean(acc):.3f} ({min(acc):.3f})" if acc else ""
            cell += f" / {np.mean(auc):.3f}" if auc else ""
            cells.append(cell + (f", n={len(acc)}" if acc else ""))
        lines.append(f"| {v} | " + " | ".join(cells) + f" | {np.mean(secs):.0f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", type=Path)
    p.add_argument("--root", default="runs/hunt-real", type=Path)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sets", nargs="+", default=["r1-raw", "r1-reenc", "cifake"])
    p.add_argument("--variants", nargs="*", default=[*VARIANTS, "plain CNN"], help="names from VARIANTS, or 'plain CNN'")
    add_try_option(p)
    args = p.parse_args()
    add_tried(args, VARIANTS)
    if not (args.data / "gradient-hunt-r1").is_dir():
        sys.exit(f"{args.data} has no gradient-hunt-r1/ (pass --data)")
    log = args.root / "results.jsonl"
    args.root.mkdir(parents=True, exist_ok=True)
    results = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["set"], r["seed"], r["variant"]) for r in results}
    for (name, seed), (folder, truth, train, test) in sets(args.data, args.root, args.seeds, args.sets).items():
        for variant in args.variants:
            if (name, seed, variant) in done:
                continue
            if variant == "plain CNN":
                row = run_plain(train, test, seed)
            else:
                row = run_variant(folder, truth, seed, variant, VARIANTS[variant], args.root)
            row.update(set=name, seed=seed, variant=variant)
            print(json.dumps(row), flush=True)
            results.append(row)
            with open(log, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(table([r for r in results if r["set"] in args.sets], args.variants))


if __name__ == "__main__":
    main()
