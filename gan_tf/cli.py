"""gan-tf: train the GAN, draw samples from a run, measure a run's quality.

    gan-tf train --dataset mnist --epochs 60 --run runs/gan        # --resume continues it
    gan-tf sample --run runs/gan --n 64 --out samples/             # PNG files
    gan-tf sample --run runs/gan --n 1000 --out fakes.npz          # uint8 array 'images'
    gan-tf sample --run runs/cgan --n 16 --digit 7 --out sevens/   # conditional runs
    gan-tf evaluate --run runs/gan
    gan-tf export --dataset mnist --n 2000 --out data/Train/Real  # real images, same layout
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from gan_tf.config import ARCHITECTURES, LOSSES, GANConfig
from gan_tf.errors import DatasetError, RunError
from gradient_hunt.atomic import atomic_write, write_json
from gradient_hunt.console import run_console_command
from gradient_hunt.runtime import JIT_CHOICES, PRECISIONS, STRATEGIES

DEFAULTS = GANConfig()


def _add_train(sub):
    p = sub.add_parser("train", help="train a GAN into a run directory", description="Train a GAN into a run directory "
                       "(config.json, checkpoints, sample grids, TensorBoard logs, quality metrics).")
    p.add_argument("--run", default="runs/gan", help="run directory (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint, if any")
    p.add_argument("--fresh", action="store_true", help="delete the run in --run first and start over")
    p.add_argument("--dataset", help="mnist (default; offline: the real 5k subset), mnist5k, fashion, idx:DIR, folder:DIR")
    p.add_argument("--arch", choices=ARCHITECTURES, help="network pair (default: dcgan)")
    comments = GANConfig.comments()
    p.add_argument("--loss", choices=LOSSES, help=f"{comments['loss']} (default: {DEFAULTS.loss})")
    p.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{comments['spectral_norm']} (default: {'on' if DEFAULTS.spectral_norm else 'off'})")
    p.add_argument("--minibatch-std", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{comments['minibatch_std']} (default: {'on' if DEFAULTS.minibatch_std else 'off'})")
    p.add_argument("--augment", help=f"{comments['augment']} (default: {DEFAULTS.augment})")
    p.add_argument("--conditional", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{GANConfig.comments()['conditional']} (default: {'on' if DEFAULTS.conditional else 'off'})")
    for field, kind in [(f, int) for f in ("image_size", "epochs", "batch_size", "latent_dim", "width",
                                            "channel_multiple", "kernel_size", "seed", "eval_every", "eval_samples")] + \
                       [(f, float) for f in ("d_learning_rate", "g_learning_rate", "beta_1", "label_smoothing",
                                             "dropout", "r1_weight", "ada_target", "ema_decay", "time_limit")]:
        text = comments.get(field, "").replace("%", "%%")
        p.add_argument("--" + field.replace("_", "-"), type=kind,
                       help=f"{text} (default: {getattr(DEFAULTS, field)})".strip())
    p.add_argument("--precision", choices=PRECISIONS,
                   help="auto (default): float16 on tensor-core GPUs; on a CPU, bfloat16 only where a timed probe found it "
                        "faster (cached per machine), else float32")
    p.add_argument("--jit", choices=JIT_CHOICES, help="XLA compilation; auto (default) = on for GPU, off for CPU")
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="tf.distribute strategy: default, mirrored (several local GPUs), or multi-worker (TF_CONFIG: the same "
                        "command on every worker; the chief writes the run)")


def _add_sample(sub):
    p = sub.add_parser("sample", help="draw images from a trained run",
                       description="Draw images from a run's generator: PNG files into a directory, or, for a path "
                       "ending in .npz, one uint8 array named 'images' of shape (N, H, W, C).")
    p.add_argument("--run", required=True, help="run directory written by `gan-tf train`")
    p.add_argument("--n", type=int, default=64, help="number of images (default: %(default)s)")
    p.add_argument("--out", required=True, help="output directory, or a file ending in .npz")
    p.add_argument("--digit", type=int, help="conditional runs only: the digit to draw")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument("--prefix", default="sample", help="file name prefix for PNG output (default: %(default)s)")


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="classifier distance, score and modes of a run",
                       description="Score a run's generator against real data: Frechet classifier distance (with "
                       "the real-vs-real floor), classifier score, mode coverage; writes RUN/evaluation.json.")
    p.add_argument("--run", required=True, help="run directory written by `gan-tf train`")
    p.add_argument("--n", type=int, default=2500, help="samples to score (default: %(default)s)")


def _add_export(sub):
    p = sub.add_parser("export", help="write real images of a dataset (the 'Real' side of a hunt folder)",
                       description="Write images [start, start+n) of a dataset, in a fixed shuffled order, as PNG "
                       "files into a directory or as one .npz array 'images' (and 'labels').")
    p.add_argument("--dataset", default="mnist", help="(default: %(default)s)")
    p.add_argument("--start", type=int, default=0, help="first index in the shuffled order (default: 0)")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True, help="output directory, or a file ending in .npz")
    p.add_argument("--prefix", default="real", help="file name prefix (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=0,
                   help="folder:DIR only: square side to resize to (default: the images' own size if shared, else 32)")


def write_images(images, out, prefix, labels=None):
    """PNG files named PREFIX_00000.png into a directory, or an .npz with 'images' (+ 'labels')."""
    import numpy as np

    from gan_tf.callbacks import save_png

    out = Path(out)
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
        with atomic_write(out) as tmp:
            np.savez_compressed(tmp, **arrays)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            save_png(image, out / f"{prefix}_{i:05d}.png")


def parser():
    p = argparse.ArgumentParser(prog="gan-tf", description="Train a DCGAN on digits, sample it, measure it.")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_sample(sub)
    _add_evaluate(sub)
    _add_export(sub)
    return p


def cmd_train(args):
    from gan_tf import train

    # Only the options given on the command line: on --resume they are checked against the run.
    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(GANConfig) if getattr(args, f.name) is not None}
    report = train.train(args.run, settings, resume=args.resume, fresh=args.fresh)
    if report.get("worker"):
        done = f"trained {report['epochs']} epochs in step with the chief" if report["epochs"] else "nothing to train"
        print(f"{report['worker']}: {done}; the chief writes {args.run}")
        return
    print(train.format_report(report))
    print(f"run: {args.run}   (make tensorboard, then open http://127.0.0.1:6006)")


def _load_run(run):
    import keras

    import gan_tf.networks  # noqa: F401  registers the generator's layers for load_model

    run = Path(run)
    if not (run / "config.json").exists() or not (run / "generator.keras").exists():
        raise RunError(f"{run} is not a finished or checkpointed gan-tf run (no config.json/generator.keras)")
    config = GANConfig.load(run / "config.json")
    try:
        generator = keras.saving.load_model(run / "generator.keras", compile=False)
    except Exception as err:
        raise RunError(f"cannot load {run / 'generator.keras'}: {err}") from None
    return config, generator


def cmd_sample(args):

    from gan_tf.gan import conditional_classes, generate_images
    from gradient_hunt.runtime import configure

    configure("float32")
    config, generator = _load_run(args.run)
    num_classes = conditional_classes(generator)
    if args.n < 1:
        raise RunError("--n must be at least 1")
    images = generate_images(generator, config.latent_dim, num_classes, args.n, digits=args.digit, seed=args.seed)
    write_images(images, args.out, args.prefix)
    print(f"wrote {len(images)} images to {args.out}")


def cmd_export(args):
    import numpy as np

    from gan_tf import datasets

    data = datasets.load(args.dataset, image_size=args.image_size)
    order = np.random.default_rng(0).permutation(len(data.images))[args.start : args.start + args.n]
    if len(order) < args.n:
        raise DatasetError(f"{args.dataset} has {len(data.images)} images; cannot export {args.n} from {args.start}")
    labels = None if data.labels is None else data.labels[order]
    write_images(data.images[order], args.out, args.prefix, labels)
    print(f"wrote {len(order)} real images of {data.description} to {args.out}")


def cmd_evaluate(args):
    from gan_tf import datasets, train
    from gan_tf.quality import Judge
    from gradient_hunt.runtime import configure

    configure("float32")
    config, generator = _load_run(args.run)
    data = datasets.load(config.dataset, image_size=config.image_size)
    judge = Judge.for_dataset(data.images, data.labels, config.dataset, n=args.n)
    report = train.evaluate_generator(generator, config, judge)
    write_json(Path(args.run) / "evaluation.json", report)
    print(train.format_report(report))
    print("mode shares: " + " ".join(f"{i}:{s:.2f}" for i, s in enumerate(report["mode_shares"])))


def main(argv=None):
    args = parser().parse_args(argv)
    command = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "export": cmd_export}[args.command]
    hint = f"; continue with: gan-tf train --resume --run {args.run}" if args.command == "train" else ""
    return run_console_command(f"gan-tf {args.command}", lambda: command(args), hint)


if __name__ == "__main__":
    sys.exit(main())
