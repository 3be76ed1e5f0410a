"""One knob at a time: the hunt CNN trained with a few settings changed from the defaults.

    .venv/bin/python benchmarks/hunt_settings.py runs/demo/data '{}' '{"learning_rate": 0.001}'
    .venv/bin/python benchmarks/hunt_settings.py runs/demo/data '{"filters": 64}' '{"seed": 1}'

Each argument after DATA is a JSON object of hyperparameter names (those of `hunt-tune`,
see tuning/hypermodel.py) to change; `seed` sets the run's random seed; `{}` is the
untuned defaults. All runs share one decode and the search's own validation split (0.2,
seed 0), and train for `--epochs` like a tuning trial. Prints one line per setting:
best and last validation accuracy, lowest validation loss, seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder with Train/<class>/...")
    p.add_argument("settings", nargs="+", help="JSON objects, e.g. '{\"filters\": 64}'")
    p.add_argument("--epochs", type=int, default=15)
    args = p.parse_args()
    changes = [json.loads(s) for s in args.settings]

    from gradient_hunt.runtime import configure
    from hunt_tf import files
    from hunt_tf.config import HuntConfig
    from hunt_tf.crops import choose_sizes
    from hunt_tf.model import precision_probe

    folder = files.scan(args.data, progress=False)
    size = files.default_image_size(folder.train)
    sizes = choose_sizes(HuntConfig(image_size=size, resize_mode="resize"), folder.train)
    configure("auto", probe=precision_probe(sizes, size, len(folder.class_names)))
    import keras
    import keras_tuner as kt

    from tuning.hypermodel import HuntHyperModel, define_space

    hypermodel = HuntHyperModel.from_folder(folder, sizes, epochs=args.epochs)  # the search's own split
    print(f"{len(hypermodel.train)} train / {len(hypermodel.val_pixels)} validation images at {size}px, "
          f"{args.epochs} epochs")
    for change in changes:
        change = dict(change)
        seed = change.pop("seed", 0)
        keras.utils.set_random_seed(seed)
        hp = kt.HyperParameters()
        define_space(hp, size)
        unknown = set(change) - set(hp.values)
        if unknown:
            sys.exit(f"unknown hyperparameter(s): {', '.join(sorted(unknown))}")
        hp.values.update(change)
        start = time.time()
        history = hypermodel.fit(hp, hypermodel.build(hp), verbose=0).history
        accuracy = history["val_accuracy"]
        print(f"{json.dumps(change) or '{}':40s} seed {seed}  best {max(accuracy):.4f}  last {accuracy[-1]:.4f}  "
              f"min loss {min(history['val_loss']):.4f}  {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
