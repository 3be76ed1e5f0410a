"""What a trained hunt model reports on validation, decides with, and answers for Test.

    outcome = report_and_predict(model, run_dir, folder, config, Validation(...), test_ids, tta=False)
    outcome.report, outcome.predicted       # report.json's dict; Predictions of Test (None without one)

hunt_tf.train calls it once after training, and again after self-training (hunt_tf.self_train):
its rounds predict without writing, and the last writes once the self-trained model is saved,
so the report, decision.json and submission.csv on disk describe the model that is saved.
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np

from gradient_hunt.atomic import write_json
from hunt_tf import ensemble, extra_fakes
from hunt_tf.adaptive_cut import AdaptedCut, adapted_cut, adapts, real_scores_of, validation_reals
from hunt_tf.explain import explain_images
from hunt_tf.predict import Predictions, predict_pixels, predict_records, write_submission
from hunt_tf.report import build_report, write_report
from hunt_tf.rows import subset


class Validation(typing.NamedTuple):
    pixels: object  # uint8 array or CachedRows
    labels: np.ndarray
    names: list  # file names, for the report's pictures
    how: str  # how the rows were chosen, said in the report
    held_out_source: bool  # a whole generator this run never saw: the cut stays at 0.5


class Outcome(typing.NamedTuple):
    report: dict
    predicted: Predictions | None
    decision: dict  # decision.json's


def report_and_predict(model, run_dir, folder, config, val: Validation, test_ids, tta=False, predict=True,
                       write=True) -> Outcome:
    """Write report/ (validation's metrics, pictures and heatmaps), decision.json and, when asked
    and Test has images, submission.csv; returns the report (with where the submission's cut was),
    the test predictions and the decision. With `write` False, the same answers and nothing
    written (a self-training round that is not the last)."""
    run_dir = Path(run_dir)
    report = {}
    if len(val.labels):
        val_probs = predict_pixels(model, val.pixels)
        fixed_cut = 0.5 if val.held_out_source and len(folder.class_names) == 2 else None
        if write:
            report = write_report(run_dir / "report", val.labels, val_probs, folder.class_names,
                                  images=val.pixels, names=val.names, threshold=fixed_cut, validation=val.how,
                                  members=len(ensemble.members_of(model)))
            explain_images(model, val.pixels, val_probs, folder.class_names, run_dir / "report" / "explain.png",
                           val.labels, val.names)
        else:
            report = build_report(val.labels, val_probs, folder.class_names, fixed_cut)[0]
    # What prediction needs besides the model: the cut on P(class 1), the answer for undecodable
    # files, and how the validation's real images scored (where an adaptive cut may move to).
    decision = {"threshold": report.get("threshold"), "fallback_class": folder.majority_class}
    real = extra_fakes.real_class(folder.class_names)
    if len(val.labels) and real is not None and np.any(val.labels == real):
        decision["real_scores"] = real_scores_of(val_probs[val.labels == real], real)
        if tta:  # mirror averaging lowers confident scores: compare like with like
            reals = subset(val.pixels, np.flatnonzero(val.labels == real))
            decision["real_scores_tta"] = real_scores_of(predict_pixels(model, reals, tta=True), real)
    if write:
        write_json(run_dir / "decision.json", decision)
    if not (folder.test and predict):
        return Outcome(report, None, decision)
    predicted = predict_records(model, folder.test, folder.class_names, config.decode_size, config.resize_mode,
                                decision["threshold"], decision["fallback_class"], tta=tta,
                                real_scores=validation_reals(decision, tta) if adapts(config.cut) else None)
    adapted = predicted.adapted
    if not write:
        return Outcome(report, predicted, decision)
    if adapted:
        print(adapted.note)
    write_submission(run_dir / "submission.csv", test_ids, predicted.labels)
    submission = {"submission": str(run_dir / "submission.csv"), "n_test": len(test_ids),
                  "submission_threshold": adapted.threshold if adapted else predicted.threshold,
                  "submission_log_odds_cut": adapted.score if adapted else None,
                  "submission_cut": adapted.note if adapted else "validation's"}
    report.update(submission)
    if len(val.labels):  # the report on disk says which cut the submission was decided at
        write_json(run_dir / "report" / "report.json", report)
    return Outcome(report, predicted, decision)


def unseen_fakes(outcome: Outcome, class_names, tta=False, cut_tested=False) -> AdaptedCut | None:
    """The adaptive cut's evidence that Test holds fakes unlike validation's: significantly more
    test images between validation's fakes and reals than real images put there (the cut it
    would move to, whether or not --cut adaptive moved it); None without it, or without Test,
    two classes with one named Real, or validation reals."""
    predicted = outcome.predicted
    if predicted is None:
        return None
    if predicted.adapted is not None or cut_tested:  # --cut adaptive asked the same question in prediction
        return predicted.adapted
    return adapted_cut(outcome.decision["threshold"], validation_reals(outcome.decision, tta),
                       predicted.probs[predicted.seen], class_names)


def with_record(run_dir, report: dict, key: str, done: dict) -> dict:
    """The report with `done` under `key`, and report.json rewritten with it where validation wrote
    one (a step after prediction, such as self-training, says what it did there)."""
    report = {**report, key: done}
    if (Path(run_dir) / "report" / "report.json").exists() and "accuracy" in report:
        write_json(Path(run_dir) / "report" / "report.json", report)
    return report
