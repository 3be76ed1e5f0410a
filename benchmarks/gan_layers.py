"""Which layers for the DCGAN: Keras' BatchNormalization and Dropout, or the project's own?
And the generator's channel counts as width gives them, or rounded up to a multiple of 16?

    .venv/bin/python benchmarks/gan_layers.py [--steps 150] [--repeats 2]

Train-step images/second of our DCGAN (make gan's defaults, batch 64) in float32 and
mixed_bfloat16, each choice as before and as shipped, the others left as shipped, interleaved
in one process, each beside the tutorial loop's (gan_speed.TutorialDCGAN) timed first in that round:
- the generator's BatchNorm: keras.layers.BatchNormalization against
  gradient_hunt.batchnorm.FusedBatchNormalization;
- the discriminator's dropout: keras.layers.Dropout against gan_tf.networks.ByteDropout;
- the generator's channels: --channel-multiple 1 (96, 48, 24 at width 48) against 16 (96, 48, 32).
(Before session 24 this script was benchmarks/gan_batchnorm.py and compared the BatchNorm only.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gan_speed  # noqa: E402  (the same step timing as make bench-gan)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    import keras
    import tensorflow as tf

    from gan_tf import networks

    # The name build_generator / build_discriminator look up, and its two candidates.
    slots = {
        "BatchNorm": ("FusedBatchNormalization", keras.layers.BatchNormalization, networks.FusedBatchNormalization),
        "Dropout": ("ByteDropout", keras.layers.Dropout, networks.ByteDropout),
    }
    batch = tf.random.uniform((64, 28, 28, 1), -1, 1)
    data = (batch, tf.range(64) % 10)  # make gan's default model is conditional: (images, labels)
    def timed(**settings):
        gan, _ = gan_speed.ours(**settings)
        gan.make_train_function()
        return gan_speed.images_per_second(lambda _, f=gan.train_function: f(iter([data])), batch, args.steps)

    for repeat in range(args.repeats):
        for precision in ("float32", "mixed_bfloat16"):
            keras.mixed_precision.set_global_policy(precision)
            reference = gan_speed.images_per_second(gan_speed.TutorialDCGAN().step, batch, args.steps)
            print(f"repeat {repeat}  {precision:15s} reference: the tutorial loop {reference:6.0f} img/s", flush=True)
            for slot, (name, keras_layer, ours) in slots.items():
                for kind, layer in (("keras", keras_layer), ("ours", ours)):
                    setattr(networks, name, layer)
                    try:
                        ips = timed()
                    finally:
                        setattr(networks, name, ours)
                    print(f"repeat {repeat}  {precision:15s} {slot:9s} {kind:5s} ({layer.__name__:23s}) "
                          f"{ips:6.0f} img/s  {ips / reference:.2f}x", flush=True)
            for multiple in (1, 16):
                ips = timed(channel_multiple=multiple)
                kind = "width's" if multiple == 1 else "ours"
                print(f"repeat {repeat}  {precision:15s} {'Channels':9s} {kind:7s} (--channel-multiple {multiple:2d})  "
                      f"{ips:6.0f} img/s  {ips / reference:.2f}x", flush=True)


if __name__ == "__main__":
    main()
