"""Training across processes (`--strategy multi-worker`): who is chief, and Keras 3 mended for it.

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'

Every worker runs the same command on the same data; tf.distribute.MultiWorkerMirroredStrategy
keeps their weights identical (gradients are all-reduced every step) and shards each batch
across them. The chief (task "chief", or worker 0 when the cluster names none) writes the run;
the others train into a scratch directory of their own and exit.

Keras 3's `model.fit` does not run under this strategy as released (keras-team/keras#20585,
open; reproduced with Keras 3.15 / TF 2.21): before the first step it averages a *data batch*
across workers to learn the input shapes, which the collective strategy cannot do eagerly; and
it averages each step's scalar logs along an axis they do not have. `mend_keras_fit` replaces
those two steps, for this process, with what they mean: the shapes from the dataset's spec
(drawing a batch would also start a shuffled dataset's first epoch early), and a mean across
workers of each scalar.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# How long a worker waits for the whole cluster to start. TensorFlow's own wait has no end:
# a worker whose peer never starts would hang for good.
WAIT_ENV = "GRADIENT_HUNT_WORKER_WAIT"
WAIT_S = 600.0
MAX_WAIT_S = 1e7  # about four months: past this select() overflows
BACKSTOP_S = 2.0  # after the watcher's kill, for where that kill does nothing


def task() -> tuple[str, int]:
    """(task type, index) from TF_CONFIG; ("", 0) without one."""
    spec = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    return spec.get("type", ""), int(spec.get("index", 0))


def is_chief() -> bool:
    """The process that writes the run: task "chief", or worker 0 of a cluster without a chief;
    True without TF_CONFIG (a single process)."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster") or {}
    kind, index = task()
    if not kind:
        return True
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def scratch_dir(run_dir) -> Path:
    """Where a worker that is not the chief keeps its own checkpoints for `run_dir`: the same
    place every time (an interrupted run resumes on every worker together), never in the run."""
    digest = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:12]
    kind, index = task()
    return Path(tempfile.gettempdir()) / f"gradient-hunt-{digest}-{kind}{index}"


def cluster_wait_s() -> float:
    """Seconds a worker waits for the others to join: GRADIENT_HUNT_WORKER_WAIT, else WAIT_S."""
    text = os.environ.get(WAIT_ENV, "")
    try:
        seconds = float(text) if text else WAIT_S
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_WAIT_S:  # also refuses nan and inf
        from gradient_hunt.runtime import RuntimeSettingError

        raise RuntimeSettingError(f"{WAIT_ENV}={text!r}: give the seconds a worker waits for the others, "
                                  f"more than 0 and at most {MAX_WAIT_S:.0f}, e.g. 600")
    return seconds


# The watcher of cluster_deadline: a process of its own, since TensorFlow holds the GIL while it
# waits for the cluster (no thread of ours runs). It kills its parent unless the parent closes
# the pipe (done) first; Ctrl-C, which the waiting parent cannot act on, ends the parent at once.
_WATCHER = """
import os, select, signal, sys
pid, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
signal.signal(signal.SIGINT, lambda *_: (os.kill(pid, signal.SIGKILL), sys.exit(130)))
if not select.select([sys.stdin], [], [], seconds)[0]:
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGKILL)
"""


@contextlib.contextmanager
def cluster_deadline(seconds: float):
    """Around the start of a multi-worker strategy: if the cluster has not come together within
    `seconds`, say which workers this one waited for and end this process (killed: nothing
    else reaches a process waiting inside TensorFlow)."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster") or {}
    members = ", ".join(f"{job} {i} ({address})" for job, addresses in cluster.items()
                        for i, address in enumerate(addresses))
    kind, index = task()
    message = (f"error: {kind} {index} waited {seconds:g} s for the cluster in TF_CONFIG ({members}) and not every "
               f"worker joined: start the same command on each of them (the same TF_CONFIG cluster, its ports "
               f"open), or wait longer with {WAIT_ENV}=SECONDS")
    watcher = subprocess.Popen([sys.executable, "-c", _WATCHER, str(os.getpid()), str(seconds), message],
                               stdin=subprocess.PIPE)
    # A SIGKILL from inside does nothing to PID 1 (a container's main process, where TF_CONFIG
    # usually lives): faulthandler's C thread, which needs no GIL, exits just after the watcher.
    backstop = open(os.devnull, "w")  # noqa: SIM115  (open until the timer is cancelled)
    faulthandler.dump_traceback_later(seconds + BACKSTOP_S, exit=True, file=backstop)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        backstop.close()
        watcher.stdin.close()  # the cluster is up (or this failed otherwise): the watcher leaves
        watcher.wait()


def across_workers() -> bool:
    """Built under a multi-worker strategy: BatchNorm then uses the statistics of the global
    batch (all workers'), so the run learns what one process with the whole batch would."""
    import tensorflow as tf

    return isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy)


def _summed(strategy, mine: int) -> int:
    """The sum over all workers of each one's integer `mine` (one all-reduce), on every worker."""
    import tensorflow as tf

    return int(strategy.reduce("SUM", strategy.run(lambda: tf.constant(int(mine), tf.int64)), axis=None))


def chief_value(strategy, value: int) -> int:
    """The chief's integer `value` on every worker (the others add 0)."""
    return _summed(strategy, value if is_chief() else 0)


def anyone_says(strategy, flag: bool) -> bool:
    """True on every worker when `flag` is true on any of them."""
    return _summed(strategy, bool(flag)) > 0


def worker_report(**more) -> dict:
    """What a worker that is not the chief returns from training: its name ("worker 1"), and `more`."""
    return {"worker": "{} {}".format(*task()), **more}


def chief_says(strategy, flag: bool) -> bool:
    """The chief's `flag` on every worker, by one all-reduce (the others' own flags are ignored):
    e.g. whether the run is already trained, which only the chief's run directory can tell."""
    return bool(chief_value(strategy, bool(flag)))


_MENDED = False


def mend_keras_fit():
    """Let keras.Model.fit run under MultiWorkerMirroredStrategy (see the module docstring). Idempotent."""
    global _MENDED
    if _MENDED:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def symbolic_build_from_spec(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            # The shapes from the dataset's spec, not from a batch drawn from it: drawing one
            # starts an epoch, and a reshuffling dataset would then train on its second order.
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    released_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if not (trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean")):
            return released_reduce(values, strategy, reduction)

        def mean(v):
            if not isinstance(v, tf.distribute.DistributedValues):
                return v
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return strategy.reduce("MEAN", v, axis=0 if rank else None)

        return tree.map_structure(mean, values)

    trainer.TensorFlowTrainer._maybe_symbolic_build = symbolic_build_from_spec
    trainer.reduce_per_replica = reduce_per_replica
    _MENDED = True
