"""Which weight average should `make gan` sample from? Several decays measured in one training run.

    .venv/bin/python benchmarks/gan_ema.py --seeds 0 1 2              # make gan's defaults, 70 epochs
    .venv/bin/python benchmarks/gan_ema.py --averages 0.999 0.9999/4 0.9999/2     # decay/warm-up

The generator is trained once per seed with make gan's settings (no time limit, so every seed
trains the same epochs whatever the machine's speed); beside the model's own average, shadow
averages with other decays follow the generator's weights after every step (each with a warm-up:
decay_t = min(decay, 1 - w / (w + 1 + t)) after t steps, w = 9 being gan_tf.gan.GAN._update_ema's). Every `--every` epochs and at the end, each average
(decay 0 = the generator itself) draws the same 2,500 samples and both shipped judges score
them: a choice between decays costs no extra training, and judge B was not used for any choice.
Rows go to RESULTS (JSON lines); the table at the end gives each decay's mean and worst ratio.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from gan_tf import datasets, train
from gan_tf.config import GANConfig
from gan_tf.quality import Judge
from gradient_hunt.precision import cpu_model
from gradient_hunt.runtime import configure, import_keras

keras = import_keras()  # quietly: Keras' own import would print TensorFlow's start-up lines


def warmed_up(decay, warmup, step):
    """The decay at `step`: min(decay, 1 - w / (w + 1 + step)); w = 9 is the model's (1 + t) / (10 + t),
    which averages about the last 1/w of the steps so far until `decay` caps it."""
    return min(decay, 1.0 - warmup / (warmup + 1.0 + step))


def parse_average(text):
    decay, _, warmup = text.partition("/")
    return float(decay), float(warmup or 9)


class ShadowAverages(keras.callbacks.Callback):
    """Exponential moving averages of the generator's weights (BatchNorm statistics included), one
    per (decay, warm-up) pair."""

    def __init__(self, averages):
        super().__init__()
        self.decays, self.shadows, self.step = [a for a in averages if a[0] > 0], None, 0

    def on_train_begin(self, logs=None):
        start = self.model.generator.get_weights()  # where the model's own average starts too
        self.shadows = {a: [w.copy() for w in start] for a in self.decays}

    def on_train_batch_end(self, batch, logs=None):
        current = self.model.generator.get_weights()
        self.step += 1
        for (d, warmup), shadow in self.shadows.items():
            decay = warmed_up(d, warmup, self.step)
            for average, now in zip(shadow, current):
                average *= decay
                average += (1.0 - decay) * now

    def weights(self, average):
        return self.model.generator.get_weights() if average[0] == 0 else self.shadows[average]


class ScoreAverages(keras.callbacks.Callback):
    def __init__(self, shadows, judge, config, every, total, rows, seed):
        super().__init__()
        self.shadows, self.judge, self.config, self.every, self.total = shadows, judge, config, every, total
        self.rows, self.seed = rows, seed
        self.sampler = None

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.total:
            return
        if self.sampler is None:
            self.sampler = keras.models.clone_model(self.model.generator)
        for average in [(0.0, 9.0), *self.shadows.decays]:
            self.sampler.set_weights(self.shadows.weights(average))
            report = train.evaluate_generator(self.sampler, self.config, self.judge)
            row = {"seed": self.seed, "epoch": done, "decay": average[0], "warmup": average[1],
                   "fcd_ratio": round(report["fcd"] / report["fcd_real_floor"], 3),
                   "fcd2_ratio": round(report["fcd2"] / report["fcd2_real_floor"], 3),
                   "kid": round(report["kid"], 5), "modes_covered": report["modes_covered"]}
            self.rows.append(row)
            print(json.dumps(row), flush=True)


def run_seed(seed, args, judge, data):
    config = GANConfig(seed=seed, epochs=args.epochs, time_limit=0)
    keras.utils.set_random_seed(seed)
    gan = train.build_gan(config, data.num_classes)
    train.compile_gan(gan, config, jit_compile=False)
    pipeline = datasets.to_training_pipeline(data.images, data.labels, config.batch_size, seed=seed,
                                             conditional=bool(gan.num_classes))
    rows = []
    shadows = ShadowAverages([parse_average(a) for a in args.averages])
    gan.fit(pipeline, epochs=config.epochs, verbose=0, shuffle=False,
            callbacks=[shadows, ScoreAverages(shadows, judge, config, args.every, config.epochs, rows, seed)])
    # The model's own average must equal the shadow of the same decay: the harness measures what make gan samples.
    if (config.ema_decay, 9.0) in shadows.shadows:
        own, shadow = gan.ema_generator.get_weights(), shadows.shadows[(config.ema_decay, 9.0)]
        gap = max(float(np.max(np.abs(a - b))) for a, b in zip(own, shadow))
        print(f"seed {seed}: largest gap between the model's average and its shadow {gap:.2e}", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--averages", nargs="+", default=["0.99", "0.995", "0.999"], metavar="DECAY[/WARMUP]",
                   help="decays to follow, each with an optional warm-up w (default 9, the model's): "
                        "decay_t = min(DECAY, 1 - w / (w + 1 + t)) (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=GANConfig().epochs)
    p.add_argument("--every", type=int, default=10, help="epochs between scorings (default: %(default)s)")
    p.add_argument("--results", default="runs/gan-ema/results.jsonl")
    args = p.parse_args()

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores", flush=True)
    configure("auto", "auto", "default", probe=train.precision_probe(GANConfig()))
    data = datasets.load("mnist")
    judge = Judge.for_dataset(data.images, data.labels, "mnist", n=GANConfig().eval_samples)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        seed_rows = run_seed(seed, args, judge, data)
        with open(args.results, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in seed_rows)
        rows += seed_rows

    last = max(r["epoch"] for r in rows)
    print(f"\nat epoch {last}, {len(args.seeds)} seeds: ratio to the real-vs-real floor, mean (worst)")
    print(f"{'decay/warm-up':>14}  {'judge A':>16}  {'judge B':>16}")
    for decay, warmup in sorted({(r["decay"], r.get("warmup", 9.0)) for r in rows}):
        final = [r for r in rows if (r["decay"], r.get("warmup", 9.0)) == (decay, warmup) and r["epoch"] == last]
        a, b = [r["fcd_ratio"] for r in final], [r["fcd2_ratio"] for r in final]
        print(f"{decay:>9g}/{warmup:<4g}  {np.mean(a):7.2f}x ({max(a):5.2f}x)  {np.mean(b):7.2f}x ({max(b):5.2f}x)")


if __name__ == "__main__":
    main()
