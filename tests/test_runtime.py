import keras
import numpy as np
import pytest

from gan_tf import runtime
from tests.test_gan_model import real_batch, tiny_gan


def test_precision_policy_follows_the_hardware(monkeypatch):
    tf = runtime.import_tensorflow()
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert runtime.choose_precision("auto", tf, gpus=[]) == "mixed_bfloat16"
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert runtime.choose_precision("auto", tf, gpus=[]) == "float32"
    monkeypatch.setattr(runtime, "_gpu_supports_float16", lambda tf, gpus: True)
    assert runtime.choose_precision("auto", tf, gpus=["gpu0"]) == "mixed_float16"
    assert runtime.choose_precision("float32", tf, gpus=["gpu0"]) == "float32"  # a flag overrides
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        runtime.choose_precision("fp8", tf, gpus=[])


def test_xla_is_off_on_cpu_unless_asked(monkeypatch):
    assert runtime.configure("float32").jit_compile is False
    assert runtime.configure("float32", jit="on").jit_compile is True
    with pytest.raises(ValueError, match="unknown jit setting"):
        runtime.configure("float32", jit="maybe")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        runtime.configure("float32", strategy="multi-worker")
    with pytest.raises(ValueError, match="unknown strategy 'ring'"):
        runtime.configure("float32", strategy="ring")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_gan_trains_under_mixed_precision(policy):
    keras.mixed_precision.set_global_policy(policy)
    gan = tiny_gan()
    wrapped = isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert wrapped == (policy == "mixed_float16")  # both optimizers, not just model.optimizer
    assert wrapped == isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    history = gan.fit(real_batch(16), batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert gan.generator.layers[-1].compute_dtype == "float32"  # the image leaves in float32
