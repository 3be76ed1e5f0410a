import json
import os

import keras
import numpy as np
import pytest

from gradient_hunt import precision, runtime
from tests.test_gan_model import real_batch, tiny_gan


def test_cpu_precision_follows_the_measurement_not_the_cpu_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "slow"))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)  # the flag says bfloat16...
    probes = []
    slow_bf16 = lambda: probes.append(1) or {"float32": 1.0, "mixed_bfloat16": 1.5}  # noqa: E731
    choice = precision.cpu_precision(measure_fn=slow_bf16)  # ...the measurement says no (this machine's Xeon)
    assert choice == "float32" and "0.67x" in choice.reason
    assert precision.cpu_precision(measure_fn=slow_bf16) == "float32" and len(probes) == 1  # measured once, then cached
    cached = json.loads((tmp_path / "slow" / "gradient-hunt" / "precision.json").read_text())
    tf_version = runtime.import_tensorflow().__version__
    assert list(cached)[0].startswith(f"{precision.cpu_model()} x{os.cpu_count()} | TensorFlow {tf_version} | threads")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fast"))
    assert precision.cpu_precision(measure_fn=lambda: {"float32": 1.5, "mixed_bfloat16": 1.0}) == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)  # no instructions: nothing to measure
    assert precision.cpu_precision(measure_fn=lambda: pytest.fail("measured a CPU without bfloat16")) == "float32"


def test_precision_policy_asked_for_wins_and_gpus_use_float16(monkeypatch):
    tf = runtime.import_tensorflow()
    monkeypatch.setattr(runtime, "cpu_precision", lambda workload: precision.Choice("float32", "measured"))
    assert runtime.choose_precision("auto", tf, gpus=[]) == ("float32", "measured")
    monkeypatch.setattr(runtime, "_gpu_supports_float16", lambda tf, gpus: True)
    assert runtime.choose_precision("auto", tf, gpus=["gpu0"])[0] == "mixed_float16"
    assert runtime.choose_precision("float32", tf, gpus=["gpu0"]) == ("float32", "asked for")
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        runtime.choose_precision("fp8", tf, gpus=[])


def test_the_probe_times_both_precisions_of_the_model_to_be_trained(monkeypatch, tmp_path):
    from hunt_tf.config import HuntConfig
    from hunt_tf.model import precision_probe

    timings = precision.measure(rounds=1)  # the generic step
    assert set(timings) == {"float32", "mixed_bfloat16"} and all(0 < t < 5 for t in timings.values())
    workload = precision_probe(HuntConfig(filters=4, depth=1, batch_size=4), image_size=16, num_classes=2)
    assert workload.name == "hunt 16px b4"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    precision.cpu_precision(workload)
    cached = json.loads((tmp_path / "gradient-hunt" / "precision.json").read_text())
    (key, timed), = cached.items()
    assert f"| {workload.name} | " in key and all(0 < t < 5 for t in timed.values())
    assert keras.mixed_precision.global_policy().name == "float32"  # the probe leaves the policy as it was


def test_a_changed_layer_is_measured_again_under_the_same_workload_name(monkeypatch, tmp_path):
    from hunt_tf.config import HuntConfig
    from hunt_tf.model import precision_probe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    measured = []
    timings = lambda: measured.append(1) or {"float32": 1.0, "mixed_bfloat16": 1.0}  # noqa: E731

    def probe(**changes):
        return precision_probe(HuntConfig(filters=4, depth=1, batch_size=4, **changes), image_size=16, num_classes=2)

    for workload in (probe(), probe(), probe(batchnorm=False), probe(kernel_size=5)):
        precision.cpu_precision(workload, measure_fn=timings)
    assert len({probe().name, probe(batchnorm=False).name, probe(kernel_size=5).name}) == 1  # one name...
    assert len(measured) == 3  # ...three models: the same one measured once, each change measured anew
    for neutral in (probe(dropout=0.1), probe(l2=0.0)):  # a tuned rate or penalty times the same
        precision.cpu_precision(neutral, measure_fn=timings)
    assert len(measured) == 3


def test_a_fingerprint_does_not_follow_the_names_a_process_has_handed_out():
    from gan_tf.config import GANConfig
    from gan_tf.train import precision_probe

    # Spectral normalisation wraps each conv: the wrapper's config nests its layer's, auto-named
    # conv2d_N from a per-process counter, so a second build must not read differently.
    workload = precision_probe(GANConfig(width=4, latent_dim=8, batch_size=8, spectral_norm=True))
    first, second = (precision.fingerprint(workload.build()) for _ in range(2))
    assert first == second
    assert first != precision.fingerprint(precision_probe(GANConfig(width=4, latent_dim=8, batch_size=8)).build())


def test_a_layer_of_ours_whose_code_changed_is_a_new_fingerprint():
    def model_with(layer_class):
        inputs = keras.Input((4,))
        return keras.Model(inputs, layer_class()(inputs))

    def before():
        class Scale(keras.layers.Layer):
            def call(self, x):
                return x * 2.0
        return Scale

    def after():
        class Scale(keras.layers.Layer):  # the same name and config; what it computes changed
            def call(self, x):
                return keras.ops.exp(x) * 2.0
        return Scale

    assert precision.fingerprint(model_with(before())) == precision.fingerprint(model_with(before()))
    assert precision.fingerprint(model_with(before())) != precision.fingerprint(model_with(after()))


def test_a_models_fingerprint_is_the_same_in_every_process():
    import subprocess
    import sys

    code = ("from gan_tf.config import GANConfig; from gan_tf.train import precision_probe; "
            "from gradient_hunt.precision import fingerprint; "
            "print(fingerprint(precision_probe(GANConfig(width=4, latent_dim=8, batch_size=8)).build()))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    prints = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
              .stdout.split()[-1] for _ in range(2)]
    assert prints[0] == prints[1] and len(prints[0]) == 12


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


def test_importing_any_package_module_keeps_tensorflow_start_up_lines_off_stderr():
    # A notebook imports modules whose first line is `import keras`: each package's __init__ makes
    # that first TensorFlow import as quiet as the CLIs', and TensorFlow still loads and works.
    from tests.conftest import fresh_python

    # A library that only asks where TensorFlow is (find_spec, no import) must not use the hook up.
    done = fresh_python("import importlib.util, gradient_hunt; assert importlib.util.find_spec('tensorflow'); "
                        "import sys, hunt_tf.train, gan_tf.gan, tuning.hypermodel, gradient_hunt.nan_guard; "
                        "import tensorflow as tf; assert tf.reduce_sum(tf.ones(3)).numpy() == 3; print('ok')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok" and done.stderr == ""
