"""GAN(keras.Model): a generator and a discriminator trained against each other by `fit`.

    gan = GAN(generator, discriminator, latent_dim=64, augment="translation,cutout")
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                loss="bce", r1_weight=0.0)
    gan.fit(dataset, epochs=20)          # dataset yields images, or (images, labels)
    digits = gan.generate(16)            # uint8, (16, H, W, C)

The options a GAN user reaches for are arguments, not rewrites of `train_step`:
- `loss`: "bce" (non-saturating, Goodfellow et al. 2014) or "hinge" (Lim & Ye 2017; Miyato et al. 2018).
- `r1_weight`: gamma of the R1 penalty, gamma/2 * E||grad_x D(x_real)||^2 (Mescheder et al. 2018); 0 = off.
- `augment`: a DiffAugment policy (gan_tf/augment.py) for every image the discriminator sees.
- `ada_target`: > 0 adapts the augmentation probability p as ADA does (Karras et al. 2020):
  r_t = E[sign(D(x_real))] (0 when D cannot tell, 1 when it is sure of every real image) is
  held near the target.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from gan_tf.augment import DiffAugment
from gan_tf.config import LOSSES
from gan_tf.errors import SampleError
from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()


# ADA moves p by batch/ADA_SPEED_IMAGES per step, so p can cross 0..1 in 20k images: a few
# epochs of a 5k-image set (the paper's 500k images suit its longer runs).
ADA_SPEED_IMAGES = 20_000


def discriminator_losses(loss, real_logits, fake_logits, label_smoothing=0.0):
    """Per-image discriminator loss (B,): real should score high, fake low."""
    if loss == "hinge":
        return ops.relu(1.0 - real_logits)[:, 0] + ops.relu(1.0 + fake_logits)[:, 0]
    # One-sided label smoothing: real targets are 1 - s, which keeps D from saturating.
    real_targets = ops.ones_like(real_logits) * (1.0 - label_smoothing)
    return (keras.losses.binary_crossentropy(real_targets, real_logits, from_logits=True)
            + keras.losses.binary_crossentropy(ops.zeros_like(fake_logits), fake_logits, from_logits=True))


def generator_losses(loss, fooled_logits):
    """Per-image generator loss (B,): non-saturating BCE, or the hinge GAN's -D(G(z))."""
    if loss == "hinge":
        return -fooled_logits[:, 0]
    return keras.losses.binary_crossentropy(ops.ones_like(fooled_logits), fooled_logits, from_logits=True)


@keras.saving.register_keras_serializable(package="gan_tf")
class GAN(keras.Model):
    def __init__(self, generator, discriminator, latent_dim, num_classes=0, seed=None, ema_decay=0.0,
                 augment="none", ada_target=0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.num_classes = num_classes  # > 0: conditional on digit labels
        self.seed = seed
        # A slowly moving average of the generator's weights draws cleaner samples than the
        # generator itself, whose weights jitter with every adversarial step (0 turns it off).
        self.ema_decay = ema_decay
        self.ema_generator = None
        if ema_decay:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        # Held by the model so latent noise is reproducible and checkpointed with it.
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.augment_policy = augment
        self.ada_target = ada_target
        self.augment = DiffAugment(augment, seed=None if seed is None else seed + 1)
        # Fixed at 1 (DiffAugment) unless ADA adapts it, starting from 0 as in the paper.
        self.augment_probability = keras.Variable(0.0 if ada_target else 1.0, trainable=False, dtype="float32",
                                                  aggregation="mean", name="augment_probability")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_accuracy = keras.metrics.BinaryAccuracy(name="d_real_acc", threshold=0.0)
        self.d_fake_accuracy = keras.metrics.BinaryAccuracy(name="d_fake_acc", threshold=0.0)
        self.r1_tracker = keras.metrics.Mean(name="r1")
        # Functional sub-networks arrive built, so the GAN is too (and saves without a warning).
        self.built = generator.built and discriminator.built

    def compile(self, d_optimizer, g_optimizer, loss="bce", label_smoothing=0.1, r1_weight=0.0, **kwargs):
        # No optimizer for the parent: each network has its own, below.
        super().compile(optimizer=None, **kwargs)
        if self.dtype_policy.name == "mixed_float16":
            # Keras only wraps `model.optimizer`; ours need loss scaling too.
            d_optimizer, g_optimizer = (
                opt if isinstance(opt, keras.optimizers.LossScaleOptimizer) else keras.optimizers.LossScaleOptimizer(opt)
                for opt in (d_optimizer, g_optimizer)
            )
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        if loss not in LOSSES:
            raise ValueError(f"unknown GAN loss {loss!r}; choose from {', '.join(LOSSES)}")
        self.gan_loss = loss
        self.label_smoothing = label_smoothing if loss == "bce" else 0.0  # hinge has no targets to smooth
        self.r1_weight = r1_weight

    @property
    def metrics(self):
        # Listed here so that `fit` resets them at the start of every epoch.
        metrics = [self.d_loss_tracker, self.g_loss_tracker, self.d_real_accuracy, self.d_fake_accuracy]
        return metrics + ([self.r1_tracker] if getattr(self, "r1_weight", 0.0) else [])

    def call(self, inputs, training=False):
        return self.sampler(inputs, training=training)

    def _generator_inputs(self, batch_size, labels=None):
        # Every replica draws the noise of the global batch and keeps its own slice: replicas then
        # see different fakes (not one draw each), and the step is one process's with the whole batch.
        context = tf.distribute.get_replica_context()
        replicas, me = (context.num_replicas_in_sync, context.replica_id_in_sync_group) if context else (1, 0)

        def mine(drawn):
            return drawn if replicas == 1 else drawn[me * batch_size : (me + 1) * batch_size]

        random_latent_vectors = mine(keras.random.normal((replicas * batch_size, self.latent_dim),
                                                         seed=self.seed_generator))
        if not self.num_classes:
            return random_latent_vectors
        if labels is None:
            labels = mine(keras.random.randint((replicas * batch_size, 1), 0, self.num_classes,
                                               seed=self.seed_generator))
        return [random_latent_vectors, ops.reshape(ops.cast(labels, "int32"), (batch_size, 1))]

    def _discriminate(self, images, labels, training):
        inputs = [images, labels] if self.num_classes else images
        return self.discriminator(inputs, training=training)

    def _augmented(self, images):
        return self.augment(images, self.augment_probability) if self.augment else images

    def train_step(self, data):
        # fit gives images (or images, labels); train_on_batch gives (images, labels or None, None).
        real_images, real_labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = ops.shape(real_images)[0]
        if self.num_classes:
            real_labels = ops.reshape(ops.cast(real_labels, "int32"), (batch_size, 1))
        # Keras divides a loss by the replica count under tf.distribute so that summed gradients
        # average; ours do the same, and the reported values undo it.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync

        # 1. Draw fakes; for a conditional GAN they ask for the same digits as the real batch.
        # (Reused in step 3 they save a generator pass, but measured worse: BENCHMARKS.md, session 8.)
        fake_images = self.generator(self._generator_inputs(batch_size, real_labels), training=True)
        d_loss, real_logits, fake_logits, r1 = self._discriminator_step(real_images, real_labels, fake_images, replicas)

        # 3. Train the generator on new fakes, augmented the same way, scored as "real" by D.
        fake_inputs = self._generator_inputs(batch_size)
        fake_labels = fake_inputs[1] if self.num_classes else None
        with tf.GradientTape() as tape:
            fakes = self.generator(fake_inputs, training=True)
            g_loss, scaled_g_loss = self._generator_objective(fakes, fake_labels, replicas)
        self._apply(self.g_optimizer, tape, scaled_g_loss, self.generator.trainable_weights)
        if self.ema_generator is not None:
            self._update_ema()
        if self.ada_target:
            self._adapt_augmentation(real_logits, batch_size)

        # 4. Report.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_accuracy.update_state(ops.ones_like(real_logits), real_logits)
        self.d_fake_accuracy.update_state(ops.zeros_like(fake_logits), fake_logits)
        if self.r1_weight:
            self.r1_tracker.update_state(r1)
        logs = {m.name: m.result() for m in self.metrics}
        if self.augment:
            logs["augment_p"] = ops.convert_to_tensor(self.augment_probability)
        return logs

    def _discriminator_step(self, real_images, real_labels, fake_images, replicas):
        """2. One discriminator update on augmented real and fake images (the same policy for both)."""
        with tf.GradientTape() as tape:
            real_seen, fake_seen = self._augmented(real_images), self._augmented(fake_images)
            if self.r1_weight:
                with tf.GradientTape() as r1_tape:
                    r1_tape.watch(real_seen)
                    real_logits = self._discriminate(real_seen, real_labels, training=True)
                    summed = ops.sum(ops.cast(real_logits, "float32"))  # inside: the tape must see the sum
                slopes = r1_tape.gradient(summed, real_seen)
                r1 = ops.mean(ops.sum(ops.square(ops.cast(slopes, "float32")), axis=(1, 2, 3)))
            else:
                real_logits = self._discriminate(real_seen, real_labels, training=True)
                r1 = 0.0
            fake_logits = self._discriminate(fake_seen, real_labels, training=True)
            d_loss = ops.mean(discriminator_losses(self.gan_loss, real_logits, fake_logits, self.label_smoothing))
            d_objective = (d_loss + 0.5 * self.r1_weight * r1) / replicas
            # Scaled inside the tape so the tape sees it; the identity unless loss scaling is on (float16).
            scaled_d_loss = self.d_optimizer.scale_loss(d_objective)
        self._apply(self.d_optimizer, tape, scaled_d_loss, self.discriminator.trainable_weights)
        return d_loss, real_logits, fake_logits, r1

    def _generator_objective(self, fakes, labels, replicas):
        """(loss, scaled loss) of the generator: its fakes, augmented as D's inputs are, scored as real."""
        fooled_logits = self._discriminate(self._augmented(fakes), labels, training=True)
        g_loss = ops.mean(generator_losses(self.gan_loss, fooled_logits))
        return g_loss, self.g_optimizer.scale_loss(g_loss / replicas)

    def _adapt_augmentation(self, real_logits, batch_size):
        # ADA's overfitting signal r_t = E[sign(D(x_real))]: near 1 when D is sure of every real
        # image (memorised), near 0 when it cannot tell. Above the target: more augmentation.
        overfit = ops.mean(ops.sign(ops.cast(real_logits, "float32")))
        step = ops.cast(batch_size, "float32") / ADA_SPEED_IMAGES
        p = self.augment_probability + ops.sign(overfit - self.ada_target) * step
        self.augment_probability.assign(ops.clip(p, 0.0, 1.0))

    def _update_ema(self):
        # Warm-up: early on the average follows closely, so it never lags far behind.
        step = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        # All weights, BatchNorm's moving statistics included.
        for average, current in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(decay * average + (1.0 - decay) * ops.cast(current, average.dtype))

    @property
    def sampler(self):
        """The network to draw samples with: the weight average when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    @staticmethod
    def _apply(optimizer, tape, scaled_loss, variables):
        # A LossScaleOptimizer unscales the gradients and skips non-finite steps itself.
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))

    def generate(self, n, digits=None, seed=None, batch_size=500):
        """n samples as uint8 (n, H, W, C); `digits` picks the labels of a conditional GAN."""
        return generate_images(self.sampler, self.latent_dim, self.num_classes, n, digits, seed, batch_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            latent_dim=self.latent_dim,
            num_classes=self.num_classes,
            seed=self.seed,
            ema_decay=self.ema_decay,
            augment=self.augment_policy,
            ada_target=self.ada_target,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def conditional_classes(generator):
    """How many labels a generator is conditioned on (0 for an unconditional one)."""
    embeddings = [layer for layer in generator.layers if isinstance(layer, keras.layers.Embedding)]
    return embeddings[0].input_dim if embeddings else 0


def latent_noise(n, latent_dim, seed):
    """Fixed, reproducible latent vectors (numpy), e.g. for the per-epoch sample grid."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def generate_images(generator, latent_dim, num_classes, n, digits=None, seed=None, batch_size=500):
    """Run a generator on seeded noise and return uint8 images (n, H, W, C)."""
    z = latent_noise(n, latent_dim, seed)
    if num_classes:
        if digits is None:
            digits = np.arange(n) % num_classes
        labels = np.broadcast_to(np.asarray(digits, dtype="int32"), (n,)).reshape(n, 1)
        if labels.min() < 0 or labels.max() >= num_classes:
            raise SampleError(f"digit must be in 0..{num_classes - 1}")
        inputs = [z, labels]
    elif digits is not None:
        raise SampleError("this generator is not conditional: it cannot draw a chosen digit")
    else:
        inputs = z
    if isinstance(generator.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # `predict` would split the batches across workers (each would get its share) and wait
        # for the others; a plain call per batch draws all n here, with no collective.
        images = np.concatenate([np.asarray(generator(keras.tree.map_structure(lambda x, i=i: x[i : i + batch_size],
                                                                                inputs), training=False))
                                 for i in range(0, n, batch_size)])
    else:
        images = generator.predict(inputs, batch_size=batch_size, verbose=0)
    return to_uint8(images)


def to_uint8(images):
    """[-1, 1] floats -> uint8 0..255."""
    return np.clip(np.rint((np.asarray(images, dtype="float32") + 1.0) * 127.5), 0, 255).astype("uint8")
