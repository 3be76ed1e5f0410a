"""BatchNormalization that runs TensorFlow's fused kernel on image tensors.

Keras 3's BatchNormalization computes moments and normalises with separate ops, and
upcasts bfloat16/float16 inputs to float32 first: several passes over every activation.
On this project's CPU (2 cores, AVX512-BF16) that made BatchNorm cost more than the
convolutions of the hunt CNN, and erased the whole bfloat16 speed-up. `FusedBatchNormV3` does it in one
pass, in the input's own dtype (statistics in float32), with a fused gradient.

Same weights, same config, same maths as keras.layers.BatchNormalization (the moving
statistics use the biased batch variance, as Keras does); inputs that are not 4-D
channels-last, renorm, masks and synchronized BN use the Keras implementation.
"""

from __future__ import annotations

from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402


@keras.saving.register_keras_serializable(package="gradient_hunt")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    def _can_fuse(self, inputs, mask):
        return (mask is None and not self.renorm and not self.synchronized and len(inputs.shape) == 4
                and self.axis in (-1, 3) and inputs.dtype in (tf.float32, tf.bfloat16, tf.float16))

    def call(self, inputs, training=None, mask=None):
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        channels = self.moving_mean.shape[0]
        scale = self.gamma if self.scale else tf.ones((channels,))
        offset = self.beta if self.center else tf.zeros((channels,))
        batch_norm = dict(x=inputs, scale=tf.cast(scale, tf.float32), offset=tf.cast(offset, tf.float32),
                          epsilon=self.epsilon, data_format="NHWC")
        if training and self.trainable:
            empty = tf.zeros((0,), tf.float32)
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                mean=empty, variance=empty, is_training=True, **batch_norm)
            # The kernel reports the unbiased (n-1) variance; Keras' moving variance uses the biased one.
            n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), tf.float32)
            variance = variance * (n - 1.0) / n
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, *_ = tf.raw_ops.FusedBatchNormV3(
                mean=tf.convert_to_tensor(self.moving_mean), variance=tf.convert_to_tensor(self.moving_variance),
                is_training=False, **batch_norm)
        return tf.cast(outputs, self.compute_dtype)
