"""Generator-vs-detector benchmark (the Gradient Hunt 2.0 situation): `make hunt-bench`.

    .venv/bin/python benchmarks/hunt_generators.py [--root runs/hunt-bench]

The detector trains on fakes from ONE generator (our DCGAN) vs real digits, then is tested
on fakes from generators it never saw -- the dense GAN, the DCGAN at an early epoch, the
conditional DCGAN, the DCGAN trained with another seed -- and on held-out real digits.
Several training choices are compared side by side (augmentation presets, adding a second
generator's fakes to training). Every generator is trained by `gan-tf train` and sampled
by `gan-tf sample`; steps whose outputs exist are skipped, so a re-run only re-scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
GENERATORS = {
    # name: gan-tf train arguments
    "dcgan": ["--epochs", "80"],
    "dcgan-early": ["--epochs", "6"],
    "dense": ["--arch", "dense", "--epochs", "40"],
    "conditional": ["--conditional", "--epochs", "25"],
    "dcgan-seed1": ["--seed", "1", "--epochs", "35"],
}
VARIANTS = {
    # name: (hunt-tf train arguments, generators whose fakes are in Train/AI)
    "default (light)": ([], ["dcgan"]),
    "lr 1e-3 (the old default)": (["--learning-rate", "0.001"], ["dcgan"]),
    "robust aug": (["--augment", "robust"], ["dcgan"]),
    "strong aug": (["--augment", "strong"], ["dcgan"]),
    "robust + early-epoch fakes": (["--augment", "robust"], ["dcgan", "dcgan-early"]),
}


def sh(*args):
    subprocess.run([str(a) for a in args], check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="runs/hunt-bench")
    p.add_argument("--train-fakes", type=int, default=2000)
    p.add_argument("--test-fakes", type=int, default=500)
    args = p.parse_args()
    root = Path(args.root)
    gans, samples = root / "gans", root / "samples"

    for name, extra in GENERATORS.items():
        run = gans / name
        if not (run / "metrics.json").exists():
            sh(BIN / "gan-tf", "train", "--run", run, "--dataset", "mnist", "--resume", *extra)
        for split, n, seed in (("train", args.train_fakes, 11), ("test", args.test_fakes, 22)):
            out = samples / name / split
            if not out.exists():
                sh(BIN / "gan-tf", "sample", "--run", run, "--n", n, "--seed", seed, "--prefix", f"{name}-{split}",
                   "--out", out)
    real = samples / "real"
    if not real.exists():
        sh(BIN / "gan-tf", "export", "--dataset", "mnist", "--n", args.train_fakes, "--prefix", "real",
           "--out", real / "train")
        sh(BIN / "gan-tf", "export", "--dataset", "mnist", "--start", args.train_fakes, "--n", 1000,
           "--prefix", "real-test", "--out", real / "test")

    results = {}
    for variant, (hunt_args, train_generators) in VARIANTS.items():
        slug = variant.split(" (")[0].replace(" + ", "-").replace(" ", "-")
        data, run = root / "folders" / slug, root / "detectors" / slug
        if not (data / "Train").exists():
            per_gen = args.train_fakes // len(train_generators)
            (data / "Train" / "AI").mkdir(parents=True)
            for g in train_generators:
                for path in sorted((samples / g / "train").iterdir())[:per_gen]:
                    shutil.copy(path, data / "Train" / "AI" / path.name)
            shutil.copytree(real / "train", data / "Train" / "Real")
        if not (run / "model.keras").exists():
            sh(BIN / "hunt-tf", "train", data, "--run", run, *hunt_args)
        row = {}
        for g in [*GENERATORS, "real"]:
            images = samples / g / "test" if g != "real" else real / "test"
            out = run / "bench" / f"{g}.csv"
            sh(BIN / "hunt-tf", "predict", "--run", run, "--images", images, "--out", out)
            labels = [line.split(",")[1] for line in out.read_text().strip().splitlines()[1:]]
            expected = "Real" if g == "real" else "AI"
            row[g] = sum(label == expected for label in labels) / len(labels)
        unseen = [g for g in GENERATORS if g not in train_generators]
        # Overall: unseen fakes and real digits weighted equally (a balanced test set).
        row["unseen fakes"] = sum(row[g] for g in unseen) / len(unseen)
        row["overall"] = (row["unseen fakes"] + row["real"]) / 2
        row["trained on"] = "+".join(train_generators)
        results[variant] = row

    cols = [*GENERATORS, "real", "unseen fakes", "overall"]
    print("\n| training choice | trained on | " + " | ".join(cols) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in cols) + " |")
    for variant, row in results.items():
        print(f"| {variant} | {row['trained on']} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    (root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nper-generator accuracy = share of that generator's fakes called AI (real: share called Real); "
          f"generators in 'trained on' are seen. Results: {root / 'results.json'}")


if __name__ == "__main__":
    main()
