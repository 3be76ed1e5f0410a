"""Test images unlike Train's real images: fakes of generators that no training image came from.

    ai = unlike_reals(train_reals, test_pixels, called_real, seed=0)    # bool per test image
    report = check_submission(run_dir, folder, config, test_ids, report)  # hunt-tf train --unlike-reals on

A detector trained on one generator's fakes calls another generator's fakes Real when it has
learnt nothing they share: on Fashion-MNIST, trained on VAE fakes it called every GAN fake
Real (0.50), and self-training cannot start from images it never calls AI. But Train's real
images and the Test folder are both there. Where Test's real images come from the same source
as Train's, a network can tell them from Train's only by memorising; it can tell fakes from
them by their traces, whichever generator made them, with no fake of that generator to learn
from: positive-unlabelled learning (Elkan & Noto, KDD 2008), Train's reals the labelled class.

So a small CNN learns "Train's reals vs Test's images", cross-fitted: both are split in two,
and each half is scored by the network trained on the other halves, so no image is scored by a
network that saw it, and held-out Train reals show how real images score. Among the test
images the detector calls Real, the adaptive cut's rule (hunt_tf.adaptive_cut) then calls AI
those least like Train's reals, only where significantly more of them lie there than real
images would, and never more than its CAP of the held-out reals. Where the detector already
catches every fake (or Test's fakes look real to this network too), nothing moves.

Where Test's real images come from another camera or pipeline than Train's, they are unlike
Train's reals too: this check cannot tell them from fakes (nor can self-training). Measured on
images decoded under 64 px only (BENCHMARKS.md, session 23); larger ones are not checked.
`hunt-tf predict` on another folder does not run it: it belongs to the Test folder it learnt.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from gradient_hunt.time_limit import TimeLimit
from hunt_tf import files
from hunt_tf.adaptive_cut import adapted_score_cut, log_odds
from hunt_tf.choices import RESIDUAL_MIN_SIDE
from hunt_tf.extra_fakes import real_class
from hunt_tf.predict import read_submission, write_submission
from hunt_tf.submit import with_record

EPOCHS = 8  # per half; the rate decays to 0 over them, so the last epoch's weights are settled
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
TIME_LIMIT_S = 120.0  # the two networks: each stops at its first epoch end past half of this
MIN_IMAGES = 40  # Train reals and decodable test images each: fewer tell the rule too little
# Decoded pixels of Train's reals and Test together; training holds about 4x (halves, mirrors, TF's copy).
MAX_BYTES = 256 << 20


def halves(n: int, seed: int) -> np.ndarray:
    """0 or 1 per row, in a seeded random order: two halves of equal size (one more in half 0 for odd n)."""
    return np.random.default_rng(seed).permutation(n) % 2


def probe_network(shape) -> keras.Model:
    """Three conv blocks and a sigmoid: P(an image comes from Test rather than from Train's reals).
    float32 whatever the run's policy: a faint trace is a grey level or two, near bfloat16's step."""
    f32 = {"dtype": "float32"}
    x = inputs = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 255, **f32)(x)
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, **f32)(x)
        x = keras.layers.BatchNormalization(momentum=0.9, **f32)(x)  # small folders: the statistics settle fast
        x = keras.layers.ReLU(**f32)(x)
        x = keras.layers.MaxPooling2D(**f32)(x)
    x = keras.layers.GlobalAveragePooling2D(**f32)(x)
    x = keras.layers.Dropout(0.3, **f32)(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", **f32)(x))


def cross_fitted_scores(reals, test, seed=0, epochs=EPOCHS, time_limit=0):
    """(P(Test) of each Train real, of each test image), uint8 (N, H, W, C) in; each half of both
    scored by a network trained on the other halves (and their mirror images), the two classes
    weighed alike. Each network stops at its first epoch end past `time_limit` / 2 seconds (0: none)."""
    real_half, test_half = halves(len(reals), seed), halves(len(test), seed + 1)
    real_scores, test_scores = np.zeros(len(reals)), np.zeros(len(test))
    for k in (0, 1):
        keras.utils.set_random_seed(seed * 2 + k)
        a, b = reals[real_half != k], test[test_half != k]
        x = np.concatenate([a, b, a[:, :, ::-1], b[:, :, ::-1]])
        y = np.concatenate([np.zeros(len(a)), np.ones(len(b))] * 2).astype(np.float32)
        weight = np.where(y == 0, len(y) / (2 * 2 * len(a)), len(y) / (2 * 2 * len(b))).astype(np.float32)
        steps = epochs * -(-len(y) // BATCH_SIZE)
        model = probe_network(reals.shape[1:])
        model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                      "binary_crossentropy")
        model.fit(x, y, sample_weight=weight, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, shuffle=True,
                  callbacks=[TimeLimit(time_limit / 2)] if time_limit else [])
        real_scores[real_half == k] = model.predict(reals[real_half == k], batch_size=256, verbose=0)[:, 0]
        test_scores[test_half == k] = model.predict(test[test_half == k], batch_size=256, verbose=0)[:, 0]
    return real_scores, test_scores


def realness(scores) -> np.ndarray:
    """P(Test) as log-odds of being like Train's reals (higher: more real): the adaptive cut's scale."""
    p = np.asarray(scores, np.float64)
    return log_odds(np.stack([p, 1 - p], axis=1), real=1)


def unlike_reals(reals, test, called_real, seed=0, epochs=EPOCHS, time_limit=0) -> np.ndarray:
    """Which test images this check calls AI (bool per image): only ever some of those `called_real`
    by the detector (bool per image), and none where the rule does not move (module docstring)."""
    called_real = np.asarray(called_real, bool)
    if len(reals) < MIN_IMAGES or len(test) < MIN_IMAGES or not called_real.any():
        return np.zeros(len(test), bool)
    return called_unlike(*cross_fitted_scores(reals, test, seed, epochs, time_limit), called_real)


def called_unlike(real_scores, test_scores, called_real) -> np.ndarray:
    """The rule on cross-fitted P(Test) scores: of the test images `called_real`, those whose realness
    lies below the cut that hunt_tf.adaptive_cut's rule moves to from below every score, with the
    held-out Train reals as the real images it compares them with (bool per test image)."""
    held_out, tests = realness(real_scores), realness(test_scores)
    called_real = np.asarray(called_real, bool)
    start = min(held_out.min(), tests.min()) - 1.0  # below every score: the detector's answers alone
    cut = adapted_score_cut(held_out, tests[called_real], start)
    return called_real & (tests < cut)


def check_submission(run_dir, folder, config, test_ids, report: dict, time_limit=TIME_LIMIT_S) -> dict:
    """Run unlike_reals on the folder's Train reals and its Test images, as the run decodes them,
    against the answers in RUN/submission.csv; rewrite it with the images it calls AI. Returns the
    report with what it did under "unlike_reals" (report.json rewritten where validation wrote one)."""
    run_dir = Path(run_dir)
    real = real_class(folder.class_names)
    size = config.decode_size
    reals = [r for r in folder.train if r.label == real]
    why = None
    if real is None:
        why = "it needs two classes, one named Real"
    elif size >= RESIDUAL_MIN_SIDE:
        why = f"images decoded at {size} px; it was measured under {RESIDUAL_MIN_SIDE} px only"
    elif (len(reals) + len(folder.test)) * size * size * 3 > MAX_BYTES:
        why = f"{len(reals)} Train reals and {len(folder.test)} test images at {size} px are more than it holds"
    if why:
        return _skipped(run_dir, report, why)
    real_pixels, real_ok = files.decode_all(reals, size, config.resize_mode, progress=False)
    test_pixels, test_ok = files.decode_all(folder.test, size, config.resize_mode, progress=False)
    if min(real_ok.sum(), test_ok.sum()) < MIN_IMAGES:
        return _skipped(run_dir, report, f"{real_ok.sum()} Train reals and {test_ok.sum()} decodable test images; "
                                         f"it needs {MIN_IMAGES} of each")
    answers = read_submission(run_dir / "submission.csv")  # the detector's, after self-training
    labels = [answers[i] for i in test_ids]
    decoded = np.flatnonzero(test_ok)  # an undecodable file keeps its fallback answer
    called_real = np.array([labels[i] == folder.class_names[real] for i in decoded], bool)
    ai = unlike_reals(real_pixels[real_ok], test_pixels[decoded], called_real, config.seed, time_limit=time_limit)
    del real_pixels, test_pixels
    for i in decoded[ai]:
        labels[i] = folder.class_names[1 - real]
    write_submission(run_dir / "submission.csv", test_ids, labels)
    n = int(ai.sum())
    print(f"unlike-reals check: {n} of the {int(called_real.sum())} test images called "
          f"{folder.class_names[real]} are unlike Train's real images, more than real images would be, "
          f"and are called {folder.class_names[1 - real]} (--unlike-reals off keeps the detector's answers)"
          if n else "unlike-reals check: no more test images unlike Train's real images than real ones explain; "
          "the answers stand")
    return with_record(run_dir, report, "unlike_reals", {"called_ai": n, "of_called_real": int(called_real.sum())})


def _skipped(run_dir, report, why):
    print(f"unlike-reals check skipped: {why}")
    return with_record(run_dir, report, "unlike_reals", {"called_ai": 0, "skipped": why})
