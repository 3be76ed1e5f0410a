"""Memory that stays bounded over a long search: the process that trains is replaced when it has grown.

    rc = supervise(argv)          # hunt-tune runs its search in a child process, again and again

TensorFlow keeps part of every trained model's traced graphs alive after the model is gone,
`keras.backend.clear_session()` or not (tensorflow/tensorflow#61791, keras-team/tf-keras#286;
measured here: about 12 MB per trial of the default CNN with TF 2.21 / Keras 3.15, 4.5 MB
for a one-layer model). No in-process cleanup releases it, so an overnight search would
run out of memory. Instead, the search runs in a child process that watches its own
resident memory after every trial; once it has grown by more than `--recycle-mb` since its
first trial, it stops asking for trials and exits with RECYCLE_EXIT, and the parent starts
a new child, which resumes the search from keras-tuner's state on disk (the untuned
baseline and the time budget carry over).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

RECYCLE_EXIT = 75  # EX_TEMPFAIL: "run me again"
CHILD_ENV = "GRADIENT_HUNT_TUNE_CHILD"
START_ENV = "GRADIENT_HUNT_TUNE_START"  # the budget counts from the parent's start


def rss_mb() -> float:
    """Resident memory of this process (Linux; 0 elsewhere, which never triggers a recycle)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def is_child() -> bool:
    return os.environ.get(CHILD_ENV) == "1"


def search_start() -> float:
    """When the user's command started: now, or, in a child, its parent's start."""
    return float(os.environ.get(START_ENV) or time.time()) if is_child() else time.time()


def _die_with_parent():
    """In the child, before exec: a SIGKILLed parent takes its child along (Linux), no orphan trains on."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def supervise(argv, start: float) -> int:
    """Run `python -m tuning.search ARGV` until a child ends without asking to be replaced."""
    env = dict(os.environ, **{CHILD_ENV: "1", START_ENV: str(start)})
    args = list(argv)
    while True:
        child = subprocess.Popen([sys.executable, "-m", "tuning.search", *args], env=env,
                                 preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        try:
            rc = child.wait()
        except KeyboardInterrupt:  # the child got the same Ctrl-C; let it finish saying so
            child.wait()
            return 130
        if rc != RECYCLE_EXIT:
            return rc
        args = [a for a in args if a != "--fresh"]  # the next process resumes what this one did
        print("hunt-tune: replaced the search process to release memory; resuming", flush=True)


def memory_watch(limit_mb: float, on_exceeded):
    """A Keras callback: after each trial, call `on_exceeded()` once memory has grown by `limit_mb`."""
    import keras

    class MemoryWatch(keras.callbacks.Callback):
        base = None

        def on_train_end(self, logs=None):
            now = rss_mb()
            if MemoryWatch.base is None:  # after the first trial: TensorFlow's own start-up is counted out
                MemoryWatch.base = now
            elif now - MemoryWatch.base > limit_mb:
                on_exceeded()

    return MemoryWatch()
