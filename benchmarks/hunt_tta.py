"""Does mirror averaging at prediction (`--tta`) pay? Scored on runs `hunt_real.py` already trained.

    .venv/bin/python benchmarks/hunt_tta.py --root runs/hunt-real --variant defaults

For every ROOT/runs/<set>-s<seed>-<variant> run (its model, its decision threshold), the
validation rows (the run's own split of Train, rebuilt from its seed) and the held-out test
rows are predicted with and without the mirrored copy averaged in. Validation is what a
user could choose by; the test rows are the evidence. No training happens here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).parent))
from hunt_real import test_paths  # noqa: E402

CLASSES = ("AI", "Real")


def score(model, records, labels, config, threshold, tta):
    from hunt_tf.predict import predict_records

    probs = predict_records(model, records, list(CLASSES), config.decode_size, config.resize_mode, threshold,
                            tta=tta, progress=False).probs
    labels = np.asarray(labels)
    cut = 0.5 if threshold is None else threshold
    return float(np.mean((probs[:, 1] >= cut) == labels)), float(roc_auc_score(labels, probs[:, 1]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="runs/hunt-real", type=Path)
    p.add_argument("--variant", default="defaults", help="the run-name suffix of the variant to score")
    args = p.parse_args()

    from gradient_hunt.runtime import import_keras

    keras = import_keras()
    import gradient_hunt.batchnorm  # noqa: F401  (registers the saved model's layers)
    import hunt_tf.residual  # noqa: F401
    from hunt_tf import files
    from hunt_tf.config import HuntConfig
    from hunt_tf.splits import validation_split

    rows = []
    for run in sorted((args.root / "runs").glob(f"*-s[0-9]-{args.variant}")):
        name, seed = run.name[: -len(args.variant) - 1].rsplit("-s", 1)
        folder_dir = args.root / "sets" / f"{name}-s{seed}"
        truth = json.loads((folder_dir / "labels.json").read_text())
        config = HuntConfig.load(run / "config.json")
        threshold = json.loads((run / "decision.json").read_text()).get("threshold")
        model = keras.saving.load_model(run / "model.keras")
        folder = files.scan(folder_dir, progress=False)
        _, val_idx, _, _ = validation_split(folder, folder.labels, config.val_split, config.seed, config.validation)
        val = [folder.train[i] for i in val_idx], folder.labels[val_idx]
        test = [files.probe(p) for p in test_paths(folder_dir, truth)], list(truth.values())
        row = {"run": run.name, "set": name, "seed": int(seed)}
        for part, (records, labels) in (("val", val), ("test", test)):
            for tta in (False, True):
                acc, auc = score(model, records, labels, config, threshold, tta)
                row[f"{part}{'_tta' if tta else ''}"] = [round(acc, 4), round(auc, 4)]
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| set | seed | validation acc / AUC | + mirror | test acc / AUC | + mirror |\n| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cells = [f"{r[k][0]:.3f} / {r[k][1]:.3f}" for k in ("val", "val_tta", "test", "test_tta")]
        print(f"| {r['set']} | {r['seed']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
