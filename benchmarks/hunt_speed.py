"""Hunt pipeline speed and memory: ours vs load-everything-into-a-float-array-then-fit.

    .venv/bin/python benchmarks/hunt_speed.py              # builds runs/bench-hunt/data once
    .venv/bin/python benchmarks/hunt_speed.py --images 2000 --epochs 3 --size 64

Folder: N images of 256-512 px, half PNG, half JPEG, two classes. Each approach runs in
its own process (so peak memory is its own) and trains the same model (hunt_tf's CNN)
for the same epochs at the same image size:
- baseline: Pillow decodes every file at full size, resized, into one float32 array; fit.
- ours: hunt_tf's header scan, one parallel decode (Pillow threads, JPEGs decoded at
  reduced scale) into uint8, the tf.data pipeline, and the runtime's precision (measured
  for this model on this machine, a few seconds, included in "loading"); also pinned to float32 and to bfloat16, each with the project's fused
  BatchNorm and with Keras' own (to show what each choice is worth on this CPU).
Reported: wall seconds for loading + training, peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gradient_hunt.atomic import write_json  # noqa: E402

# ours = the runtime's own choice (auto precision, fused BatchNorm); the others pin one of them,
# to show what each is worth on this CPU.
APPROACHES = ("baseline", "ours", "ours-float32", "ours-bfloat16", "ours-float32-keras-bn", "ours-bfloat16-keras-bn")


def synthetic_image(rng, side: int):
    """A side x side RGB Pillow image: a smooth colour field plus noise, which compresses like a
    photograph, not like pure noise (the folders of this benchmark and benchmarks/hunt_scale.py)."""
    import numpy as np
    from PIL import Image

    base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((side, side), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-20, 21, (side, side, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_folder(root: Path, n: int, seed=0):
    import numpy as np

    if (root / "done").exists():
        return
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = "AI" if i % 2 else "Real"
        img = synthetic_image(rng, int(rng.integers(256, 513)))
        d = root / "Train" / label
        d.mkdir(parents=True, exist_ok=True)
        if i % 4 < 2:
            img.save(d / f"{i:05d}.png", compress_level=1)
        else:
            img.save(d / f"{i:05d}.jpg", quality=90)
    (root / "done").write_text("ok")


def run_baseline(data, size, epochs):
    import numpy as np
    from PIL import Image

    from gradient_hunt.runtime import configure
    from hunt_tf.config import HuntConfig
    from hunt_tf.model import build_model

    configure("float32")
    paths = sorted(Path(data, "Train").rglob("*.*"))
    classes = sorted({p.parent.name for p in paths})
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size)), dtype=np.float32) for p in paths])
    y = np.array([classes.index(p.parent.name) for p in paths])
    loaded = time.perf_counter()
    model = build_model(HuntConfig(augment="none", epochs=epochs, input="rgb", convs=1), size, len(classes), steps_per_epoch=len(x) // 32)
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return loaded


def run_ours(data, size, epochs, precision):
    from gradient_hunt.runtime import configure
    from hunt_tf import files
    from hunt_tf.config import HuntConfig
    from hunt_tf.data import from_pixels
    from hunt_tf.model import build_model, precision_probe
    from hunt_tf.splits import decode_training_images

    folder = files.scan(data, progress=False)
    configure(precision, probe=precision_probe(HuntConfig(augment="none", epochs=epochs, input="rgb", convs=1), size,
                                               len(folder.class_names)))
    pixels, labels = decode_training_images(folder, size, "resize")
    ds = from_pixels(pixels, labels, batch_size=32, training=True, augment="none")
    loaded = time.perf_counter()
    model = build_model(HuntConfig(augment="none", epochs=epochs, input="rgb", convs=1), size, len(folder.class_names),
                        steps_per_epoch=len(folder.train) // 32)
    model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
    return loaded


def child(args):
    from gradient_hunt.runtime import import_tensorflow

    import_tensorflow()
    start = time.perf_counter()
    if args.child == "baseline":
        loaded = run_baseline(args.data, args.size, args.epochs)
    else:  # ours[-float32|-bfloat16][-keras-bn]
        if args.child.endswith("-keras-bn"):
            import keras

            from hunt_tf import model

            model.FusedBatchNormalization = keras.layers.BatchNormalization
        parts = args.child.split("-")
        precision = {"float32": "float32", "bfloat16": "mixed_bfloat16"}.get(parts[1] if len(parts) > 1 else "", "auto")
        loaded = run_ours(args.data, args.size, args.epochs, precision)
    end = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"approach": args.child, "seconds": round(end - start, 1), "loading_s": round(loaded - start, 1),
                      "training_s": round(end - loaded, 1), "peak_mb": round(peak_mb)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--data", default=str(ROOT / "runs" / "bench-hunt" / "data"))
    p.add_argument("--child", choices=APPROACHES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    make_folder(Path(args.data), args.images)
    results = []
    for approach in APPROACHES:
        out = subprocess.run([sys.executable, __file__, "--child", approach, "--data", args.data, "--size",
                              str(args.size), "--epochs", str(args.epochs)], capture_output=True, text=True,
                             cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT), **__import__("os").environ})
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    base = results[0]
    for r in results[1:]:
        print(f"{r['approach']:14s} {base['seconds'] / r['seconds']:.2f}x faster, "
              f"peak memory {r['peak_mb']} MB vs {base['peak_mb']} MB")
    write_json(ROOT / "runs" / "bench-hunt.json", results)


if __name__ == "__main__":
    main()
