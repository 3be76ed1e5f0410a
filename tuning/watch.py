"""WorkerWatch: on the chief, a worker that goes silent gives its trial back to the others.

    WorkerWatch(tuner.oracle, run_dir / "tuner" / "hunt", timeout_s=600).start()
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


class WorkerWatch:
    """Chief only: a worker that goes silent gives its trial back, so the others finish the search.

    Workers send a heartbeat to the chief after every epoch (tuning.search: an `update_trial`,
    after which keras-tuner rewrites the trial's trial.json), so a trial whose worker has
    been silent for longer than `timeout_s` (which must exceed the longest epoch) belongs to a worker that was killed or lost its machine.
    The trial is ended as INVALID, which sends it to keras-tuner's retry queue; the next worker
    to ask runs it again. The silent worker's id is forgotten, so the chief can still exit;
    a restarted worker registers again when it asks for a trial. A worker that holds no trial
    (Hyperband's idle workers ask again and again until a round opens) is forgotten once it
    has not asked for `timeout_s`.
    """

    def __init__(self, oracle, trial_dir, timeout_s, every_s=None):
        self.oracle, self.trial_dir, self.timeout_s = oracle, Path(trial_dir), timeout_s
        self.every_s = every_s or max(1.0, timeout_s / 10)
        self.since = {}  # (tuner id, trial id) -> when this watch first saw that worker on that trial
        self.asked = {}  # tuner id -> when it last asked for a trial
        ask = oracle.create_trial  # the chief's gRPC handler calls this attribute: note who asks, when

        def create_trial(tuner_id):
            self.asked[tuner_id] = time.time()
            return ask(tuner_id)

        oracle.create_trial = create_trial

    def start(self):
        import threading

        threading.Thread(target=self._loop, name="worker-watch", daemon=True).start()
        return self

    def _loop(self):
        while True:
            time.sleep(self.every_s)
            self.check()

    def last_heard(self, tuner_id, trial):
        first_seen = self.since.setdefault((tuner_id, trial.trial_id), time.time())
        report = self.trial_dir / f"trial_{trial.trial_id}" / "trial.json"
        return max(first_seen, report.stat().st_mtime if report.exists() else 0.0)

    def check(self):
        import keras_tuner as kt

        @kt.synchronized  # holds the oracle's own lock, like its gRPC handlers
        def requeue_silent(oracle):
            lost = []
            for tuner_id, trial in list(oracle.ongoing_trials.items()):
                silent = time.time() - self.last_heard(tuner_id, trial)
                if silent > self.timeout_s:
                    trial.status = kt.engine.trial.TrialStatus.INVALID
                    trial.message = f"worker {tuner_id} silent for {silent:.0f} s"
                    oracle.end_trial(trial)  # -> the retry queue (the tuner allows one retry)
                    oracle.tuner_ids.discard(tuner_id)
                    lost.append((tuner_id, trial.trial_id))
            for tuner_id in list(oracle.tuner_ids - set(oracle.ongoing_trials)):
                if time.time() - self.asked.setdefault(tuner_id, time.time()) > self.timeout_s:
                    oracle.tuner_ids.discard(tuner_id)  # an idle worker that stopped asking
                    lost.append((tuner_id, None))
            return lost

        for tuner_id, trial_id in requeue_silent(self.oracle):
            gives = f"; trial {trial_id} goes to the next worker" if trial_id else " while it held no trial"
            print(f"warning: worker {tuner_id} went silent{gives}", file=sys.stderr, flush=True)
