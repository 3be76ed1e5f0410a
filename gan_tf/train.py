"""Train a GAN into a run directory (what `gan-tf train` does).

    python -m gan_tf.cli train --epochs 60 --run runs/gan

Run directory: config.json, checkpoints/, generator.keras, samples/epoch_NNN.png,
history.csv, quality.csv, metrics.json, logs/ (TensorBoard).
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from gan_tf import callbacks, datasets, networks
from gan_tf.config import GANConfig
from gan_tf.errors import RunError
from gan_tf.gan import GAN
from gradient_hunt import multi_worker
from gradient_hunt.atomic import save_model, write_json
from gradient_hunt.console import fit_verbosity
from gradient_hunt.precision import Workload
from gradient_hunt.rundir import open_run
from gradient_hunt.runtime import check_strategy, configure


def check_options(config: GANConfig) -> None:
    """Settings that are wrong whatever the data, beyond GANConfig.CHOICES (which from_dict
    checks): refused before anything loads."""
    from gan_tf.augment import parse_policy

    try:
        parse_policy(config.augment)
    except ValueError as err:
        raise RunError(str(err)) from None
    if config.r1_weight < 0 or not 0 <= config.ada_target <= 1 or config.time_limit < 0:
        raise RunError("--r1-weight and --time-limit must be >= 0, --ada-target in [0, 1]")
    if config.channel_multiple < 1:
        raise RunError("--channel-multiple must be >= 1 (1 keeps the channel counts as they are)")
    check_strategy(config.strategy)


def build_gan(config: GANConfig, num_classes: int, image_shape=networks.MNIST_SHAPE) -> GAN:
    conditional_classes = num_classes if config.conditional else 0
    generator = networks.build_generator(
        config.arch, config.latent_dim, config.width, config.kernel_size, conditional_classes, image_shape=image_shape,
        channel_multiple=config.channel_multiple,
    )
    discriminator = networks.build_discriminator(
        config.arch, config.width, config.kernel_size, conditional_classes, dropout=config.dropout,
        image_shape=image_shape, spectral_norm=config.spectral_norm, minibatch_std=config.minibatch_std,
    )
    return GAN(generator, discriminator, config.latent_dim, conditional_classes, seed=config.seed,
               ema_decay=config.ema_decay, augment=config.augment, ada_target=config.ada_target)


def compile_gan(gan: GAN, config: GANConfig, jit_compile: bool) -> None:
    gan.compile(
        d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=config.beta_1),
        g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=config.beta_1),
        loss=config.loss,
        label_smoothing=config.label_smoothing,
        r1_weight=config.r1_weight,
        jit_compile=jit_compile,  # explicit: Keras' "auto" would turn XLA on, slower on CPU
    )


def precision_probe(config: GANConfig, image_shape=networks.MNIST_SHAPE, num_classes=10) -> Workload:
    """The runtime's precision measurement: one GAN train step of this configuration and
    image shape (gradient_hunt.precision)."""
    classes = num_classes if config.conditional else 0

    def build():
        gan = build_gan(config, classes, image_shape)
        compile_gan(gan, config, jit_compile=False)
        return gan

    def step(gan):
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (config.batch_size, *image_shape)).astype("float32")
        labels = np.arange(config.batch_size) % classes if classes else None
        return lambda: gan.train_on_batch(images, labels)

    # What the fingerprint of the built GAN cannot see: the batch, and the settings its
    # train_step reads (the loss and its R1 term, the augmentation, the weight average); the
    # code of train_step is in it (precision.own_code).
    name = (f"gan {'x'.join(map(str, image_shape))} b{config.batch_size} cond{classes} {config.loss} "
            f"r1{int(bool(config.r1_weight))} ema{int(bool(config.ema_decay))} aug[{config.augment}]")
    return Workload(name, build, step)


def train(run_dir, settings: dict | None = None, resume=False, verbose=None, fresh=False) -> dict:
    """Train (or continue) a run with GANConfig fields from `settings`; returns the final
    quality report (also written to metrics.json).

    On `resume`, only `epochs` may differ from the saved run (to train longer)."""
    run_dir, worker_dir = Path(run_dir), None
    asked = GANConfig.from_dict(dict(settings or {}))
    check_options(asked)  # before open_run writes config.json
    across = asked.strategy == "multi-worker"
    if across and not multi_worker.is_chief():
        # Every worker trains (the strategy keeps their weights equal); only the chief writes the
        # run. The others keep checkpoints in a scratch directory of their own (resumable) and end.
        worker_dir = run_dir = multi_worker.scratch_dir(run_dir)
    config, _ = open_run(run_dir, GANConfig, dict(settings or {}), kind="gan-tf", resume=resume, fresh=fresh,
                         may_change=("epochs", "time_limit"))
    data = datasets.load(config.dataset, image_size=config.image_size)  # first: a bad dataset fails before any probe
    if config.conditional and data.labels is None:
        if (settings or {}).get("conditional"):
            raise RunError(f"--conditional needs labels, and {config.dataset} has none")
        print(f"{config.dataset} has no labels: training an unconditional GAN")
    image_shape = data.images.shape[1:]
    if config.arch == "dcgan":
        try:  # an ungrowable size is an error before any probe too
            networks.upsampling_plan(*image_shape[:2])
        except ValueError as err:
            raise RunError(str(err)) from None
    runtime = configure(config.precision, config.jit, config.strategy, probe=precision_probe(config, image_shape, data.num_classes))
    print(f"data: {data.description}, {len(data.images)} images | runtime: {runtime.describe()}")

    judge = None
    if data.labels is not None and worker_dir is None:  # only the chief measures quality
        from gan_tf.quality import Judge

        judge = Judge.for_dataset(data.images, data.labels, config.dataset, n=config.eval_samples)

    # Seeded after the judge, whose first-use training reseeds the global generators:
    # the same --seed gives the same run whether or not the judge was cached.
    keras.utils.set_random_seed(config.seed)
    checkpoint = callbacks.Checkpoint(run_dir)
    with runtime.strategy.scope():  # variables, optimizer slots included, live on every replica
        gan = build_gan(config, data.num_classes, image_shape)
        compile_gan(gan, config, runtime.jit_compile)
        start_epoch = checkpoint.attach(gan)
    if across:
        chief_epoch = multi_worker.chief_value(runtime.strategy, start_epoch)
        # Decided together (one more all-reduce): a worker that stopped alone would leave the rest waiting.
        if multi_worker.anyone_says(runtime.strategy, start_epoch != chief_epoch):
            raise RunError(f"the workers' checkpoints disagree (this one, {run_dir}, is at epoch {start_epoch}, the "
                           f"chief's at {chief_epoch}): start over on every worker with --fresh")
        if worker_dir is not None and chief_epoch >= config.epochs:
            return multi_worker.worker_report(epochs=0)  # a trained run: nothing to do
    if start_epoch:
        print(f"resuming {run_dir} from epoch {start_epoch}")
    if start_epoch >= config.epochs:
        print(f"{run_dir} has already trained {start_epoch} of {config.epochs} epochs")
    pipeline = datasets.to_training_pipeline(
        data.images, data.labels, config.batch_size * runtime.strategy.num_replicas_in_sync,
        seed=config.seed + start_epoch, conditional=bool(gan.num_classes),
    )
    log_dir = run_dir / "logs"
    quality = None
    # Across workers the chief's clock decides for all.
    agree = (lambda past: multi_worker.chief_says(runtime.strategy, past)) if across else None
    time_limit = callbacks.TimeLimit(config.time_limit, agree=agree)
    cbs = [callbacks.NaNGuard(), time_limit]  # before QualityMetrics, which measures the epoch they stop at
    if judge is not None:
        quality = callbacks.QualityMetrics(judge, run_dir, checkpoint.elapsed, every=config.eval_every,
                                           total_epochs=config.epochs)
        cbs.append(quality)
    cbs += [
        keras.callbacks.TensorBoard(str(log_dir), write_graph=False),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        *([callbacks.SampleGrid(run_dir, log_dir)] if worker_dir is None else []),
        checkpoint,  # on every worker: saving a distributed checkpoint is a collective step
    ]
    verbose = fit_verbosity(verbose)
    if start_epoch < config.epochs:  # (a trained run's workers have ended: nothing may wait on them)
        gan.fit(pipeline, epochs=config.epochs, initial_epoch=start_epoch, callbacks=cbs, shuffle=False,
                verbose=verbose)
    if cbs[0].tripped:
        raise RunError(f"training diverged (NaN loss); resume from the last good checkpoint in {run_dir}/checkpoints")
    if time_limit.stopped_at:
        print(f"time limit: stopped after epoch {time_limit.stopped_at} of {config.epochs} "
              f"({config.time_limit:.0f} s reached; the same command with --resume trains on)")

    if worker_dir is not None:
        # Its checkpoints stay: --resume (after a time limit, or with more --epochs) goes on from them.
        return multi_worker.worker_report(epochs=int(checkpoint.epoch.numpy()) - start_epoch)
    save_model(gan.sampler, run_dir / "generator.keras")
    epochs_done = int(checkpoint.epoch.numpy())
    report = {"epochs": epochs_done, "seconds": round(float(checkpoint.seconds.numpy()), 1)}
    if judge is not None:
        if quality.last is not None and quality.last["epoch"] == epochs_done:
            measured = {k: v for k, v in quality.last.items() if k != "epoch"}  # same samples, same seed
        else:
            measured = evaluate_generator(gan.sampler, config, judge)
        report.update(measured)
    write_json(run_dir / "metrics.json", report)
    return report


def evaluate_generator(generator, config: GANConfig, judge, seed=4321) -> dict:
    from gan_tf.gan import conditional_classes, generate_images

    num_classes = conditional_classes(generator)
    requested = np.arange(judge.n) % num_classes if num_classes else None
    images = generate_images(generator, config.latent_dim, num_classes, judge.n, digits=requested, seed=seed)
    return judge.score(images, requested=requested)


def format_report(report: dict) -> str:
    lines = []
    if "fcd" in report:
        for label, suffix in (("judge A", ""), ("judge B", "2")):
            if "fcd" + suffix not in report:
                continue
            fcd, floor = report["fcd" + suffix], report[f"fcd{suffix}_real_floor"]
            lines.append(f"{label}: classifier distance (FCD) {fcd:.2f} = {fcd / floor:.1f}x its real-vs-real floor "
                         f"{floor:.2f};  KID {report['kid' + suffix]:.4f} (floor {report[f'kid{suffix}_real_floor']:.4f})")
        if "judges" in report:
            lines.append(f"judges: {report['judges']} (B: another architecture, trained on the other half of the data)")
        classes = len(report["mode_shares"])
        lines.append(f"classifier score {report['classifier_score']:.2f} / {classes}   "
                     f"modes covered {report['modes_covered']} / {classes}")
        if "conditional_accuracy" in report:
            lines.append(f"conditional accuracy (classifier reads the requested digit) {report['conditional_accuracy']:.3f}")
    if "seconds" in report and not math.isnan(report["seconds"]):
        lines.append(f"trained {report['epochs']} epochs in {report['seconds']:.0f} s")
    return "\n".join(lines)
