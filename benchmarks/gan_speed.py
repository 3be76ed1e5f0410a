"""DCGAN speed and time-to-quality, ours vs a reference loop written after the TensorFlow
DCGAN tutorial (tensorflow.org/tutorials/generative/dcgan), on the same machine, in one run.

    .venv/bin/python benchmarks/gan_speed.py                 # throughput + time-to-quality
    .venv/bin/python benchmarks/gan_speed.py --budget 300    # seconds of training per model

1. Throughput: train-step images/second, same batch size, float32 and mixed_bfloat16, for
   ours with make gan's defaults and ours unconditional, each against the reference.
2. Time-to-quality (same precision, same batch size, same data, same wall budget each): the
   Frechet classifier distance (shipped judge A) after every epoch; the threshold is 2x the
   distance the reference loop reaches at the end of the budget, and each model's time is the
   training seconds until it first falls below that, for our DCGAN with make gan's defaults
   (conditional on the labels), ours without the labels (as the tutorial trains), and the reference.
The reference loop is written here from the tutorial's description (its networks, Adam
1e-4, noise 100, one tf.function step with two tapes), not imported from anywhere.
"""

from __future__ import annotations

import argparse
import time

from gradient_hunt.runtime import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402
from keras import layers  # noqa: E402

from gan_tf import datasets, train  # noqa: E402
from gan_tf.config import GANConfig  # noqa: E402
from gan_tf.gan import generate_images  # noqa: E402
from gan_tf.quality import Judge  # noqa: E402
from gradient_hunt.atomic import write_json  # noqa: E402
from gradient_hunt.runtime import configure  # noqa: E402

THRESHOLD_FACTOR = 2.0  # "quality" = within 2x the reference loop's final distance


class TutorialDCGAN:
    """The TensorFlow tutorial's DCGAN, as a plain loop: its networks and its train step."""

    latent_dim = 100

    def __init__(self):
        self.generator = keras.Sequential([
            keras.Input((self.latent_dim,)),
            layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(), layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(), layers.LeakyReLU(),
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False),
            layers.Activation("tanh", dtype="float32"),
        ])
        self.discriminator = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
            layers.Flatten(), layers.Dense(1, dtype="float32"),
        ])
        self.g_opt, self.d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.step = tf.function(self._step)

    def _step(self, images):
        noise = tf.random.normal([tf.shape(images)[0], self.latent_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fakes = self.generator(noise, training=True)
            real_out = self.discriminator(images, training=True)
            fake_out = self.discriminator(fakes, training=True)
            g_loss = self.bce(tf.ones_like(fake_out), fake_out)
            d_loss = self.bce(tf.ones_like(real_out), real_out) + self.bce(tf.zeros_like(fake_out), fake_out)
        g_grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.g_opt.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        self.d_opt.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        return g_loss, d_loss

    def train_epoch(self, pipeline):
        for images in pipeline:
            self.step(images)


# Ours with make gan's defaults (conditional on the digit labels), and without the labels, as
# the tutorial trains: the second row is the like-for-like comparison of the loop itself.
VARIANTS = {"ours": {}, "ours-uncond": {"conditional": False}}


def ours(**settings):
    config = GANConfig(**settings)
    gan = train.build_gan(config, num_classes=10)
    train.compile_gan(gan, config, jit_compile=False)
    return gan, config


def images_per_second(step, batch, steps):
    for _ in range(3):
        step(batch)  # trace + warm up
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * batch.shape[0] / (time.perf_counter() - start)


def throughput(batch_size, steps):
    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(precision)
        batch = tf.random.uniform((batch_size, 28, 28, 1), -1, 1)
        labels = tf.range(batch_size) % 10
        ref_ips = images_per_second(TutorialDCGAN().step, batch, steps)
        row = {"precision": precision, "reference": round(ref_ips)}
        for name, settings in VARIANTS.items():
            gan, _ = ours(**settings)
            gan.make_train_function()
            data = (batch, labels) if gan.num_classes else batch
            ips = images_per_second(lambda b, f=gan.train_function, d=data: f(iter([d])), batch, steps)
            row.update({name: round(ips), f"{name}_ratio": round(ips / ref_ips, 2)})
            print(f"throughput {precision:15s} {name:12s} {ips:7.0f} img/s   reference {ref_ips:7.0f} img/s   "
                  f"ratio {ips / ref_ips:.2f}x", flush=True)
        rows.append(row)
    return rows


def fcd_curve(name, train_epoch, sample, judge, budget):
    """Train in whole epochs until the budget is spent; (training seconds, FCD) after every epoch."""
    start, elapsed, curve = time.perf_counter(), 0.0, []
    while elapsed < budget:
        train_epoch()
        elapsed = time.perf_counter() - start  # training time only; scoring is not counted
        curve.append((round(elapsed, 1), round(judge.score(sample())["fcd"], 3)))
        start = time.perf_counter() - elapsed
    print(f"quality {name:10s} epochs {len(curve):3d}   FCD at {elapsed:.0f} s: {curve[-1][1]:.2f}", flush=True)
    return {"model": name, "epochs": len(curve), "final_fcd": curve[-1][1], "seconds": round(elapsed), "curve": curve}


def seconds_below(curve, threshold):
    return next((seconds for seconds, fcd in curve if fcd < threshold), None)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="timed steps per throughput measurement")
    p.add_argument("--budget", type=float, default=180, help="training seconds per model for time-to-quality")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--out", default="runs/bench-gan.json")
    args = p.parse_args()

    runtime = configure("auto", probe=train.precision_probe(GANConfig(batch_size=args.batch_size)))
    print(f"runtime: {runtime.describe()}, batch {args.batch_size}")
    results = {"throughput": throughput(args.batch_size, args.steps)}

    keras.mixed_precision.set_global_policy(runtime.precision)
    data = datasets.load(args.dataset)
    judge = Judge.for_dataset(data.images, data.labels, args.dataset)
    pipelines = {conditional: datasets.to_training_pipeline(data.images, data.labels, args.batch_size,
                                                           conditional=conditional) for conditional in (False, True)}
    results["floor"] = judge.real_floor
    quality = []
    for name, settings in VARIANTS.items():
        keras.utils.set_random_seed(0)
        gan, config = ours(**settings)
        pipeline = pipelines[bool(gan.num_classes)]
        quality.append(fcd_curve(
            name, lambda g=gan, d=pipeline: g.fit(d, epochs=1, verbose=0, shuffle=False),
            lambda g=gan, c=config: generate_images(g.sampler, c.latent_dim, g.num_classes, judge.n, seed=1),
            judge, args.budget))
    keras.utils.set_random_seed(0)
    ref = TutorialDCGAN()
    quality.append(fcd_curve(
        "reference", lambda: ref.train_epoch(pipelines[False]),
        lambda: generate_images(ref.generator, ref.latent_dim, 0, judge.n, seed=1), judge, args.budget))
    threshold = THRESHOLD_FACTOR * quality[-1]["final_fcd"]
    for row in quality:
        row["seconds_to_threshold"] = seconds_below(row["curve"], threshold)
        reached = row["seconds_to_threshold"]
        print(f"time to FCD < {threshold:.2f} (2x the reference's final FCD): {row['model']:12s} "
              f"{'never' if reached is None else f'{reached:.0f} s'}", flush=True)
    results["threshold"] = threshold
    results["time_to_quality"] = quality
    results["precision"] = runtime.precision
    write_json(args.out, results)  # creates runs/ on a fresh clone
    print(f"real-vs-real floor {judge.real_floor:.2f}; results in {args.out}")


if __name__ == "__main__":
    main()
