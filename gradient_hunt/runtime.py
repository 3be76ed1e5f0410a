"""Runtime setup that every command shares: quiet logs, devices, precision, XLA, strategy.

This is the one place that decides how TensorFlow runs; `gan_tf`, `hunt_tf` and `tuning`
all call it::

    from gradient_hunt.runtime import import_tensorflow, configure
    tf = import_tensorflow()            # before anything else touches TensorFlow
    rt = configure(precision="auto")    # memory growth, mixed precision, XLA, strategy
    print(rt.describe())
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.machinery
import logging
import os
import sys
import tempfile

from gradient_hunt.errors import UserError
from gradient_hunt.precision import GENERIC, cpu_precision

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")
JIT_CHOICES = ("auto", "on", "off")


class RuntimeSettingError(UserError, ValueError):
    """A precision, XLA or strategy setting that cannot be used here."""


@contextlib.contextmanager
def _silenced_stderr():
    """Send the process-level stderr (fd 2) to a temp file; replay it only on failure.

    TensorFlow's C++ side prints oneDNN/CUDA notices before absl logging is initialised,
    so TF_CPP_MIN_LOG_LEVEL cannot hide them; only the file descriptor can.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Import TensorFlow without its wall of start-up log lines (GRADIENT_HUNT_VERBOSE=1 shows them)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    quiet_tensorflow_imports()
    import tensorflow as tf

    return tf


def quiet_tensorflow_imports():
    """Make this process's first `import tensorflow`, whoever asks (Keras too), as quiet as
    import_tensorflow. Each package calls it in its __init__, so `import hunt_tf.train` in a
    notebook, whose first line is `import keras`, prints nothing either."""
    if "tensorflow" in sys.modules or os.environ.get("GRADIENT_HUNT_VERBOSE") == "1":
        return
    # 3 also hides C++ "E" lines that are not errors for us (e.g. grappler remapper notices).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


class _QuietTensorFlowFinder:
    """Finds `tensorflow` where Python would, and hands its loader to _QuietLoader; for any other
    module, or once TensorFlow is loaded, it finds nothing and the finders after it look."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or name in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader:
    """TensorFlow's own loader, run with fd 2 held back (_silenced_stderr); anything else is its."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        if name == "_loader":  # a copy without it: no endless lookup
            raise AttributeError(name)
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _silenced_stderr():
            self._loader.exec_module(module)
        module.get_logger().setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)


def import_keras():
    """Keras, TensorFlow imported quietly first: for code whose first TensorFlow import is Keras'."""
    import_tensorflow()
    import keras

    return keras


def list_gpus():
    """Physical GPUs; the CUDA probe's "failed call to cuInit" on CPU machines is kept quiet."""
    tf = import_tensorflow()
    verbose = os.environ.get("GRADIENT_HUNT_VERBOSE") == "1"
    with contextlib.nullcontext() if verbose else _silenced_stderr():
        return tf.config.list_physical_devices("GPU")


@dataclasses.dataclass
class Runtime:
    """What `configure` decided, to log and to pass on (`jit_compile` to `compile`)."""

    device: str  # "cpu" or "gpu"
    num_gpus: int
    precision: str  # the Keras dtype policy in force
    precision_reason: str  # why: measured, asked for, or the hardware
    jit_compile: bool
    strategy: object  # a tf.distribute.Strategy

    def describe(self) -> str:
        name = type(self.strategy).__name__
        where = f"{self.num_gpus} GPU(s)" if self.num_gpus else "CPU"
        return f"{where}, precision {self.precision} ({self.precision_reason}), XLA {'on' if self.jit_compile else 'off'}, strategy {name}"


def _gpu_supports_float16(tf, gpus) -> bool:
    # Tensor cores (compute capability 7.0+) are what make float16 faster than float32.
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability", (0, 0)) < (7, 0):
            return False
    return bool(gpus)


def choose_precision(requested: str, tf, gpus, probe=None) -> tuple[str, str]:
    """(Keras dtype policy, why): float16 on tensor-core GPUs; on a CPU, whatever measured faster
    (`probe`: the precision.Workload the command will train; see gradient_hunt.precision)."""
    if requested not in PRECISIONS:
        raise RuntimeSettingError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested, "asked for"
    if gpus:
        if _gpu_supports_float16(tf, gpus):
            return "mixed_float16", "tensor-core GPU"
        return "float32", "GPU without tensor cores"
    choice = cpu_precision(probe or GENERIC)
    return str(choice), choice.reason


def check_strategy(name: str) -> None:
    """Refuse a strategy that cannot run here, before a command writes anything."""
    if name not in STRATEGIES:
        raise RuntimeSettingError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    if name == "multi-worker" and not os.environ.get("TF_CONFIG"):
        raise RuntimeSettingError("strategy 'multi-worker' needs the TF_CONFIG environment variable (cluster and task); "
                                  "see the README, 'Across processes and machines'")
    if name == "multi-worker":
        from gradient_hunt.multi_worker import cluster_wait_s

        cluster_wait_s()  # a bad GRADIENT_HUNT_WORKER_WAIT fails here, before anything is written


def make_strategy(name: str, tf):
    check_strategy(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    from gradient_hunt.multi_worker import (  # "multi-worker", the one left
        cluster_deadline,
        cluster_wait_s,
        mend_keras_fit,
    )

    mend_keras_fit()  # Keras 3's fit fails under this strategy as released (see gradient_hunt.multi_worker)
    with cluster_deadline(cluster_wait_s()):  # creating it waits until every worker has started
        return tf.distribute.MultiWorkerMirroredStrategy()


def configure(precision: str = "auto", jit: str = "auto", strategy: str = "default", threads: int = 0,
              probe=None) -> Runtime:
    """Set up devices and the global Keras dtype policy; call once, before building models.

    - GPUs: memory growth on (so two processes can share one), float16 where it has tensor cores.
    - CPU: bfloat16 where a timed probe found it faster on this CPU (gradient_hunt.precision), else float32.
    - XLA: on for GPUs; off on CPU, where it measured slower for these models.
    - threads: CPU threads per op pool (0 = TensorFlow's default, all cores).
    - probe: the precision.Workload for the CPU precision measurement: the model to be trained.
    """
    tf = import_tensorflow()
    import keras

    if threads:  # e.g. one thread per tuning worker, so N workers share N cores fairly
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started in this process: keep its pools
            pass
    gpus = list_gpus()
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier call in this process
            pass
    if jit not in JIT_CHOICES:
        raise RuntimeSettingError(f"unknown jit setting {jit!r}; choose from {', '.join(JIT_CHOICES)}")
    # The strategy before the probe: multi-worker collectives must be set up before any op runs.
    chosen_strategy = make_strategy(strategy, tf)
    if strategy == "multi-worker" and precision == "auto" and not gpus:
        # A timed probe could choose differently on each worker, and their all-reduces must agree.
        policy, reason = "float32", "multi-worker on CPUs: pass --precision to choose another"
    else:
        policy, reason = choose_precision(precision, tf, gpus, probe)
    keras.mixed_precision.set_global_policy(policy)
    jit_compile = bool(gpus) if jit == "auto" else jit == "on"
    return Runtime(
        device="gpu" if gpus else "cpu",
        num_gpus=len(gpus),
        precision=policy,
        precision_reason=reason,
        jit_compile=jit_compile,
        strategy=chosen_strategy,
    )
