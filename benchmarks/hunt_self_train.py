"""Does self-training on Test (`hunt-tf train --self-train`) hurt where it has nothing to learn,
or where it may learn the wrong thing? Real test images unlike Train's.

    .venv/bin/python benchmarks/hunt_self_train.py --families runs/hf17/fashion/data-dcgan --seeds 0 1 2
    .venv/bin/python benchmarks/hunt_self_train.py --families ... --shifts jpeg50 webp80 --variants "--self-train 3"

Self-training teaches the model that the test images it was surest were AI are AI. Where the
real test images are shifted (JPEG q75, a 0.6 px blur by default; also JPEG q50 or WebP q80: a camera or a pipeline unlike Train's)
and the model calls many of them AI, it could teach itself that. Each folder here is the family
folder's Train, and a Test of its 1,000 real test images shifted plus its 500 test fakes of
the training generator; `hunt-tf train` with `--self-train 0` (off), 2 (session 21's default)
and 3 rounds (the default since session 22), the same seed. Accuracy on the real and on the
fake test images, and their mean (balanced accuracy). Rows go to ROOT/results.jsonl; finished
rows are kept.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from hunt_cut import shifted  # noqa: E402

BIN = Path(sys.executable).parent
SHIFTS = ("jpeg75", "blur0.6", "webp80", "jpeg50")  # the first two are the default (session 22)
VARIANTS = {f"--self-train {n}": ["--self-train", str(n)] for n in (0, 2, 3)}


def shifted_folder(families: Path, root: Path, how: str) -> Path:
    """ROOT/<how>/: Train linked to the family folder's; Test = its real test images shifted, its
    training generator's (dcgan_) test fakes as they are."""
    folder = root / how
    if (folder / "Test").exists():
        return folder
    for image in sorted((families / "Train").rglob("*.png")):  # links to the same training files
        link = folder / image.relative_to(families)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(image.resolve())
    test = folder / "Test.partial"
    shutil.rmtree(test, ignore_errors=True)  # an interrupted earlier build
    test.mkdir()
    for p in sorted((families / "Test").iterdir()):
        if p.stem.startswith("real_"):
            Image.fromarray(shifted(np.asarray(Image.open(p).convert("RGB")), how)).save(test / p.name)
        elif p.stem.startswith("dcgan_"):
            (test / p.name).symlink_to(p.resolve())
    test.rename(folder / "Test")
    return folder


def score(submission: Path) -> dict:
    rows = dict(line.split(",") for line in submission.read_text().strip().splitlines()[1:])
    real = float(np.mean([v == "Real" for k, v in rows.items() if k.startswith("real_")]))
    fake = float(np.mean([v == "AI" for k, v in rows.items() if not k.startswith("real_")]))
    return {"real": real, "fake": fake, "balanced": (real + fake) / 2}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", type=Path, default=Path("runs/hunt-families/fashion/data-dcgan"),
                   help="a hunt_families.py one-family folder (default: %(default)s)")
    p.add_argument("--root", type=Path, default=Path("runs/hunt-self-train"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--shifts", nargs="+", default=list(SHIFTS[:2]), choices=SHIFTS)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                   help="(default: all three)")
    args = p.parse_args()
    log = args.root / "results.jsonl"
    args.root.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    for how in args.shifts:
        folder = shifted_folder(args.families, args.root, how)
        for seed in args.seeds:
            for variant in args.variants:
                options = VARIANTS[variant]
                key = {"shift": how, "seed": seed, "variant": variant}
                if any(all(r.get(k) == v for k, v in key.items()) for r in done):
                    continue
                run = args.root / "runs" / f"{how}-{variant.replace(' ', '-').strip('-')}-s{seed}"
                start = time.time()
                subprocess.run([BIN / "hunt-tf", "train", folder, "--run", run, "--fresh", "--seed", str(seed),
                                *options], check=True)
                row = {**key, **score(run / "submission.csv"), "seconds": round(time.time() - start, 1)}
                print(json.dumps(row), flush=True)
                done.append(row)
                with open(log, "a") as f:
                    f.write(json.dumps(row) + "\n")
    print("| shift | variant | seeds | real | fake | balanced mean (worst) |\n| --- | --- | --- | --- | --- | --- |")
    for how in args.shifts:
        for variant in args.variants:
            rows = [r for r in done if r["shift"] == how and r["variant"] == variant and r["seed"] in args.seeds]
            if rows:
                bal = [r["balanced"] for r in rows]
                print(f"| {how} | {variant} | {len(rows)} | {np.mean([r['real'] for r in rows]):.3f} | "
                      f"{np.mean([r['fake'] for r in rows]):.3f} | {np.mean(bal):.3f} ({min(bal):.3f}) |")


if __name__ == "__main__":
    main()
