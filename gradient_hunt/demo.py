"""The whole story in one command (`make demo`): GAN -> hunt folder -> tune -> CNN -> score.

    .venv/bin/python -m gradient_hunt.demo [--root runs/demo] [--gan-epochs 80]

Every step is one of the project's own commands, run in order; each resumes or skips
when its output is already there, so running the demo again after a kill continues it.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def step(title, args, done: Path | None = None):
    """Run one command unless its output already exists; stream its output."""
    if done is not None and done.exists():
        print(f"== {title}: already done ({done})", flush=True)
        return
    print(f"== {title}\n   $ {' '.join(str(a) for a in args)}", flush=True)
    start = time.time()
    subprocess.run([str(a) for a in args], check=True)
    print(f"   ({time.time() - start:.0f} s)", flush=True)


def build_hunt_folder(root: Path, gan_run: Path, n_train: int, n_test: int):
    """Train/AI = GAN samples, Train/Real = real digits, Test = unseen of both; labels kept outside."""
    data = root / "data"
    labels_file = root / "test_labels.csv"
    if labels_file.exists():
        print(f"== hunt folder: already built ({data})", flush=True)
        return data, labels_file
    tmp = root / "data.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    gan, export = [BIN / "gan-tf", "sample", "--run", gan_run], [BIN / "gan-tf", "export", "--dataset", "mnist"]
    step("fakes for Train/AI", [*gan, "--n", n_train, "--seed", 1, "--prefix", "ai", "--out", tmp / "Train" / "AI"])
    step("real digits for Train/Real", [*export, "--n", n_train, "--prefix", "real", "--out", tmp / "Train" / "Real"])
    # Test: fresh noise (fakes the detector never saw) and held-out real digits, names that do not tell.
    step("unseen fakes for Test", [*gan, "--n", n_test, "--seed", 2, "--prefix", "a", "--out", tmp / "t_ai"])
    step("held-out real digits for Test",
         [*export, "--start", n_train, "--n", n_test, "--prefix", "r", "--out", tmp / "t_real"])
    (tmp / "Test").mkdir()
    rows = []
    for label, folder in (("AI", tmp / "t_ai"), ("Real", tmp / "t_real")):
        for path in sorted(folder.iterdir()):
            new_id = f"img_{len(rows):05d}"
            path.rename(tmp / "Test" / f"{new_id}.png")
            rows.append((new_id, label))
        folder.rmdir()
    shutil.rmtree(data, ignore_errors=True)
    tmp.rename(data)
    with open(labels_file, "w", newline="") as f:
        csv.writer(f).writerows([("Id", "Label"), *rows])
    return data, labels_file


def score_submission(submission: Path, labels_file: Path):
    with open(labels_file) as f:
        truth = {r["Id"]: r["Label"] for r in csv.DictReader(f)}
    with open(submission) as f:
        predicted = {r["Id"]: r["Label"] for r in csv.DictReader(f)}
    missing = set(truth) - set(predicted)
    correct = sum(predicted.get(i) == label for i, label in truth.items())
    return correct / len(truth), len(missing)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="runs/demo")
    p.add_argument("--gan-epochs", type=int, default=80)  # make gan's default
    p.add_argument("--train-per-class", type=int, default=2000)
    p.add_argument("--test-per-class", type=int, default=500)
    p.add_argument("--tune-minutes", type=float, default=4)
    args = p.parse_args(argv)
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    start = time.time()

    gan_run = root / "gan"
    step("train the DCGAN (resumes)", [BIN / "gan-tf", "train", "--run", gan_run, "--dataset", "mnist",
                                       "--epochs", args.gan_epochs, "--resume"], done=gan_run / "metrics.json")
    data, labels_file = build_hunt_folder(root, gan_run, args.train_per_class, args.test_per_class)
    step("shortcut audit", [BIN / "hunt-tf", "audit", data])
    tune_run = root / "tune"
    step("tune the detector (resumes)", [BIN / "hunt-tune", data, "--run", tune_run, "--max-epochs", 15,
                                         "--budget-minutes", args.tune_minutes], done=tune_run / "best_hparams.json")
    hunt_run = root / "hunt"
    step("train the detector with the best hyperparameters",
         [BIN / "hunt-tf", "train", data, "--run", hunt_run, "--hparams", tune_run / "best_hparams.json"],
         done=hunt_run / "submission.csv")

    gan = json.loads((gan_run / "metrics.json").read_text())
    report = json.loads((hunt_run / "report" / "report.json").read_text())
    accuracy, missing = score_submission(hunt_run / "submission.csv", labels_file)
    summary = {
        "gan": {k: gan.get(k) for k in ("fcd", "fcd_real_floor", "classifier_score", "modes_covered")},
        "detector_validation_accuracy": report["accuracy"],
        "detector_test_accuracy": accuracy,
        "test_ids_missing": missing,
        "minutes": round((time.time() - start) / 60, 1),
    }
    (root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"""
================ gradient-hunt demo ================
GAN        classifier distance {gan['fcd']:.2f} (real floor {gan['fcd_real_floor']:.2f}), score {gan['classifier_score']:.2f}/10, modes {gan['modes_covered']}/10
           samples: {gan_run}/samples/   generator: {gan_run}/generator.keras
detector   validation accuracy {report['accuracy']:.4f}, ROC AUC {report.get('roc_auc', float('nan')):.4f}
           test accuracy {accuracy:.4f} on {args.test_per_class * 2} held-out images ({missing} ids missing)
           submission: {hunt_run}/submission.csv   report: {hunt_run}/report/
tuning     {tune_run}/trials.csv, {tune_run}/best_hparams.json
took       {summary['minutes']} min;  look at it all: make tensorboard  (http://127.0.0.1:6006)
""")


if __name__ == "__main__":
    main()
