"""A decision cut that moves toward Real when the Test folder shows fakes the detector never saw.

    decision["real_scores"] = real_scores_of(val_probs[val_labels == real], real)  # at training
    threshold, note = adapted_threshold(threshold, decision["real_scores"], test_probs, class_names)

Fakes of a generator the detector never saw land between the two kinds it knows: less fake
than the training generator's, less real than real images. On Fashion-MNIST every unseen
family ranked well against real images (ROC AUC 0.88-0.98), yet a quarter to half of its
fakes were called Real at the validation cut, because the validation fakes, all from the
training generator, lie far below it (BENCHMARKS.md, session 9). Validation cannot see that;
the unlabelled Test folder can.

The validation Real rows tell how real images score; the Test folder tells how its images
score. Moving the cut from c0 up to c calls the n_b test images between them AI. Real images
among those are expected at n * pi * dF, where dF is the share of validation reals between
c0 and c and pi the share of test images called Real at c0 (too high when unseen fakes pass
as real, so the rule errs toward staying). The expected gain in accuracy, in images, is
n_b - 2 n pi dF. The cut moves to the c where the lower confidence bound of that gain (Z
standard errors, since the validation reals are few) is largest, only when that bound is
positive, and never past the validation reals' CAP quantile. Where the test fakes come from
the training generator, nothing extra lies in between, and the cut stays where validation
put it. No test label is used.
"""

from __future__ import annotations

import numpy as np

from hunt_tf.extra_fakes import real_class

Z = 3.0  # standard errors the gain must clear
CAP = 0.10  # never call more than this share of the validation reals AI
MIN_REALS = 20  # fewer validation reals say too little about how real images score
KEPT = 5000  # validation scores kept in decision.json (evenly spaced order statistics beyond that)


def log_odds(probs, real: int) -> np.ndarray:
    """Log-odds of the Real class, sorted: the scale the cut moves on (probabilities saturate at
    1.0 where log-odds still tell images apart)."""
    probs = np.asarray(probs, np.float64)
    return np.sort(np.log(np.maximum(probs[:, real], 1e-12)) - np.log(np.maximum(probs[:, 1 - real], 1e-12)))


def real_scores_of(probs, real: int) -> list[float]:
    """What decision.json keeps of the validation reals' scores: at most KEPT evenly spaced ones."""
    scores = log_odds(probs, real)
    if len(scores) > KEPT:
        scores = scores[np.linspace(0, len(scores) - 1, KEPT).round().astype(int)]
    return [round(float(s), 4) for s in scores]


def _below(sorted_values, cuts):
    return np.searchsorted(sorted_values, cuts, side="left") / len(sorted_values)


def adapted_score_cut(real_scores, test_scores, c0: float, z: float = Z, cap: float = CAP) -> float:
    """The cut on Real log-odds (Real when a score is at least it), moved up from `c0` when the
    test scores hold significantly more images between than real images explain; else `c0`."""
    reals, tests = np.sort(np.asarray(real_scores, float)), np.sort(np.asarray(test_scores, float))
    n, m = len(tests), len(reals)
    if m < MIN_REALS or not n:
        return c0
    values = np.unique(np.concatenate([reals, tests]))
    cuts = (values[1:] + values[:-1]) / 2
    cuts = cuts[(cuts > c0) & (cuts <= np.quantile(reals, cap))]
    if not len(cuts):
        return c0
    pi = 1.0 - _below(tests, c0)
    between = n * (_below(tests, cuts) - _below(tests, c0))
    share = _below(reals, cuts) - _below(reals, c0)
    gain = between - 2 * n * pi * share
    # A stretch without a single validation real is not proof that reals never land there.
    seen = np.maximum(share, 1.0 / m)
    sd = np.sqrt((2 * n * pi) ** 2 * seen * (1 - seen) / m + between)
    bound = gain - z * sd
    best = int(np.argmax(bound))
    return float(cuts[best]) if bound[best] > 0 else c0


def adapted_threshold(threshold, real_scores, test_probs, class_names):
    """(threshold on P(class 1), a line saying why it moved, or None). Two classes, one named
    Real, enough validation reals; otherwise `threshold` unchanged."""
    real = real_class(class_names)
    if real is None or real_scores is None or len(real_scores) < MIN_REALS or not len(test_probs):
        return threshold, None
    t = min(max(0.5 if threshold is None else float(threshold), 1e-6), 1 - 1e-6)
    # Class 1 when P(1) >= t: in Real log-odds, Real from logit(t) (Real is class 1) or above logit(1 - t).
    c0 = float(np.log(t / (1 - t)) if real == 1 else np.log((1 - t) / t))
    tests = log_odds(test_probs, real)
    c = adapted_score_cut(real_scores, tests, c0)
    if c == c0:
        return threshold, None
    p_real = 1 / (1 + np.exp(-c))
    moved = int(np.sum((tests >= c0) & (tests < c)))
    note = (f"cut adapted to the test images: {moved} of {len(tests)} score between the validation's fakes and its "
            f"real images, more than real images explain (fakes of generators training never saw?), so they are "
            f"called {class_names[1 - real]}: Real from P(Real) >= {p_real:.3f} instead of {1 / (1 + np.exp(-c0)):.3f} "
            f"(--cut validation keeps the validation cut)")
    return float(p_real if real == 1 else 1 - p_real), note

