"""Does the adaptive cut (`--cut adaptive`, hunt_tf.adaptive_cut) pay? Scored on runs already trained.

    .venv/bin/python benchmarks/hunt_cut.py --real runs/hunt-real --variant defaults \\
        --families runs/hunt-families --family-variant rgb-+-resample-fakes

For every run, the validation rows (the run's own split of Train, rebuilt from its seed) give
the real images' scores, and the labelled test images are decided twice on the same
probabilities: at the validation cut, and at the cut adapted to those test images (their
labels unused). Real-data runs are `hunt_real.py`'s (ROOT/runs/<set>-s<seed>-<variant>, labels
in ROOT/sets/<set>-s<seed>/labels.json): test accuracy. Family runs are `hunt_families.py`'s
(ROOT/<dataset>/detectors/dcgan-<variant>-s<seed>): accuracy on real test images and the balanced
accuracy of each unseen family against them. With `--cross`, each real-data model is also
scored on another set's test images (raw r1 -> re-encoded r1 and back, CIFAKE -> r1): real
images unlike validation's, which the cut must not mistake for fakes; `--shifted` does the same
on a large test folder: the family runs' real test images JPEG-compressed or blurred, beside the
seen generator's fakes. No training happens here.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


class Scored(typing.NamedTuple):
    """A trained run, ready to decide test images both ways."""

    model: object
    config: object
    classes: list
    threshold: float | None  # validation's cut on P(class 1)
    reals: list  # the validation reals' Real log-odds


def open_scored(run, folder_dir) -> Scored:
    """The run's model and cut, and its validation reals' scores: from decision.json (runs since
    the adaptive cut), else the run's own split of `folder_dir` rebuilt from its seed and predicted."""
    from gradient_hunt.runtime import import_keras

    keras = import_keras()
    import gradient_hunt.batchnorm  # noqa: F401  (registers the saved model's layers)
    import hunt_tf.residual  # noqa: F401
    from hunt_tf import files
    from hunt_tf.adaptive_cut import real_scores_of
    from hunt_tf.config import HuntConfig
    from hunt_tf.predict import load_decision, predict_records
    from hunt_tf.splits import validation_split

    config = HuntConfig.load(run / "config.json")
    classes = json.loads((run / "classes.json").read_text())
    model = keras.saving.load_model(run / "model.keras")
    decision = load_decision(run)
    reals = decision.get("real_scores")
    if reals is None:
        folder = files.scan(folder_dir, progress=False)
        # The split training made (it splits the decodable files; every file of these sets decodes).
        _, val_idx, _, _ = validation_split(folder, folder.labels, config.val_split, config.seed, config.validation)
        records = [folder.train[i] for i in val_idx if classes[folder.labels[i]] == "Real"]
        probs = predict_records(model, records, classes, config.decode_size, config.resize_mode, progress=False).probs
        reals = real_scores_of(probs, classes.index("Real"))
    return Scored(model, config, classes, decision["threshold"], reals)


def file_probabilities(scored: Scored, paths):
    from hunt_tf import files
    from hunt_tf.predict import predict_records

    c = scored.config
    return predict_records(scored.model, [files.probe(p) for p in paths], scored.classes, c.decode_size,
                           c.resize_mode, progress=False).probs


def both_cuts(scored: Scored, test_probs):
    """({"validation": called Real, "adaptive": called Real} (bool arrays), the adapted cut or None)
    on the same test probabilities."""
    from hunt_tf.adaptive_cut import adapted_cut
    from hunt_tf.report import predict_labels

    real = scored.classes.index("Real")
    validation = predict_labels(test_probs, scored.threshold)
    cut = adapted_cut(scored.threshold, scored.reals, test_probs, scored.classes)
    adaptive = cut.decide(test_probs) if cut else validation
    return {"validation": validation == real, "adaptive": adaptive == real}, cut


def accuracy_row(name, seed, test_probs, scored, is_real):
    """Accuracy at both cuts (and on the real images alone) against the truth `is_real`."""
    called_real, cut = both_cuts(scored, test_probs)
    row = {"set": name, "seed": int(seed), "moved": cut is not None}
    for which, called in called_real.items():
        row[which] = float(np.mean(called == is_real))
        row[f"{which} real"] = float(called[is_real].mean())
    return row


def labelled_test(folder):
    """(paths, is_real) of a hunt_real.py set's Test folder (labels.json: id -> 0 AI / 1 Real)."""
    from hunt_real import test_paths

    truth = json.loads((folder / "labels.json").read_text())
    return test_paths(folder, truth), np.array(list(truth.values())) == 1


def real_runs(root, variant):
    for run in sorted((root / "runs").glob(f"*-s[0-9]-{variant}")):
        name, seed = run.name[: -len(variant) - 1].rsplit("-s", 1)
        folder = root / "sets" / f"{name}-s{seed}"
        scored = open_scored(run, folder)
        paths, is_real = labelled_test(folder)
        yield accuracy_row(name, seed, file_probabilities(scored, paths), scored, is_real)


# Trained on one set, tested on another's held-out images: real images (and fakes) of another
# kind than validation's, where an adaptive cut must not mistake shifted reals for fakes.
CROSS = (("r1-raw", "r1-reenc"), ("r1-reenc", "r1-raw"), ("cifake", "r1-reenc"))


def cross_runs(root, variant):
    for trained_on, tested_on in CROSS:
        for run in sorted((root / "runs").glob(f"{trained_on}-s[0-9]-{variant}")):
            seed = run.name[len(trained_on) + 2 : -len(variant) - 1]
            test_folder = root / "sets" / f"{tested_on}-s{seed}"
            if not test_folder.exists():
                continue
            scored = open_scored(run, root / "sets" / f"{trained_on}-s{seed}")
            paths, is_real = labelled_test(test_folder)
            yield accuracy_row(f"{trained_on} -> {tested_on}", seed, file_probabilities(scored, paths), scored, is_real)


def family_runs(root, dataset, variant, shifts=()):
    """Per detector: the unseen families' row, then a row per shift in `shifts` (the run opened once)."""
    from hunt_families import FAMILIES

    folder = root / dataset / "data-dcgan"
    paths = sorted((folder / "Test").iterdir())
    family = np.array([p.stem.rsplit("_", 1)[0] for p in paths])
    shifted_test = shifted_images(paths) if shifts else None
    for run in sorted((root / dataset / "detectors").glob(f"dcgan-{variant}-s[0-9]")):
        scored = open_scored(run, folder)
        called_real, cut = both_cuts(scored, file_probabilities(scored, paths))
        row = {"set": dataset, "seed": int(run.name[-1]), "moved": cut is not None}
        for which, called in called_real.items():
            real = called[family == "real"].mean()
            unseen = [(1 - called[family == f].mean() + real) / 2 for f in FAMILIES if f != "dcgan"]
            row[which] = float(np.mean(unseen))
            row[f"{which} real"] = float(real)
        yield row
        yield from shifted_rows(dataset, run.name[-1], scored, shifted_test, shifts)


# Real test images unlike validation's, at a large test folder's size: the case an adaptive cut can
# get wrong (shifted reals look like fakes between the two). Each with the seen generator's fakes.
SHIFTS = ("jpeg90", "jpeg75", "blur0.6")


def shifted(image, how):
    import io

    from PIL import Image, ImageFilter

    if how.startswith("blur"):
        return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(float(how[4:]))))
    buf = io.BytesIO()  # jpegQ or webpQ: saved at quality Q and decoded again
    Image.fromarray(image).save(buf, format=how[:4].upper(), quality=int(how[4:]))
    return np.asarray(Image.open(buf).convert("RGB"))


def shifted_images(paths):
    """(real test images, the seen generator's test fakes) of a family folder, as RGB arrays."""
    from PIL import Image

    def read(prefix):
        return [np.asarray(Image.open(p).convert("RGB")) for p in paths if p.stem.startswith(prefix)]

    return read("real_"), read("dcgan_")


def shifted_rows(dataset, seed, scored, test, shifts):
    from hunt_tf.predict import predict_pixels

    if not shifts:
        return
    reals, seen = test
    is_real = np.r_[np.ones(len(reals)), np.zeros(len(seen))].astype(bool)
    for how in shifts:
        probs = predict_pixels(scored.model, np.stack([shifted(r, how) for r in reals] + seen))
        yield accuracy_row(f"{dataset}, real test images {how}, seen fakes", seed, probs, scored, is_real)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", type=Path, help="a hunt_real.py root")
    p.add_argument("--variant", default="defaults", help="run-name suffix of the real-data runs (default: %(default)s)")
    p.add_argument("--cross", action="store_true", help="also test each real-data model on another set's test images")
    p.add_argument("--families", type=Path, help="a hunt_families.py root")
    p.add_argument("--datasets", nargs="+", default=["fashion", "mnist5k"])
    p.add_argument("--family-variant", default="defaults", help="detector-name part of the family runs")
    p.add_argument("--shifted", action="store_true",
                   help="also score the family runs on their real test images JPEG-compressed or blurred, with the "
                        "seen fakes: real images unlike validation's, in a large test folder")
    p.add_argument("--results", type=Path, default=Path("runs/hunt-cut.jsonl"))
    args = p.parse_args()
    rows = []
    if args.real:
        rows += list(real_runs(args.real, args.variant))
        rows += list(cross_runs(args.real, args.variant)) if args.cross else []
    for dataset in args.datasets if args.families else []:
        rows += list(family_runs(args.families, dataset, args.family_variant, SHIFTS if args.shifted else ()))
    with open(args.results, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("| set | seeds | validation cut: mean (worst) | adaptive cut: mean (worst) | runs where it moved |")
    print("| --- | --- | --- | --- | --- |")
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name]
        cells = [f"{np.mean([r[c] for r in mine]):.3f} ({min(r[c] for r in mine):.3f})"
                 + (f", real {np.mean([r[c + ' real'] for r in mine]):.3f}" if c + " real" in mine[0] else "")
                 for c in ("validation", "adaptive")]
        print(f"| {name} | {len(mine)} | {cells[0]} | {cells[1]} | {sum(r['moved'] for r in mine)} of {len(mine)} |")


if __name__ == "__main__":
    main()
