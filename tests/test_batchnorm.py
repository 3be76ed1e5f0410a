import keras
import numpy as np
import pytest
import tensorflow as tf

from gradient_hunt.batchnorm import FusedBatchNormalization, kernel_dtype


def twin_layers(shape, momentum=0.9):
    """A Keras BatchNormalization and a fused one with the same (non-trivial) weights."""
    rng = np.random.default_rng(1)
    keras_bn, fused_bn = keras.layers.BatchNormalization(momentum=momentum), FusedBatchNormalization(momentum=momentum)
    for layer in (keras_bn, fused_bn):
        layer.build(shape)
    gamma, beta = rng.uniform(0.5, 1.5, shape[-1]), rng.uniform(-1, 1, shape[-1])
    for layer in (keras_bn, fused_bn):
        layer.gamma.assign(gamma.astype("float32"))
        layer.beta.assign(beta.astype("float32"))
    return keras_bn, fused_bn


@pytest.mark.parametrize("shape", [(4, 5, 5, 6), (12, 7)])  # images, and a Dense layer's output
def test_fused_matches_keras_batchnorm_in_training_inference_and_gradients(shape):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
    keras_bn, fused_bn = twin_layers(x.shape)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss_keras = tf.reduce_sum(keras_bn(x, training=True) ** 2)
        loss_fused = tf.reduce_sum(fused_bn(x, training=True) ** 2)
    np.testing.assert_allclose(loss_fused, loss_keras, rtol=1e-5)
    # The moving statistics follow Keras' update (biased batch variance), not the kernel's own.
    np.testing.assert_allclose(fused_bn.moving_mean, keras_bn.moving_mean, atol=1e-6)
    np.testing.assert_allclose(fused_bn.moving_variance, keras_bn.moving_variance, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss_fused, x), tape.gradient(loss_keras, x), atol=1e-4)
    np.testing.assert_allclose(tape.gradient(loss_fused, fused_bn.gamma), tape.gradient(loss_keras, keras_bn.gamma),
                               rtol=1e-4)
    np.testing.assert_allclose(fused_bn(x, training=False), keras_bn(x, training=False), atol=1e-5)


def test_fused_runs_in_bfloat16_with_float32_statistics():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = FusedBatchNormalization()
    y = layer(tf.random.normal((2, 4, 4, 16)), training=True)
    assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == "float32"


def test_the_kernel_runs_in_float32_where_half_precision_is_slow():
    assert kernel_dtype(tf.bfloat16, 32) == tf.bfloat16 and kernel_dtype(tf.float16, 4704) == tf.float16
    assert kernel_dtype(tf.bfloat16, 24) == tf.float32 and kernel_dtype(tf.float16, 3) == tf.float32
    assert kernel_dtype(tf.float32, 24) == tf.float32


def fused_kernel_dtypes(layer, shape, dtype):
    """The dtypes the FusedBatchNormV3 ops of one traced training call run in (empty: Keras' own ops)."""
    traced = tf.function(lambda x: layer(x, training=True)).get_concrete_function(tf.TensorSpec(shape, dtype))
    return [op.get_attr("T") for op in traced.graph.get_operations() if op.type == "FusedBatchNormV3"]


@pytest.mark.parametrize("shape,kernel", [((8, 3, 3, 24), tf.float32), ((8, 3, 3, 32), tf.bfloat16),
                                          ((16, 40), tf.float32), ((16, 48), tf.bfloat16)])
def test_bfloat16_inputs_run_the_fused_kernel_in_the_dtype_the_channels_decide(shape, kernel):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = FusedBatchNormalization()
    layer.build(shape)
    assert fused_kernel_dtypes(layer, shape, tf.bfloat16) == [kernel]


@pytest.mark.parametrize("shape", [(8, 3, 3, 24), (8, 3, 3, 32), (16, 40), (16, 48)])
def test_fused_matches_keras_in_bfloat16_whatever_the_kernel_dtype_and_on_dense_inputs(shape):
    # 24 and 40 channels normalise in float32, 32 and 48 in bfloat16; 2-D is a Dense layer's output.
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x = tf.constant(np.random.default_rng(0).normal(1.0, 2.0, shape).astype("float32"))
    keras_bn, fused_bn = twin_layers(shape)
    fused, expected = fused_bn(x, training=True), keras_bn(x, training=True)
    assert fused.dtype == tf.bfloat16 and fused.shape == shape
    np.testing.assert_allclose(tf.cast(fused, tf.float32), tf.cast(expected, tf.float32), atol=0.05)
    np.testing.assert_allclose(fused_bn.moving_mean, keras_bn.moving_mean, atol=1e-2)
    np.testing.assert_allclose(fused_bn.moving_variance, keras_bn.moving_variance, rtol=2e-2)
    np.testing.assert_allclose(tf.cast(fused_bn(x, training=False), tf.float32),
                               tf.cast(keras_bn(x, training=False), tf.float32), atol=0.05)


@pytest.mark.parametrize("scale,center", [(False, True), (True, False)])
def test_fused_without_scale_or_center_and_round_trips_through_a_saved_model(tmp_path, scale, center):
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, FusedBatchNormalization(scale=scale, center=center)(inputs))
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype("float32")
    model(x, training=True)  # moves the statistics
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[-1], FusedBatchNormalization)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
