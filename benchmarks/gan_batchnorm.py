"""Which BatchNorm for the DCGAN generator: Keras' layer or the project's fused one?

    .venv/bin/python benchmarks/gan_batchnorm.py [--steps 60] [--repeats 2]

Train-step images/second of our DCGAN (defaults, batch 64) in float32 and mixed_bfloat16,
with the generator's BatchNormalization layers as Keras' own and as
gradient_hunt.batchnorm.FusedBatchNormalization, interleaved in one process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gan_speed  # noqa: E402  (the same step timing as make bench-gan)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    import keras
    import tensorflow as tf

    from gan_tf import networks
    from gradient_hunt.batchnorm import FusedBatchNormalization

    keras_bn = networks.layers.BatchNormalization
    fused_bn = networks.FusedBatchNormalization
    for repeat in range(args.repeats):
        for precision in ("float32", "mixed_bfloat16"):
            for name, layer in (("keras", keras_bn), ("fused", FusedBatchNormalization)):
                networks.FusedBatchNormalization = layer  # what build_generator will instantiate
                keras.mixed_precision.set_global_policy(precision)
                gan, _ = gan_speed.ours()
                gan.make_train_function()
                batch = tf.random.uniform((64, 28, 28, 1), -1, 1)
                # make gan's default model is conditional: it trains on (images, labels)
                data = (batch, tf.range(64) % 10) if gan.num_classes else batch
                ips = gan_speed.images_per_second(lambda _, f=gan.train_function, d=data: f(iter([d])), batch, args.steps)
                print(f"repeat {repeat}  {precision:15s} {name:6s} BatchNorm  {ips:6.0f} img/s", flush=True)
    networks.FusedBatchNormalization = fused_bn


if __name__ == "__main__":
    main()
