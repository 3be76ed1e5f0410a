"""A probe, not part of hunt-tf: can "Train's real images vs the Test folder" find unseen generators?

    .venv/bin/python benchmarks/hunt_pu_probe.py FOLDER [FOLDER ...] [--seeds 0 1 2] [--detector-runs PATTERN]
    .venv/bin/python benchmarks/hunt_pu_probe.py --root ROOT --summary

Positive-unlabelled learning (Elkan & Noto, KDD 2008). Train's Real images are labelled; the
Test folder is unlabelled, its real images and its fakes mixed. Where Test's real images come
from the same source as Train's, a network can tell them from Train's only by memorising them,
but it can tell fakes from them by their traces, whatever generator made them: no fake of that
generator is needed. So a small CNN is trained to tell Train's reals from Test's images, and
its score ranks how unlike Train's reals each test image is.

Cross-fitted, so that no image is scored by a network that trained on it: Train's reals and
Test are each split in two; the network trained on half 1 of both scores half 2 of both, and
the other way round. The held-out Train reals then show how real images score, as validation
reals do for the adaptive cut, and a label-free rule calls AI every test image scored above
their Q quantile (Q = 0.95 and 0.99: about 5% and 1% of real images called AI).

FOLDER: a hunt folder (Train/Real, Test/) whose test files are named FAMILY_NNNNN.png
(benchmarks/hunt_families.py's folders: FAMILY "real" for real images), or one with
labels.json (Id -> 0 for AI, 1 for Real; benchmarks/hunt_real.py's sets). Per family: ROC AUC
of the score (its fakes against Test's reals) and balanced accuracy (real images' and that
family's, averaged, as hunt_families.py reports) of the rule; with --detector-runs, a pattern
with {seed} naming hunt-tf runs on the same folder, the same for "AI when the detector or the
probe says so". Results are appended to ROOT/pu_probe.jsonl, the scores kept in ROOT/*.npz (for other rules
without training again).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from gradient_hunt.runtime import import_keras
from hunt_tf.adaptive_cut import adapted_score_cut

keras = import_keras()

QUANTILES = (0.95, 0.99)
EPOCHS = 8


def load(paths) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0 for p in paths])


def test_families(folder: Path, paths) -> np.ndarray:
    """Each test image's family: "real", or its generator's name ("AI" where only labels.json tells)."""
    labels_file = folder / "labels.json"
    if labels_file.exists():
        labels = json.loads(labels_file.read_text())
        return np.array(["real" if labels[p.stem] == 1 else "AI" for p in paths])
    return np.array([p.stem.rsplit("_", 1)[0] for p in paths])


def probe_net(shape) -> keras.Model:
    x = inputs = keras.Input(shape)
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def cross_fitted_scores(reals, test, seed, epochs=EPOCHS):
    """(scores of Train's reals, scores of Test): each half scored by the network trained on the other half."""
    rng = np.random.default_rng(seed)
    real_fold, test_fold = rng.permutation(len(reals)) % 2, rng.permutation(len(test)) % 2
    real_scores, test_scores = np.zeros(len(reals)), np.zeros(len(test))
    for k in (0, 1):
        keras.utils.set_random_seed(seed * 2 + k)
        a, b = reals[real_fold != k], test[test_fold != k]
        x = np.concatenate([a, b, a[:, :, ::-1], b[:, :, ::-1]])  # and their mirrors
        y = np.concatenate([np.zeros(len(a)), np.ones(len(b))] * 2)
        weight = np.where(y == 0, len(y) / (2 * 2 * len(a)), len(y) / (2 * 2 * len(b)))  # classes weigh alike
        model = probe_net(reals.shape[1:])
        steps = epochs * -(-len(y) // 64)  # the rate decays to 0: the last epoch's weights are a settled state
        model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)), "binary_crossentropy")
        model.fit(x, y, sample_weight=weight, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
        real_scores[real_fold == k] = model.predict(reals[real_fold == k], verbose=0, batch_size=512)[:, 0]
        test_scores[test_fold == k] = model.predict(test[test_fold == k], verbose=0, batch_size=512)[:, 0]
    return real_scores, test_scores


def balanced(called_ai, family) -> dict:
    """Per fake family: (share of Test's reals called Real + share of its fakes called AI) / 2;
    under "real", the share of Test's reals called Real."""
    real = family == "real"
    scores = {f: round(float((np.mean(~called_ai[real]) + np.mean(called_ai[family == f])) / 2), 4)
              for f in sorted(set(family) - {"real"})}
    return {**scores, "real": round(float(np.mean(~called_ai[real])), 4)}


def realness(scores) -> np.ndarray:
    """The probe's score as log-odds of "like Train's reals" (higher: more real), the adaptive cut's scale."""
    p = np.clip(np.asarray(scores, np.float64), 1e-7, 1 - 1e-7)
    return np.log1p(-p) - np.log(p)


def adaptive_calls(detector, real_scores, test_scores) -> np.ndarray:
    """AI where the detector says so, and where hunt_tf.adaptive_cut's rule, applied to the probe's
    realness of the test images the detector calls Real against that of held-out Train reals,
    moves the cut: only when significantly more of them look unlike Train's reals than real
    images would, and never calling more than its CAP of the held-out reals AI."""
    reals, tests = realness(real_scores), realness(test_scores)
    start = min(reals.min(), tests.min()) - 1.0  # the detector's calls alone: nothing below it
    cut = adapted_score_cut(reals, tests[~detector], start)
    return detector | (tests < cut)


def detector_calls(run: Path, paths) -> np.ndarray | None:
    submission = run / "submission.csv"
    if not submission.exists():
        return None
    rows = dict(line.split(",", 1) for line in submission.read_text().splitlines()[1:])
    return np.array([rows[p.stem].strip() == "AI" for p in paths])


def trained_families(folder: str) -> list[str]:
    """The generators in Train of a hunt_families.py folder (data-dcgan-dense: dcgan, dense); none for a real set."""
    name = Path(folder).name
    return name[len("data-"):].split("-") if name.startswith("data-") else []


def summary(results: Path):
    """One line per folder, settings and rule: the mean over seeds (worst seed) of the balanced
    accuracy averaged over the families Train did not hold (a real set: its one AI family)."""
    table = {}
    for line in results.read_text().splitlines():
        row = json.loads(line)
        seen = trained_families(row["folder"])
        name = Path(row["folder"]).name.rsplit("-s", 1)[0] if not seen else row["folder"]
        key = (name, row["epochs"], row.get("reals", "all"))
        for rule, families in row["rule"].items():
            unseen = [v for f, v in families.items() if f not in seen and f != "real"]
            table.setdefault(key, {}).setdefault(rule, []).append(float(np.mean(unseen)))
    for (name, epochs, reals), rules in sorted(table.items(), key=str):
        print(f"{name} ({epochs} epochs, {reals} Train reals)")
        for rule, values in rules.items():
            print(f"  {rule:26s} {np.mean(values):.3f} ({min(values):.3f})  seeds: "
                  + " / ".join(f"{v:.3f}" for v in values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--summary", action="store_true", help="print ROOT/pu_probe.jsonl's table and stop")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--detector-runs", default=None, help="pattern with {seed}: hunt-tf runs on each folder")
    ap.add_argument("--max-reals", type=int, default=0, help="use only this many of Train's reals (0: all)")
    ap.add_argument("--root", type=Path, default=Path("runs/pu-probe"))
    args = ap.parse_args()
    if args.summary:
        return summary(args.root / "pu_probe.jsonl")
    args.root.mkdir(parents=True, exist_ok=True)
    for folder in args.folders:
        paths = sorted(p for p in (folder / "Test").iterdir() if p.is_file())
        real_paths = sorted(p for p in (folder / "Train" / "Real").iterdir() if p.is_file())
        reals = load(real_paths[: args.max_reals or None])
        test, family = load(paths), test_families(folder, paths)
        for seed in args.seeds:
            start = time.perf_counter()
            real_scores, test_scores = cross_fitted_scores(reals, test, seed, args.epochs)
            row = {"folder": str(folder), "seed": seed, "epochs": args.epochs, "reals": len(reals),
                   "seconds": round(time.perf_counter() - start, 1), "auc": {}, "rule": {}}
            real = family == "real"
            for f in sorted(set(family) - {"real"}):
                fakes = family == f
                truth = np.r_[np.zeros(real.sum()), np.ones(fakes.sum())]
                row["auc"][f] = round(float(roc_auc_score(truth, np.r_[test_scores[real], test_scores[fakes]])), 4)
            detector = (detector_calls(Path(args.detector_runs.format(seed=seed)), paths)
                        if args.detector_runs else None)
            for q in QUANTILES:
                called = test_scores > np.quantile(real_scores, q)
                row["rule"][f"q{q}"] = balanced(called, family)
                if detector is not None:
                    row["rule"][f"detector or q{q}"] = balanced(detector | called, family)
            if detector is not None:
                row["rule"]["detector"] = balanced(detector, family)
                row["rule"]["detector + adaptive rule"] = balanced(
                    adaptive_calls(detector, real_scores, test_scores), family)
            kept = f"{'_'.join(folder.parts[-3:])}-s{seed}-e{args.epochs}-r{len(reals)}.npz"
            np.savez(args.root / kept, real_scores=real_scores, test_scores=test_scores, family=family)
            print(json.dumps(row), flush=True)
            with open(args.root / "pu_probe.jsonl", "a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
