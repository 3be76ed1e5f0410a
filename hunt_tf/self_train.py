"""Self-training on the Test folder: the detector learns the generators of the images it is asked about.

    rows, labels = picked_records(predicted, class_names)     # the surest half of those called AI
    model = fine_tune(model, config, runtime, train_rows, pixels, labels, num_classes, time_limit=60)
    report = rounds_on_test(model, config, runtime, run_dir, folder, ...)  # what hunt_tf.train runs: all of it

The Gradient Hunt's second round was lost on test images from generators nobody had trained on,
and validation from the training generator cannot see them coming. But the Test folder is there,
unlabelled, when `hunt-tf train` runs. After the first prediction, the test images the model is
surest are AI join training as AI, the model trains a few more epochs at a tenth of its learning
rate, and predicts again; `--self-train` rounds of it (3 by default). No test label is ever used.

The picks are a share of the images called AI (the surest half), not those above one
confidence level: a generator the model half-recognises has its fakes called AI with less
confidence than its training generator's, and a single level would pick almost only the
latter (the reason class-balanced self-training, Zou et al., ECCV 2018, picks a share per
class). The surest of the fakes it does catch carry the new generator's traces into training,
and the rest follow. Images called Real are never picked: where an unseen generator's fakes are
called Real, the surest of them would teach the model that they are real; the training rows'
own reals stand for Real. Picking both classes (session 20) lowered the unseen generators of
one Fashion-MNIST folder and tied on another, worse in its worst seed; picking AI alone raised
all three folders in every seed, and cost a held-out MNIST folder 0.006 (BENCHMARKS.md, session 21).
A third round (the default since session 22) gained 0.014 on the folder that chose it and -0.004
to +0.008 on four others; it took that MNIST folder to 0.003 above no self-training.

hunt_tf.train runs it only where the adaptive cut's test finds fakes unlike validation's in
Test (hunt_tf.submit.unseen_fakes): elsewhere it measured small losses (session 20).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from gradient_hunt.atomic import save_model, write_json
from gradient_hunt.console import fit_verbosity
from gradient_hunt.nan_guard import NaNGuard
from gradient_hunt.runtime import import_tensorflow
from gradient_hunt.settings import SettingsError
from gradient_hunt.time_limit import TimeLimit
from hunt_tf import files
from hunt_tf.errors import RunError
from hunt_tf.extra_fakes import real_class
from hunt_tf.optim import make_optimizer
from hunt_tf.rows import TrainingRows
from hunt_tf.splits import class_weights
from hunt_tf.submit import report_and_predict, with_record

tf = import_tensorflow()

FRACTION = 0.5  # of the test images called AI, the surest this share joins training
PICKED_BYTES = 1 << 30  # decoded picked test images are held in memory: at most this much of them
TINY = 1e-30  # a floor under probabilities before their log
EPOCHS = 4  # per round, over the training rows and the picked test images together
LR_FACTOR = 0.1  # of the run's learning rate, constant: the model is trained, it only adjusts
RECORD = "self-trained.json"  # what self-training did (or why it was skipped), once model.keras is final


def check(rounds: int) -> int:
    """`rounds` if the command line may ask for it (0 = off), else a SettingsError."""
    if rounds < 0:
        raise SettingsError(f"--self-train must be 0 (off) or more rounds (got {rounds})")
    return rounds


def confidence(probs, c) -> np.ndarray:
    """How sure each row is of class c, as log-odds against the others: P(c) itself reads 1.0 in
    float32 from log-odds of about 17, and ties there would be broken by file order."""
    probs = np.asarray(probs, np.float64)
    others = np.delete(probs, c, axis=1).sum(axis=1)
    return np.log(np.maximum(probs[:, c], TINY)) - np.log(np.maximum(others, TINY))


def pick(probs, decided, fraction=FRACTION, limit=None, classes=None):
    """(indices, labels): for each of `classes` (default: all), of the rows `decided` as it, the
    `fraction` surest of it (rounded down), labelled with it; surest first. With `limit`, every
    class's share shrinks alike so that at most that many are picked."""
    probs, decided = np.asarray(probs), np.asarray(decided)
    classes = list(range(probs.shape[1]) if classes is None else classes)
    candidates = np.isin(decided, classes).sum()
    if limit is not None and candidates * fraction > limit:
        fraction = limit / candidates
    indices, labels = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for c in classes:
        rows = np.flatnonzero(decided == c)
        surest = rows[np.argsort(-confidence(probs[rows], c), kind="stable")][: int(len(rows) * fraction)]
        indices.append(surest)
        labels.append(np.full(len(surest), c, np.int64))
    return np.concatenate(indices), np.concatenate(labels)


def picked_records(predicted, class_names, limit=None):
    """pick() over a Predictions of a folder's records: (record indices, labels), among the
    records the model saw (an undecodable file's fallback answer teaches nothing). Test images
    called Real are never picked: where an unseen generator's fakes are called Real, the surest
    of them would teach the model that they are real (session 21: with the MLP GAN alone in
    Train, about 1,700 of the 2,700 images called Real were fakes, and at least a quarter of the
    1,300 picked as Real); the training rows' reals stand for Real. Without a class named Real
    (two classes), nothing is picked."""
    seen = np.flatnonzero(predicted.seen)
    decided = np.array([class_names.index(label) for label in predicted.labels])[seen]
    real = real_class(class_names)
    classes = [] if real is None else [c for c in range(len(class_names)) if c != real]  # no Real: nothing
    rows, labels = pick(predicted.probs[seen], decided, limit=limit, classes=classes)
    return seen[rows], labels


def pick_limit(train_rows: int, decode_size: int) -> int:
    """How many test images may join training: no more than the labelled rows (they stay at
    least half of what it trains on), and no more than PICKED_BYTES of decoded pixels."""
    return max(1, min(train_rows, PICKED_BYTES // (decode_size * decode_size * 3)))


def mixed_dataset(train: TrainingRows, pixels, labels, config, seed):
    """The training rows and the picked test images, shuffled together into augmented batches
    (each augmented as training augments its own; crops in crop mode); one pass over both is an epoch."""
    picked = TrainingRows.in_memory(pixels, labels)
    parts = [rows.dataset(config.batch_size, config.augment, config.aug_strength, seed, config.image_size).unbatch()
             for rows in (train, picked)]
    weights = [float(len(train)), float(len(picked))]
    ds = tf.data.Dataset.sample_from_datasets(parts, weights, seed=seed).batch(config.batch_size)
    # Known length: Keras would otherwise warn that the first epoch "ran out of data".
    batches = math.ceil((len(train) + len(picked)) / config.batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)


def fine_tune(model, config, runtime, train: TrainingRows, pixels, labels, num_classes, time_limit=0, verbose=None,
              seed=0):
    """Train `model` on `train` and the picked test `pixels` (uint8) with their `labels` for EPOCHS
    epochs at LR_FACTOR of the run's learning rate, constant, stopped at the first epoch end past
    `time_limit` seconds (0: none). Returns the model (trained in place)."""
    all_labels = np.concatenate([np.asarray(train.labels), labels])
    steps = math.ceil(len(all_labels) / config.batch_size)
    adjusting = dataclasses.replace(config, learning_rate=config.learning_rate * LR_FACTOR, schedule="constant")
    with runtime.strategy.scope():
        model.compile(optimizer=make_optimizer(adjusting, steps), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=runtime.jit_compile)
    verbose = fit_verbosity(verbose)
    guard = NaNGuard()
    weights = class_weights(all_labels, num_classes) if config.class_weights else None
    model.fit(mixed_dataset(train, pixels, labels, config, seed), epochs=EPOCHS, class_weight=weights,
              callbacks=[guard, TimeLimit(time_limit)], verbose=verbose, shuffle=False)  # the pipeline shuffles
    if guard.tripped:
        raise RunError("self-training diverged (NaN loss); nothing of it was saved: the same command with "
                       "--self-train 0 submits the trained model without it")
    return model


def rounds_on_test(model, config, runtime, run_dir, folder, train, val, outcome, test_ids, tta, verbose,
                   time_limit) -> dict:
    """config.self_train rounds of: the surest of the test images called AI join training as AI
    (picked_records), the model trains on and predicts again. The rounds
    share `time_limit` seconds (each stops at the first epoch end past its share; none starts once
    they are spent). `outcome` is report_and_predict's after training. Nothing is written until the
    last round: then RECORD, model.keras, the report, decision.json and submission.csv (a
    stop before leaves the trained run as it was). Returns the report."""
    predicted = outcome.predicted
    first = list(predicted.labels)
    rounds = []
    start = time.perf_counter()
    for r in range(config.self_train):
        if time.perf_counter() - start >= time_limit:
            print(f"self-training: its {time_limit:.0f} s were spent after {r} round(s)")
            break
        if r:  # what the model trained so far answers, unwritten
            predicted = report_and_predict(model, run_dir, folder, config, val, test_ids, tta, write=False).predicted
        records, labels = picked_records(predicted, folder.class_names,
                                          pick_limit(len(train), config.decode_size))
        if not len(records):
            print(f"self-training stopped after {r} round(s): the model calls too few test images AI to pick any")
            break
        pixels, ok = files.decode_all([folder.test[i] for i in records], config.decode_size, config.resize_mode,
                                      progress=False)
        if not ok.all():
            pixels, labels = pixels[ok], labels[ok]
        if not len(labels):
            print(f"self-training stopped after {r} round(s): none of its {len(records)} picks could be decoded")
            break
        picked = {folder.class_names[c]: int(n) for c, n in zip(*np.unique(labels, return_counts=True))}
        print(f"self-training round {r + 1} of {config.self_train}: "
              + ", ".join(f"{n} test images called {name}" for name, n in picked.items())
              + " join training with that label")
        fine_tune(model, config, runtime, train, pixels, labels, len(folder.class_names),
                  time_limit / config.self_train, verbose, seed=config.seed + r)
        del pixels
        rounds.append({"picked": picked})
    # The record first, then the model, then what it answers: stopped between any two, the same
    # command reports and predicts again from the saved model, which is the one the files describe.
    done = {"rounds": rounds}
    write_json(run_dir / RECORD, done)
    save_model(model, run_dir / "model.keras")
    report, predicted, _ = report_and_predict(model, run_dir, folder, config, val, test_ids, tta)
    done["answers_changed"] = int(sum(a != b for a, b in zip(first, predicted.labels)))
    print(f"self-training changed {done['answers_changed']} of {len(first)} test answers")
    return record(run_dir, report, done)


def record(run_dir, report, done: dict) -> dict:
    """RECORD, and the report (report.json where validation wrote one) with it under "self_training"."""
    write_json(run_dir / RECORD, done)
    return with_record(run_dir, report, "self_training", done)
