"""The unlike-reals check (hunt_tf.unlike_reals) measured on hunt-tf runs that already answered a Test folder.

    .venv/bin/python benchmarks/hunt_pu_probe.py FOLDER [FOLDER ...] [--seeds 0 1 2] [--detector-runs PATTERN] [--jpeg Q]
    .venv/bin/python benchmarks/hunt_pu_probe.py --root ROOT --summary

The check is positive-unlabelled learning (Elkan & Noto, KDD 2008): a small CNN learns Train's
real images against the Test folder's, cross-fitted (each half scored by the network trained
on the other halves), so its score ranks how unlike Train's reals each test image is, whichever
generator made it (the module's docstring says more). Here it runs on its own, without
training a detector again, and several rules are scored on the same scores:
- q0.95, q0.99: the score alone, AI above the Q quantile of the held-out Train reals' scores
  (about 5% and 1% of real images called AI);
- with --detector-runs (a pattern with {seed} naming hunt-tf runs on the same folder, whose
  submission.csv holds the detector's answers): "detector", its answers; "detector or qQ";
  and "detector + adaptive rule", what `hunt-tf train --unlike-reals on` does
  (hunt_tf.unlike_reals.called_unlike on the images the detector called Real).

FOLDER: a hunt folder (Train/Real, Test/) whose test files are named FAMILY_NNNNN.png
(benchmarks/hunt_families.py's folders: FAMILY "real" for real images), or one with
labels.json (Id -> 0 for AI, 1 for Real; benchmarks/hunt_real.py's sets). Per family: ROC AUC
of the score (its fakes against Test's reals) and, per rule, balanced accuracy (real images'
and that family's, averaged, as hunt_families.py reports; under "real", the real images').
Results are appended to ROOT/pu_probe.jsonl, the scores kept in ROOT/*.npz (for other rules
without training again). Train and Test are loaded whole as RGB at their own size: for
thumbnails (its rows are 28 and 32 px; r1 at 224 px took 5-7 minutes a seed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from hunt_tf.predict import read_submission
from hunt_tf.unlike_reals import EPOCHS, called_unlike, cross_fitted_scores

sys.path.insert(0, str(Path(__file__).parent))
from hunt_cut import shifted  # noqa: E402  (JPEG at a quality, as the shifted folders are made)

QUANTILES = (0.95, 0.99)


def through_jpeg(images, quality) -> np.ndarray:
    """uint8 (N, H, W, 3) images saved as JPEG at `quality` and decoded again (0: as they are): with
    --jpeg, every image the check sees passes through one pipeline first (session 25's trial)."""
    return np.stack([shifted(image, f"jpeg{quality}") for image in images]) if quality else images


def load(paths) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def test_families(folder: Path, paths) -> np.ndarray:
    """Each test image's family: "real", or its generator's name ("AI" where only labels.json tells)."""
    labels_file = folder / "labels.json"
    if labels_file.exists():
        labels = json.loads(labels_file.read_text())
        return np.array(["real" if labels[p.stem] == 1 else "AI" for p in paths])
    return np.array([p.stem.rsplit("_", 1)[0] for p in paths])


def balanced(called_ai, family) -> dict:
    """Per fake family: (share of Test's reals called Real + share of its fakes called AI) / 2;
    under "real", the share of Test's reals called Real."""
    real = family == "real"
    scores = {f: round(float((np.mean(~called_ai[real]) + np.mean(called_ai[family == f])) / 2), 4)
              for f in sorted(set(family) - {"real"})}
    return {**scores, "real": round(float(np.mean(~called_ai[real])), 4)}


def detector_calls(run: Path, paths) -> np.ndarray | None:
    """Whether the run's submission called each test file AI (None without a submission)."""
    if not (run / "submission.csv").exists():
        return None
    answers = read_submission(run / "submission.csv")
    return np.array([answers[p.stem] == "AI" for p in paths])


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
        key = (name, row["epochs"], row.get("reals", "all"), row.get("jpeg", 0))
        for rule, families in row["rule"].items():
            unseen = [v for f, v in families.items() if f not in seen and f != "real"]
            table.setdefault(key, {}).setdefault(rule, []).append(float(np.mean(unseen)))
    for (name, epochs, reals, jpeg), rules in sorted(table.items(), key=str):
        print(f"{name} ({epochs} epochs, {reals} Train reals, {f'through JPEG q{jpeg}' if jpeg else 'no JPEG'})")
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
    ap.add_argument("--jpeg", type=int, default=0,
                    help="every image through JPEG at this quality before the check (default: 0, none, as hunt-tf)")
    ap.add_argument("--root", type=Path, default=Path("runs/pu-probe"))
    args = ap.parse_args()
    if not 0 <= args.jpeg <= 95:
        ap.error("--jpeg is a JPEG quality, 1 to 95, or 0 for none")
    if args.summary:
        return summary(args.root / "pu_probe.jsonl")
    args.root.mkdir(parents=True, exist_ok=True)
    for folder in args.folders:
        paths = sorted(p for p in (folder / "Test").iterdir() if p.is_file())
        real_paths = sorted(p for p in (folder / "Train" / "Real").iterdir() if p.is_file())
        # The same bytes for every seed; the seconds below are the check's alone.
        reals = through_jpeg(load(real_paths[: args.max_reals or None]), args.jpeg)
        test, family = through_jpeg(load(paths), args.jpeg), test_families(folder, paths)
        for seed in args.seeds:
            start = time.perf_counter()
            real_scores, test_scores = cross_fitted_scores(reals, test, seed, args.epochs)
            row = {"folder": str(folder), "seed": seed, "epochs": args.epochs, "reals": len(reals),
                   "jpeg": args.jpeg,
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
                    detector | called_unlike(real_scores, test_scores, ~detector), family)
            kept = f"{'_'.join(folder.parts[-3:])}-s{seed}-e{args.epochs}-r{len(reals)}-jpeg{args.jpeg}.npz"
            np.savez(args.root / kept, real_scores=real_scores, test_scores=test_scores, family=family)
            print(json.dumps(row), flush=True)
            with open(args.root / "pu_probe.jsonl", "a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
