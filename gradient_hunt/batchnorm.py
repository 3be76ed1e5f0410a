"""BatchNormalization that runs TensorFlow's fused kernel.

Keras 3's BatchNormalization computes moments and normalises with separate ops, and
upcasts bfloat16/float16 inputs to float32 first: several passes over every activation.
On this project's CPUs (2 cores, AVX512-BF16) that made BatchNorm cost more than the
convolutions of the hunt CNN and of the DCGAN's generator. `FusedBatchNormV3` does it in one
pass with a fused gradient, statistics in float32.

Same weights, same config, same maths as keras.layers.BatchNormalization (the moving
statistics use the biased batch variance, as Keras does). Dense (2-D) inputs run as 1x1 images.
Renorm, masks and synchronized BN use the Keras implementation. Used by the hunt CNN and
the DCGAN generator.
"""

from __future__ import annotations

from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402

# oneDNN's bfloat16/float16 kernel is fast only on channel counts that are a multiple of 16;
# elsewhere it fell to a path 5-8x slower than float32 (forward + backward on an AMX Xeon,
# 64x28x28x24: 29 ms in bfloat16, 3.6 ms in float32, 5.0 ms Keras; 28x28x32: 2.1 ms in
# bfloat16). Those layers normalise in float32, cast in and out.
HALF_PRECISION_CHANNELS = 16


def kernel_dtype(dtype, channels):
    """The dtype FusedBatchNormV3 runs in for inputs of `dtype` with `channels` channels."""
    if dtype in (tf.bfloat16, tf.float16) and channels % HALF_PRECISION_CHANNELS:
        return tf.float32
    return dtype


@keras.saving.register_keras_serializable(package="gradient_hunt")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    def _can_fuse(self, inputs, mask):
        return (mask is None and not self.renorm and not self.synchronized and len(inputs.shape) in (2, 4)
                and self.axis in (-1, len(inputs.shape) - 1) and inputs.dtype in (tf.float32, tf.bfloat16, tf.float16))

    def call(self, inputs, training=None, mask=None):
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        channels = self.moving_mean.shape[0]
        images = inputs if len(inputs.shape) == 4 else tf.reshape(inputs, (-1, 1, 1, channels))
        scale = self.gamma if self.scale else tf.ones((channels,))
        offset = self.beta if self.center else tf.zeros((channels,))
        batch_norm = dict(x=tf.cast(images, kernel_dtype(inputs.dtype, channels)), scale=tf.cast(scale, tf.float32),
                          offset=tf.cast(offset, tf.float32), epsilon=self.epsilon, data_format="NHWC")
        if training and self.trainable:
            empty = tf.zeros((0,), tf.float32)
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                mean=empty, variance=empty, is_training=True, **batch_norm)
            # The kernel reports the unbiased (n-1) variance; Keras' moving variance uses the biased one.
            n = tf.cast(tf.reduce_prod(tf.shape(images)[:3]), tf.float32)
            variance = variance * (n - 1.0) / n
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, *_ = tf.raw_ops.FusedBatchNormV3(
                mean=tf.convert_to_tensor(self.moving_mean), variance=tf.convert_to_tensor(self.moving_variance),
                is_training=False, **batch_norm)
        return tf.cast(tf.reshape(outputs, tf.shape(inputs)), self.compute_dtype)
