"""Choose float32 or bfloat16 on a CPU by measuring, not by reading CPU flags.

    choice = cpu_precision(Workload("hunt 64px b32", lambda: build_model(config, 64, 2), one_step))   # or "float32"
    print(choice, choice.reason)    # "mixed_bfloat16", "bfloat16 measured 1.65x float32 for this model on this CPU"

AVX512-BF16 in /proc/cpuinfo does not mean bfloat16 is faster: on an AMD EPYC it measured
1.46x faster for our DCGAN step, on an Intel Xeon with the same flag 0.63x. And the answer
depends on the model: on one EPYC a tiny generic conv net measured bfloat16 0.90x while
the hunt CNN at 64 px measured 1.65x (and trained about 2x faster in it, BENCHMARKS.md).
So a command times a few training steps of the model it is about to train (a `Workload`)
in both precisions, in this process, and caches the result per CPU model and core count,
TensorFlow version, thread count and workload in ~/.cache/gradient-hunt/precision.json
(seconds, once per machine and model; a few steps only for a big backbone). The workload's
key holds a fingerprint of the built model's layers, so a changed layer is a new entry
without anyone renaming the workload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import platform
import re
import time
from collections.abc import Callable
from typing import Any

from gradient_hunt.atomic import write_json
from gradient_hunt.cache import cache_dir

try:
    import fcntl  # POSIX: one probe at a time per machine
except ImportError:  # Windows: no lock
    fcntl = None

# bfloat16 costs precision; it has to buy at least this much speed to be chosen.
MIN_SPEEDUP = 1.10
PROBE_STEPS = 12


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """True when the CPU has native bfloat16 instructions (AMX or AVX512-BF16): worth measuring."""
    flags = cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cpu_model() -> str:
    for line in cpu_flags().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


class Choice(str):
    """A precision name that also says why it was chosen."""

    reason: str = ""

    def __new__(cls, name, reason=""):
        obj = super().__new__(cls, name)
        obj.reason = reason
        return obj


@dataclasses.dataclass(frozen=True)
class Workload:
    """What a command will train, for the probe: `build()` makes the model under the global
    dtype policy, `step(model)` returns one training step of it. `name` is for people reading
    the cache (what the fingerprint cannot see, such as the batch size, belongs in it)."""

    name: str
    build: Callable[[], Any]
    step: Callable[[Any], Callable[[], Any]]

    def make_step(self):
        return self.step(self.build())


# Configuration keys that change no step's speed: names (numbered per process), dtypes (both
# precisions are timed), initial values, regularisation strengths, seeds and dropout rates. A
# tuned dropout or L2 is then no new measurement.
SPEED_NEUTRAL = re.compile(r"^(name|dtype|seed|rate|layers|input_layers|output_layers)$|_(initializer|regularizer|constraint)$")


def own_code(cls) -> str:
    """A hash of a class's source where it is not Keras' own (our layers, the GAN's train_step):
    a change to what it computes is a new measurement; Keras' own follow its version."""
    if cls.__module__.split(".")[0] == "keras":
        return ""
    try:
        return hashlib.sha1(inspect.getsource(cls).encode()).hexdigest()[:12]
    except (OSError, TypeError):  # defined where no source is kept
        return ""


def fingerprint(model) -> str:
    """A short hash of every layer in `model` (nested models included): its class (and the
    source of a class not from Keras), its configuration less SPEED_NEUTRAL keys (at every
    depth: a wrapper nests its layer's), its weights' shapes, and the model's input shapes and
    Keras version. How the layers are wired is not in it."""
    import keras

    def scrub(value):
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not SPEED_NEUTRAL.search(k)}
        if isinstance(value, (list, tuple)):
            return [scrub(v) for v in value]
        return value

    def layer_record(layer):
        try:
            config = layer.get_config()
        except (NotImplementedError, TypeError):  # a subclassed model without get_config
            config = {}
        return [type(layer).__name__, scrub(config), [list(w.shape) for w in layer.weights], own_code(type(layer))]

    def walk(layer):
        yield layer
        for sub in getattr(layer, "layers", None) or ():
            yield from walk(sub)

    inputs = [list(x.shape) for x in getattr(model, "inputs", None) or ()]
    # An object JSON cannot write stands for its class: its repr would hold a per-process address.
    text = json.dumps([keras.__version__, inputs, [layer_record(layer) for layer in walk(model)]], sort_keys=True,
                      default=lambda o: type(o).__name__)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _generic_model():
    import keras
    from keras import layers

    def block(x, conv, filters):
        x = conv(filters, 3, strides=2, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    inputs = keras.Input((32, 32, 3))
    x = block(block(block(inputs, layers.Conv2D, 32), layers.Conv2D, 64), layers.Conv2DTranspose, 32)
    outputs = layers.Dense(2, dtype="float32")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    return model


def _generic_step(model):
    import numpy as np

    rng = np.random.default_rng(0)
    images, labels = rng.random((32, 32, 32, 3), dtype=np.float32), rng.integers(0, 2, 32)
    return lambda: model.train_on_batch(images, labels)


# A generic step (conv, BatchNorm, transposed conv, Adam, batch 32 at 32x32), for commands
# that name no workload of their own.
GENERIC = Workload("generic b32", _generic_model, _generic_step)


def built_under(policy: str, make):
    """`make()` under the global dtype `policy`, which is then restored."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        return make()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def seconds_per_step(workload: Workload, policy: str, steps: int = PROBE_STEPS) -> float:
    """Median seconds of one training step of `workload`'s model built under `policy`."""
    import numpy as np

    step = built_under(policy, workload.make_step)
    step()  # trace
    start = time.perf_counter()
    step()
    if time.perf_counter() - start > 0.3:  # a big model (a keras.applications backbone): a few steps tell
        steps = 3
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(workload: Workload = GENERIC, rounds: int = 2) -> dict:
    """Interleaved timings of both precisions (best of `rounds`, so a busy moment does not decide)."""
    f32, bf16 = [], []
    for _ in range(rounds):
        f32.append(seconds_per_step(workload, "float32"))
        bf16.append(seconds_per_step(workload, "mixed_bfloat16"))
    return {"float32": min(f32), "mixed_bfloat16": min(bf16)}


def cpu_precision(workload: Workload = GENERIC, measure_fn=None) -> Choice:
    """The faster precision on this CPU for `workload` (the model and step the command will
    train), measured once per CPU model, TensorFlow version, thread count and workload (its
    name and its built model's fingerprint). Call it after TensorFlow's threads are set: it
    builds the model once, in float32, for the fingerprint, also when the answer is cached
    (a fraction of a second for the hunt CNN and the DCGAN, seconds for a large backbone)."""
    if not cpu_has_bf16():
        return Choice("float32", "no bfloat16 instructions on this CPU")
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    model = fingerprint(built_under("float32", workload.build))
    key = f"{cpu_model()} x{os.cpu_count()} | TensorFlow {tf.__version__} | threads {threads} | {workload.name} | {model}"
    path = cache_dir() / "precision.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One probe at a time on a machine: processes started together (tuning workers) would
    # otherwise time each other's contention, and cache that.
    with open(path.with_suffix(".lock"), "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}
        if key not in cache:
            cache[key] = measure_fn() if measure_fn else measure(workload)
            write_json(path, cache)
    timings = cache[key]
    speedup = timings["float32"] / timings["mixed_bfloat16"]
    name = "mixed_bfloat16" if speedup >= MIN_SPEEDUP else "float32"
    return Choice(name, f"bfloat16 measured {speedup:.2f}x float32 for this model on this CPU")
