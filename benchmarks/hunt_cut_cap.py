"""Would the adaptive cut move in leave-one-generator-out runs if its cap were counted from
validation's own cut? Replayed on runs already trained; no training happens here.

    .venv/bin/python benchmarks/hunt_cut_cap.py --families runs/hf17 --real runs/hr15

The rule (hunt_tf/adaptive_cut.py) never moves the cut past the point where CAP of the
validation reals are called AI. Held-out runs already call 8-13% of them AI at their fixed
0.5, so the cap leaves no room. "relative" lets the cut call CAP more than validation's cut
already does. Each run's test images are predicted once and decided under both caps: the
two-family runs of hunt_families.py (held out and all sources), its one-family runs with
their real test images JPEG-compressed or blurred (hunt_cut.SHIFTS), and hunt_real.py's r1
runs, on their own set and across (raw <-> re-encoded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

UNSEEN_OF_TWO = ("vae", "ae-transposed", "ae-nearest", "ae-bilinear")
FAMILY_RUNS = {"two-untuned": "data-dcgan-dense", "dcgan+dense-all-sources": "data-dcgan-dense",
               "dcgan-defaults": "data-dcgan"}


def decided(scored, probs, relative):
    """Called Real under the adaptive rule with the absolute or the relative cap; whether it moved."""
    from hunt_tf import adaptive_cut as ac

    real = scored.classes.index("Real")
    c0 = ac.score_cut_of(0.5 if scored.threshold is None else scored.threshold, real)
    reals, tests = np.sort(scored.reals), ac.log_odds(probs, real)
    cap = ac.CAP + (np.searchsorted(reals, c0) / len(reals) if relative else 0.0)
    c = ac.adapted_score_cut(reals, tests, c0, cap=min(cap, 1.0))
    return tests >= c, c != c0


def scores(name, scored, probs, is_real, family=None, unseen=()):
    """Accuracy, or with `family` the unseen families' mean balanced accuracy, under both caps."""
    row = {"run": name}
    for which in ("absolute", "relative"):
        called, moved = decided(scored, probs, which == "relative")
        if family is None:
            row[which] = float(np.mean(called == is_real))
        else:
            real = called[family == "real"].mean()
            row[which] = float(np.mean([(1 - called[family == f].mean() + real) / 2 for f in unseen]))
        row[which + " moved"] = bool(moved)
    return row


def family_rows(root):
    from hunt_cut import SHIFTS, file_probabilities, open_scored, shifted, shifted_images

    from hunt_tf.predict import predict_pixels

    fashion = root / "fashion"
    for prefix, data in FAMILY_RUNS.items():
        paths = sorted((fashion / data / "Test").iterdir())
        family = np.array([p.stem.rsplit("_", 1)[0] for p in paths])
        unseen = UNSEEN_OF_TWO if data == "data-dcgan-dense" else sorted(set(family) - {"real", "dcgan"})
        for run in sorted((fashion / "detectors").glob(f"{prefix}-s[0-9]")):
            scored = open_scored(run, fashion / data)
            yield scores(run.name, scored, file_probabilities(scored, paths), family == "real", family, unseen)
            if data == "data-dcgan":
                reals, seen = shifted_images(paths)
                is_real = np.r_[np.ones(len(reals)), np.zeros(len(seen))].astype(bool)
                for how in SHIFTS:
                    probs = predict_pixels(scored.model, np.stack([shifted(r, how) for r in reals] + seen))
                    yield scores(f"{run.name}, real test images {how}", scored, probs, is_real)


def real_rows(root):
    from hunt_cut import file_probabilities, labelled_test, open_scored

    for run in sorted((root / "runs").glob("r1-*-s[0-9]-defaults")):
        name, seed = run.name[: -len("-defaults")].rsplit("-s", 1)
        scored = open_scored(run, root / "sets" / f"{name}-s{seed}")
        other = {"r1-raw": "r1-reenc", "r1-reenc": "r1-raw"}[name]
        for tested in (name, other):
            folder = root / "sets" / f"{tested}-s{seed}"
            if folder.exists():
                paths, is_real = labelled_test(folder)
                yield scores(f"{run.name} on {tested}", scored, file_probabilities(scored, paths), is_real)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", type=Path, help="a hunt_families.py root with the two-family runs (--two-families)")
    p.add_argument("--real", type=Path, help="a hunt_real.py root with r1-raw / r1-reenc defaults runs")
    args = p.parse_args()
    rows = [*(family_rows(args.families) if args.families else []), *(real_rows(args.real) if args.real else [])]
    print("| run | absolute cap (today) | relative cap |")
    print("| --- | --- | --- |")
    for r in rows:
        cells = [f"{r[w]:.3f}" + (" (moved)" if r[w + " moved"] else "") for w in ("absolute", "relative")]
        print(f"| {r['run']} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
