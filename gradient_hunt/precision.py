"""Choose float32 or bfloat16 on a CPU by measuring, not by reading CPU flags.

    choice = cpu_precision("hunt cnn 64px", make_step)   # "mixed_bfloat16" or "float32", with .reason
    print(choice, choice.reason)    # "mixed_bfloat16", "bfloat16 measured 1.65x float32 for this model on this CPU"

AVX512-BF16 in /proc/cpuinfo does not mean bfloat16 is faster: on an AMD EPYC it measured
1.46x faster for our DCGAN step, on an Intel Xeon with the same flag 0.63x. And the answer
depends on the model: on one EPYC a tiny generic conv net measured bfloat16 0.90x while
the hunt CNN at 64 px measured 1.65x (and trained about 2x faster in it, BENCHMARKS.md).
So a command times a few training steps of the model it is about to train (`make_step`,
named by `workload`) in both precisions, in this process, and caches the result per CPU
model and core count, TensorFlow version, thread count and workload in
~/.cache/gradient-hunt/precision.json (seconds, once per machine and model; a few steps
only for a big backbone).
"""

from __future__ import annotations

import json
import os
import platform
import time

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


def small_conv_step():
    """A generic step (conv, BatchNorm, transposed conv, Adam, batch 32 at 32x32), under the
    global dtype policy; for commands that name no workload of their own."""
    import keras
    import numpy as np
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
    rng = np.random.default_rng(0)
    images, labels = rng.random((32, 32, 32, 3), dtype=np.float32), rng.integers(0, 2, 32)
    return lambda: model.train_on_batch(images, labels)


def seconds_per_step(make_step, policy: str, steps: int = PROBE_STEPS) -> float:
    """Median seconds of one call of the step that `make_step()` builds under `policy`."""
    import keras
    import numpy as np

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        step = make_step()
    finally:
        keras.mixed_precision.set_global_policy(previous)
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


def measure(make_step=small_conv_step, rounds: int = 2) -> dict:
    """Interleaved timings of both precisions (best of `rounds`, so a busy moment does not decide)."""
    f32, bf16 = [], []
    for _ in range(rounds):
        f32.append(seconds_per_step(make_step, "float32"))
        bf16.append(seconds_per_step(make_step, "mixed_bfloat16"))
    return {"float32": min(f32), "mixed_bfloat16": min(bf16)}


def cpu_precision(workload: str = "generic", make_step=None, measure_fn=None) -> Choice:
    """The faster precision on this CPU for `workload` (a name for what `make_step` builds: the
    model and shapes the command will train), measured once per CPU model, TensorFlow version,
    thread count and workload."""
    if not cpu_has_bf16():
        return Choice("float32", "no bfloat16 instructions on this CPU")
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    key = f"{cpu_model()} x{os.cpu_count()} | TensorFlow {tf.__version__} | threads {threads} | {workload}"
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
            cache[key] = measure_fn() if measure_fn else measure(make_step or small_conv_step)
            write_json(path, cache)
    timings = cache[key]
    speedup = timings["float32"] / timings["mixed_bfloat16"]
    name = "mixed_bfloat16" if speedup >= MIN_SPEEDUP else "float32"
    return Choice(name, f"bfloat16 measured {speedup:.2f}x float32 for this model on this CPU")
