"""A decision cut that moves toward Real when the Test folder shows fakes the detector never saw.

    decision["real_scores"] = real_scores_of(val_probs[val_labels == real], real)  # at training
    cut = adapted_cut(threshold, decision["real_scores"], test_probs, class_names)     # at prediction
    labels = cut.decide(test_probs) if cut else predict_labels(test_probs, threshold)

Fakes of a generator the detector never saw land between the two kinds it knows: less fake
than the training generator's, less real than real images. On Fashion-MNIST every unseen
family ranked well against real images (ROC AUC 0.88 to 0.999), yet a quarter to half of
three families' fakes were called Real at the validation cut: the validation fakes, all of
the training generator, lie far below it (BENCHMARKS.md, session 9), so validation cannot
see where the cut should go between them. The unlabelled Test folder can.

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

import dataclasses

import numpy as np

from gradient_hunt.settings import SettingsError
from hunt_tf.choices import CUTS
from hunt_tf.extra_fakes import real_class

Z = 3.0  # standard errors the gain must clear
CAP = 0.05  # never call more than this share of the validation reals AI (0.10 gained no more on Fashion-MNIST)
MIN_REALS = 20  # fewer validation reals say too little about how real images score
KEPT = 5000  # validation scores kept in decision.json (evenly spaced order statistics beyond that)
TINY = 1e-38  # float32 probabilities are exact down to here: log-odds up to about 87


def log_odds(probs, real: int) -> np.ndarray:
    """Log-odds of the Real class, one per row: the scale the cut moves on (P(Real) saturates at
    1.0 in float32 from log-odds of about 17, where the small probability still tells images apart)."""
    probs = np.asarray(probs, np.float64)
    return np.log(np.maximum(probs[:, real], TINY)) - np.log(np.maximum(probs[:, 1 - real], TINY))


def real_scores_of(probs, real: int) -> list[float]:
    """What decision.json keeps of the validation reals' scores: sorted, at most KEPT evenly spaced ones."""
    scores = np.sort(log_odds(probs, real))
    if len(scores) > KEPT:
        scores = scores[np.linspace(0, len(scores) - 1, KEPT).round().astype(int)]
    return [round(float(s), 4) for s in scores]


def _below(sorted_values, cuts):
    return np.searchsorted(sorted_values, cuts, side="left") / len(sorted_values)


def enough_reals(real_scores) -> bool:
    """Whether validation kept enough real images' scores for the cut's test (MIN_REALS)."""
    return real_scores is not None and len(real_scores) >= MIN_REALS


def adapted_score_cut(real_scores, test_scores, c0: float, z: float = Z, cap: float = CAP) -> float:
    """The cut on Real log-odds (Real when a score is at least it), moved up from `c0` when the
    test scores hold significantly more images between than real images explain; else `c0`."""
    reals, tests = np.sort(np.asarray(real_scores, float)), np.sort(np.asarray(test_scores, float))
    n, m = len(tests), len(reals)
    if not enough_reals(reals) or not n:
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


@dataclasses.dataclass
class AdaptedCut:
    """A cut that moved: Real where an image's Real log-odds are at least `score`."""

    score: float
    real: int  # the Real class's index
    note: str  # one line for the log: how many images it moved, and from where to where

    @property
    def threshold(self) -> float:
        """The same cut on P(class 1), as decision.json states cuts (exact only below log-odds ~17)."""
        return _sigmoid(self.score if self.real == 1 else -self.score)

    def decide(self, probs) -> np.ndarray:
        """Class ids, compared in log-odds: a float32 P(Real) cannot show a cut above ~17."""
        return np.where(log_odds(probs, self.real) >= self.score, self.real, 1 - self.real).astype(np.int64)


def score_cut_of(threshold: float, real: int) -> float:
    """A cut on P(class 1) (class 1 when P(1) >= it) as a cut on Real log-odds: Real from
    logit(t) when Real is class 1, from logit(1 - t) (strictly above) when it is class 0."""
    t = float(threshold)
    return float(np.log(t) - np.log1p(-t)) if real == 1 else float(np.log1p(-t) - np.log(t))


def adapted_cut(threshold, real_scores, test_probs, class_names) -> AdaptedCut | None:
    """The cut for these test probabilities when it moves from `threshold` (on P(class 1)), else
    None: two classes, one named Real, enough validation reals (adapted_score_cut), a cut strictly
    inside (0, 1)."""
    real = real_class(class_names)
    t = 0.5 if threshold is None else float(threshold)
    if real is None or real_scores is None or not 0 < t < 1:
        return None  # at a cut of 0 or 1 validation calls every image one class already
    c0 = score_cut_of(t, real)
    tests = log_odds(test_probs, real)
    c = adapted_score_cut(real_scores, tests, c0)
    if c == c0:
        return None
    moved = int(np.sum((tests >= c0) & (tests < c)))
    note = (f"cut adapted to the test images: {moved} of {len(tests)} lie between validation's fakes and its real "
            f"images, more than real images would put there (a generator training never saw?), and are called "
            f"{class_names[1 - real]}: Real from P(Real) {_p(c)} instead of {_p(c0)} (--cut validation keeps validation's)")
    return AdaptedCut(c, real, note)


def validation_reals(decision: dict, tta=False):
    """The validation reals' scores in a run's decision.json, predicted as the test images will be
    (with mirrors or without); None when the run has none of that kind."""
    return decision.get("real_scores_tta" if tta else "real_scores")


def _p(score: float) -> str:
    """A cut on log-odds as P(Real), with the log-odds where the probability reads 1.0000."""
    p = _sigmoid(score)
    return f"{p:.4f}" if p < 0.9999 else f"{p:.6f} (log-odds {score:.1f})"


def _sigmoid(score: float) -> float:
    return float(1 / (1 + np.exp(-score)))


def adapts(cut: str) -> bool:
    """Whether a `--cut` setting asks for an adapted cut; anything unknown is an error, not "validation"."""
    if cut not in CUTS:
        raise SettingsError(f"unknown cut {cut!r}; choose from {', '.join(CUTS)}")
    return cut == "adaptive"
