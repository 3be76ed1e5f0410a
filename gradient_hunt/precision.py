"""Choose float32 or bfloat16 on a CPU by measuring, not by reading CPU flags.

    choice = cpu_precision()        # "mixed_bfloat16" or "float32", with .reason
    print(choice, choice.reason)    # e.g. "float32 (bfloat16 measured 0.71x on this CPU)"

AVX512-BF16 in /proc/cpuinfo does not mean bfloat16 is faster: on an AMD EPYC it measured
1.46x faster for our DCGAN step, on an Intel Xeon with the same flag 0.63x. So the first
command on a machine times a short representative training step (conv, BatchNorm,
transposed conv, Adam) in both precisions, in this process, and caches the result per
CPU model and TensorFlow version in ~/.cache/gradient-hunt/precision.json (a few seconds, once).
"""

from __future__ import annotations

import fcntl
import json
import platform
import time

from gradient_hunt.atomic import write_json
from gradient_hunt.cache import cache_dir

# bfloat16 costs precision; it has to buy at least this much speed to be chosen.
MIN_SPEEDUP = 1.10
PROBE_BATCH, PROBE_SIZE, PROBE_STEPS = 32, 32, 12


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


def seconds_per_step(policy: str, steps: int = PROBE_STEPS) -> float:
    """Median seconds of one training step of a small conv/BatchNorm/transposed-conv net."""
    import keras
    import numpy as np
    from keras import layers

    def block(x, conv, filters):
        x = conv(filters, 3, strides=2, padding="same", use_bias=False, dtype=policy)(x)
        x = layers.BatchNormalization(dtype=policy)(x)
        return layers.ReLU(dtype=policy)(x)

    inputs = keras.Input((PROBE_SIZE, PROBE_SIZE, 3))
    x = block(inputs, layers.Conv2D, 32)
    x = block(x, layers.Conv2D, 64)
    x = block(x, layers.Conv2DTranspose, 32)
    x = layers.GlobalAveragePooling2D(dtype=policy)(x)
    outputs = layers.Dense(2, dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    rng = np.random.default_rng(0)
    images = rng.random((PROBE_BATCH, PROBE_SIZE, PROBE_SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, 2, PROBE_BATCH)
    for _ in range(3):  # trace and warm up
        model.train_on_batch(images, labels)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(images, labels)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(rounds: int = 2) -> dict:
    """Interleaved timings of both precisions (best of `rounds`, so a busy moment does not decide)."""
    f32, bf16 = [], []
    for _ in range(rounds):
        f32.append(seconds_per_step("float32"))
        bf16.append(seconds_per_step("mixed_bfloat16"))
    return {"float32": min(f32), "mixed_bfloat16": min(bf16)}


def cpu_precision(measure_fn=measure) -> Choice:
    """The faster precision on this CPU, measured once per CPU model and TensorFlow version."""
    if not cpu_has_bf16():
        return Choice("float32", "no bfloat16 instructions on this CPU")
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    key = f"{cpu_model()} | TensorFlow {tf.__version__} | threads {threads}"
    path = cache_dir() / "precision.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One probe at a time on a machine: processes started together (tuning workers) would
    # otherwise time each other's contention, and cache that.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}
        if key not in cache:
            cache[key] = measure_fn()
            write_json(path, cache)
    timings = cache[key]
    speedup = timings["float32"] / timings["mixed_bfloat16"]
    name = "mixed_bfloat16" if speedup >= MIN_SPEEDUP else "float32"
    return Choice(name, f"bfloat16 measured {speedup:.2f}x float32 on this CPU")
