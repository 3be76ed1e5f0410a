"""A time budget that ends a search through its oracle, so a distributed search ends too.

    budget = SearchBudget(tuner.oracle, minutes=15)       # single process, the chief, a worker
    tuner.search(callbacks=[trial_clock(budget.deadline)])  # every process that trains

keras-tuner's chief leaves its serving loop only after it has answered some worker's
request for a trial with STOPPED. So the budget is enforced where trials are handed out:
past the deadline, `create_trial` answers STOPPED to everyone who asks; and `serve` runs
the chief's server in a thread, so that past the deadline the chief also ends when no
worker is left to ask. A trial still
running at the deadline stops after its current epoch (TrialClock) and is marked "cut":
it ran fewer epochs than the others, so its score never competes (tuning.outputs).
"""

from __future__ import annotations

import time


class SearchBudget:
    def __init__(self, oracle, minutes: float, start: float | None = None):
        import keras_tuner as kt
        from keras_tuner.src.engine.metrics_tracking import MetricsTracker  # not exported by keras_tuner

        self.oracle = oracle
        self.deadline = (start or time.time()) + minutes * 60
        self.spent = False  # the deadline ended the search
        self.stopped = False  # stop() ended it (this process is to be replaced: tuning.recycle)
        create = oracle.create_trial

        def create_trial(tuner_id):
            if time.time() < self.deadline and not self.stopped:
                retry = bool(getattr(oracle, "_retry_queue", None)) and tuner_id not in oracle.ongoing_trials
                trial = create(tuner_id)
                if retry and trial.status == kt.engine.trial.TrialStatus.RUNNING:
                    # keras-tuner reuses the Trial; without this the retry's per-epoch reports
                    # (heartbeats) would be averaged with the failed attempt's.
                    trial.metrics = MetricsTracker()
                return trial
            self.spent = not self.stopped
            if hasattr(oracle, "tuner_ids"):  # the oracle itself, not a worker's client of the chief's
                oracle.tuner_ids.discard(tuner_id)  # what keras-tuner does when it answers STOPPED itself
            # A worker's OracleClient exposes no hyperparameters; a STOPPED trial needs none.
            return kt.engine.trial.Trial(kt.HyperParameters(), trial_id="stopped",
                                         status=kt.engine.trial.TrialStatus.STOPPED)

        oracle.create_trial = create_trial  # also what the chief's gRPC handler calls

    def stop(self):
        """Hand out no more trials from this process (the one running finishes)."""
        self.stopped = True


def serve(tuner, callbacks, deadline: float, poll_s: float = 2.0):
    """The chief: keras-tuner's oracle server, until the search is over.

    keras-tuner returns once it has told some worker STOPPED and all are gone. If no worker
    asks again after the deadline (all crashed or were killed), that never happens; so past
    the deadline the chief also returns once no trial is running and no worker is left
    (tuning.watch forgets dead ones).
    """
    import threading

    from keras_tuner.src.distribute import oracle_chief

    failure = []

    def run():
        try:
            tuner.search(callbacks=callbacks, verbose=1)
        except BaseException as err:  # e.g. the port is taken: the chief's command must fail with it
            failure.append(err)

    server = threading.Thread(target=run, daemon=True, name="oracle-server")
    server.start()
    while server.is_alive():
        server.join(timeout=poll_s)
        if time.time() > deadline and oracle_chief.exit_chief(tuner.oracle):
            break
    if failure:
        raise failure[0]


def heartbeat(tuner):
    """heartbeat(epoch, logs) for a worker: reports the epoch's metrics on the trial it is running.

    keras-tuner 1.4 tells the chief nothing until a trial ends, so without this a long trial
    looks like a dead worker to tuning.watch. The oracle refuses a report without the objective:
    the whole epoch's logs go.
    """
    run_trial = tuner.run_trial
    tuner.current_trial_id = None

    def tracked(trial, *args, **kwargs):
        tuner.current_trial_id = trial.trial_id
        return run_trial(trial, *args, **kwargs)

    tuner.run_trial = tracked  # keras-tuner calls self.run_trial: the instance attribute wins

    def beat(epoch, logs):
        if tuner.current_trial_id is not None:
            tuner.oracle.update_trial(tuner.current_trial_id, {k: float(v) for k, v in logs.items()}, step=epoch)

    return beat


def trial_clock(deadline: float, log_path=None, heartbeat=None):
    """A Keras callback for every trial: times it (`trial_seconds`) and stops it at `deadline`
    (`budget_cut` = 1 in its metrics); `log_path` gets a line per trial started; `heartbeat(epoch, logs)`
    is called after every epoch with its logs (a worker tells the chief it is alive: tuning.watch)."""
    import keras

    class TrialClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.time()
            if log_path is not None:  # which process ran which trial
                log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(log_path, "a") as f:
                    f.write(f"{time.strftime('%H:%M:%S')} trial started\n")

        def on_epoch_end(self, epoch, logs=None):
            cut = time.time() > deadline
            if logs is not None:
                logs["trial_seconds"] = time.time() - self.start
                logs["budget_cut"] = float(cut)
            if cut:
                self.model.stop_training = True
            if heartbeat is not None and logs:
                heartbeat(epoch, logs)

    return TrialClock()
