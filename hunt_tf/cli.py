"""hunt-tf: train an AI-vs-Real detector on a Gradient Hunt folder, predict, evaluate, audit.

    hunt-tf audit DATA
    hunt-tf train DATA --run runs/hunt [--hparams runs/tune/best_hparams.json]
    hunt-tf predict --run runs/hunt --images DIR --out submission.csv [--tta] [--ids stem|name|path]
    hunt-tf evaluate --run runs/hunt --data DATA
    hunt-tf explain --run runs/hunt --images DIR --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from gradient_hunt.console import run_console_command
from hunt_tf.choices import CUTS, ID_STYLES
from hunt_tf.config import HuntConfig
from hunt_tf.errors import RunError

DEFAULTS = HuntConfig()
CHOICES = HuntConfig.CHOICES  # argparse refuses what from_dict would
ID_HELP = ("how a submission Id is made from a test file: stem (name without extension, Kaggle's usual), "
           "name (with it), path (below the test folder); ids that would repeat are an error (default: stem)")


def _bool(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add_config_options(p):
    comments = HuntConfig.comments()
    for field in dataclasses.fields(HuntConfig):
        default = getattr(DEFAULTS, field.name)
        kind = {bool: _bool, int: int, float: float}.get(type(default), str)
        text = comments.get(field.name, "").replace("%", "%%")
        p.add_argument("--" + field.name.replace("_", "-"), type=kind, choices=CHOICES.get(field.name),
                       metavar="{true,false}" if kind is _bool else None, help=f"{text} (default: {default})".strip())


def parser():
    p = argparse.ArgumentParser(prog="hunt-tf", description="Tell AI-generated images from real ones.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on DATA/Train, report on a validation split, predict DATA/Test",
                       description="Train the classifier on DATA/Train/<class>/..., write model.keras, a report and, "
                       "when DATA has Test/ or Test_Images/, submission.csv into the run directory.")
    t.add_argument("data", help="folder with Train/<class>/... and optionally Test/")
    t.add_argument("--run", default="runs/hunt", help="run directory (default: %(default)s)")
    t.add_argument("--hparams", help="JSON of tuned hyperparameters (best_hparams.json from `make tune`)")
    t.add_argument("--tta", action="store_true", help="test-time augmentation for the submission (mirror average)")
    t.add_argument("--ids", choices=ID_STYLES, default="stem", help=ID_HELP)
    t.add_argument("--fresh", action="store_true",
                   help="delete the run in --run first; without it, the same settings resume or re-predict the run, "
                        "and other settings are refused")
    _add_config_options(t)

    pr = sub.add_parser("predict", help="predict a folder of images with a trained run",
                        description="Write a submission CSV (Id, Label) with one row per file in --images.")
    pr.add_argument("--run", required=True)
    pr.add_argument("--images", required=True, help="folder of images (decoded by content)")
    pr.add_argument("--out", default="submission.csv", help="(default: %(default)s)")
    pr.add_argument("--tta", action="store_true", help="average with mirrored images")
    pr.add_argument("--ids", choices=ID_STYLES, default="stem", help=ID_HELP)
    pr.add_argument("--cut", choices=CUTS, help="adaptive: move the validation cut toward Real when these images hold "
                    "many more between the validation's fakes and reals than real images explain; validation: keep it "
                    "(default: the run's)")

    ev = sub.add_parser("evaluate", help="metrics of a trained run on a labelled folder",
                        description="Accuracy, precision, recall, F1, ROC AUC and PNGs on DATA/Train/<class>/... "
                        "(all of it) with the run's model and threshold; written to RUN/evaluation/.")
    ev.add_argument("--run", required=True)
    ev.add_argument("--data", required=True, help="folder with Train/<class>/... (class names as in training)")

    ex = sub.add_parser("explain", help="Grad-CAM heatmaps: where the detector looks",
                        description="Heatmaps over the images the run's model is surest of and, when --images holds "
                        "class folders named as in training, the ones it gets wrong: explain.png in --out.")
    ex.add_argument("--run", required=True)
    ex.add_argument("--images", required=True, help="a folder of images, or of class folders (<class>/...) for labels")
    ex.add_argument("--out", default="explain", help="folder for explain.png (default: %(default)s)")
    ex.add_argument("-n", type=int, default=8, help="images per group (default: %(default)s)")

    au = sub.add_parser("audit", help="does format/size/mode alone predict the label?",
                        description="Cross-validated accuracy of metadata-only models (format, extension, size, "
                        "colour mode), per-class traits, and whether Test shares them.")
    au.add_argument("data")
    return p


def _load_run(run):
    import keras

    import gradient_hunt.batchnorm  # noqa: F401  registers FusedBatchNormalization for load_model
    import hunt_tf.residual  # noqa: F401  registers NPRResidual
    from hunt_tf.predict import load_decision

    run = Path(run)
    needed = ["model.keras", "config.json", "classes.json"]
    missing = [n for n in needed if not (run / n).exists()]
    if missing:
        raise RunError(f"{run} is not a trained hunt-tf run (missing {', '.join(missing)})")
    try:
        model = keras.saving.load_model(run / "model.keras")
    except Exception as err:
        raise RunError(f"cannot load {run / 'model.keras'}: {err}") from None
    config = HuntConfig.load(run / "config.json")
    classes = json.loads((run / "classes.json").read_text())
    if model.output_shape[-1] != len(classes):
        raise RunError(f"{run}/model.keras has {model.output_shape[-1]} outputs but the run has {len(classes)} classes")
    return model, config, classes, load_decision(run)


def cmd_train(args):
    from hunt_tf import train
    from hunt_tf.report import format_report

    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(HuntConfig)
                if getattr(args, f.name) is not None}
    report = train.train(args.data, args.run, settings, hparams=args.hparams, tta=args.tta, fresh=args.fresh,
                         ids=args.ids)
    if report.get("worker"):
        print(f"{report['worker']}: trained in step with the chief, which writes {args.run}")
        return
    print(format_report(report))
    if "held_out" in report:
        held = report["held_out"]
        print(format_report(held, "held-out source") + f"\n  ({held.get('validation')}; one network, in {held['run']}: "
              "what to expect of a generator training never saw. The submission's model trained on every source.)")
    if "submission" in report:
        print(f"submission: {report['submission']} ({report['n_test']} rows)")
    print(f"run: {args.run}  (report in {args.run}/report/, `make tensorboard` to watch training)")


def cmd_predict(args):
    from gradient_hunt.runtime import configure
    from hunt_tf import files
    from hunt_tf.adaptive_cut import adapts, validation_reals
    from hunt_tf.extra_fakes import real_class
    from hunt_tf.predict import predict_records, submission_ids, write_submission

    configure("float32")
    model, config, classes, decision = _load_run(args.run)
    records = files.scan_images(args.images)
    if not records:
        raise files.DataError(f"no files in {args.images}")
    ids = submission_ids(records, Path(args.images), args.ids)
    reals = None
    if adapts(args.cut or config.cut):
        reals = validation_reals(decision, args.tta)
        if reals is None and real_class(classes) is not None:
            print(f"the cut stays validation's: {args.run}/decision.json holds no validation reals' scores"
                  + (" predicted with mirrors (train with --tta for them)" if args.tta else " (a run from before them)"))
    predicted = predict_records(model, records, classes, config.decode_size, config.resize_mode, decision["threshold"],
                                decision["fallback_class"], tta=args.tta, real_scores=reals)
    if predicted.adapted:
        print(predicted.adapted.note)
    write_submission(args.out, ids, predicted.labels)
    print(f"wrote {len(ids)} rows to {args.out}")


def cmd_evaluate(args):
    from gradient_hunt.runtime import configure
    from hunt_tf import files
    from hunt_tf.predict import predict_pixels
    from hunt_tf.report import format_report, write_report
    from hunt_tf.splits import decode_training_images

    configure("float32")
    model, config, classes, decision = _load_run(args.run)
    folder = files.scan(args.data)
    if folder.class_names != classes:
        raise files.DataError(f"{args.data} has classes {folder.class_names}; the run was trained on {classes}")
    images, labels = decode_training_images(folder, config.decode_size, config.resize_mode)
    probs = predict_pixels(model, images)
    report = write_report(Path(args.run) / "evaluation", labels, probs, classes, images,
                          [Path(r.path).name for r in folder.train], threshold=decision["threshold"])  # training's
    print(format_report(report, "evaluation"))


def cmd_explain(args):
    from gradient_hunt.runtime import configure
    from hunt_tf import files
    from hunt_tf.explain import explain_images
    from hunt_tf.predict import predict_pixels

    configure("float32")
    model, config, classes, _ = _load_run(args.run)
    records, labelled = files.scan_labelled(args.images, classes)
    records = [r for r in records if r.ok]
    if not records:
        raise files.DataError(f"no readable images in {args.images}")
    pixels, ok = files.decode_all(records, config.decode_size, config.resize_mode)
    pixels, records = pixels[ok], [r for r, good in zip(records, ok) if good]
    y_true = np.array([r.label for r in records]) if labelled else None
    probs = predict_pixels(model, pixels)
    out = Path(args.out) / "explain.png"
    chosen, _ = explain_images(model, pixels, probs, classes, out, y_true, [r.path for r in records], args.n)
    print(f"wrote {out}: {len(chosen)} images" + (" (labelled: misclassified and surest)" if y_true is not None
                                                  else " (surest of each class)"))


def cmd_audit(args):
    from hunt_tf import audit, files

    print(audit.format_audit(audit.audit(files.scan(args.data))))


def main(argv=None):
    args = parser().parse_args(argv)
    commands = {"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate, "explain": cmd_explain,
                "audit": cmd_audit}
    command = commands[args.command]
    return run_console_command(f"hunt-tf {args.command}", lambda: command(args), "; run the same command again to resume")


if __name__ == "__main__":
    sys.exit(main())
