"""HuntHyperModel: the search space over hunt_tf.model.build_classifier (no second copy).

Every hyperparameter is named and defaulted to HuntConfig's value, so `build(hp)` with
an empty HyperParameters() is exactly the untuned model. Training-time knobs (batch
size, augmentation) are tuned in `fit`; the number of epochs comes from the tuner.
"""

from __future__ import annotations

import math

import keras
import keras_tuner as kt

from hunt_tf import extra_fakes
from hunt_tf.choices import MODEL_HEADS, MODEL_INPUTS, OPTIMIZERS, PRESETS, SCHEDULES, TRIAL_EPOCHS
from hunt_tf.config import HuntConfig
from hunt_tf.crops import COLOUR_CONVS, auto_head, auto_input
from hunt_tf.model import MIN_BACKBONE_SIZE, build_model, resolved_convs
from hunt_tf.rows import TrainingRows, decode_train, subset, validation_dataset
from hunt_tf.splits import class_weights, validation_split

DEFAULTS = HuntConfig()
# Offline, backbones train from scratch (weights none); the small one is worth trying on a CPU.
BACKBONE_CHOICES = ["cnn", "mobilenetv2"]
# "strong" adds geometry, which costs accuracy on small centred images (see hunt_tf.choices).
AUGMENT_CHOICES = [name for name in PRESETS if name != "strong"]


def define_space(hp: kt.HyperParameters, image_size=64, decode_size=None, convs=COLOUR_CONVS, crop=False) -> HuntConfig:
    """Declare every hyperparameter on `hp` and return the HuntConfig they describe.

    `decode_size` (the crop source in crop mode; else image_size) decides what the default
    input ("auto") is, `crop` (the network sees crops, not whole images) the default head, and
    `convs` the default conv layers per block (auto_convs of the data), so the untuned defaults
    in the race are exactly `hunt-tf train`'s."""
    d = DEFAULTS
    backbones = BACKBONE_CHOICES if image_size >= MIN_BACKBONE_SIZE else ["cnn"]
    backbone = hp.Choice("backbone", backbones, default=d.backbone)
    input_kind = hp.Choice("input", list(MODEL_INPUTS), default=auto_input(d.input, decode_size or image_size, "cnn"))
    head = hp.Choice("head", list(MODEL_HEADS), default=auto_head(d.head, "crop" if crop else "resize", image_size))
    return HuntConfig(
        backbone=backbone,
        input=input_kind if backbone == "cnn" else "rgb",  # residual inputs are for the scratch CNN
        head=head if backbone == "cnn" else "gap",  # and so is the flatten head
        filters=hp.Choice("filters", [16, 32, 64], default=d.filters),
        depth=hp.Int("depth", 2, 4, default=d.depth),
        convs=hp.Int("convs", 1, 2, default=convs),
        kernel_size=hp.Choice("kernel_size", [3, 5], default=d.kernel_size),
        pool_size=hp.Choice("pool_size", [2, 3], default=d.pool_size),
        batchnorm=hp.Boolean("batchnorm", default=d.batchnorm),
        l2=hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3], default=d.l2),
        dropout=hp.Float("dropout", 0.0, 0.5, step=0.1, default=d.dropout),
        optimizer=hp.Choice("optimizer", list(OPTIMIZERS), default=d.optimizer),
        learning_rate=hp.Float("learning_rate", 3e-4, 1e-2, sampling="log", default=d.learning_rate),
        schedule=hp.Choice("schedule", list(SCHEDULES), default=d.schedule),
        augment=hp.Choice("augment", AUGMENT_CHOICES, default=d.augment),
        aug_strength=hp.Float("aug_strength", 0.5, 1.5, step=0.25, default=d.aug_strength),
        batch_size=hp.Choice("batch_size", [16, 32, 64], default=d.batch_size),
    )


class HuntHyperModel(kt.HyperModel):
    """Builds and fits the hunt classifier on pixels decoded once for the whole search (in memory,
    or in the disk cache that `hunt-tf train` also reads)."""

    def __init__(self, train, val_pixels, val_labels, num_classes, epochs=TRIAL_EPOCHS,
                 jit_compile=False, seed=0, crop=0, convs=COLOUR_CONVS):
        super().__init__(name="hunt")
        self.train = train  # hunt_tf.rows.TrainingRows
        self.val_pixels, self.val_labels = val_pixels, val_labels
        # Crop mode: the pixels are native-resolution sources, the network sees crop x crop.
        self.image_size = int(crop or self.train.pixels.shape[1])
        self.decode_size = int(self.train.pixels.shape[1])
        self.crop = crop
        self.convs = convs  # the untuned default, resolved from the data (hunt_tf.crops.auto_convs)
        self.extra_fakes, self.validation = "none", "random"  # what from_folder used, for best_hparams.json
        self.num_classes, self.epochs, self.jit_compile, self.seed = num_classes, epochs, jit_compile, seed

    @classmethod
    def from_folder(cls, folder, config: HuntConfig, epochs=TRIAL_EPOCHS, jit_compile=False, seed=0,
                    multi_worker=False):
        """Decode a scanned folder's Train/ once, as `config` (sizes filled, `cache` where) says, and
        split it as `hunt-tf train` does (seeded, stratified)."""
        decoded = decode_train(folder, config, multi_worker=multi_worker)
        # A folder of several generators is tuned on the one held out: the search's objective is
        # then accuracy on a generator that no trial trained on.
        train_idx, val_idx, how, _ = validation_split(folder, decoded.labels, config.val_split, seed, config.validation)
        print(f"tuning validation: {how}; decoded pixels in {decoded.where}")
        crop = config.image_size if config.resize_mode == "crop" else 0
        # Trials train on what `hunt-tf train` would: the same extra fakes, training rows only.
        kind = extra_fakes.resolve(config.extra_fakes, config.decode_size, folder.class_names)
        train = TrainingRows.of(decoded, train_idx, kind, folder.class_names, seed)
        model = cls(train, subset(decoded.pixels, val_idx), decoded.labels[val_idx], len(folder.class_names),
                    epochs, jit_compile, seed, crop, resolved_convs(config))
        model.extra_fakes, model.validation = kind, config.validation
        return model

    def untuned_hparams(self) -> dict:
        """The untuned defaults for this search's data, as the space names them (what build(hp)
        trains with an empty HyperParameters)."""
        hp = kt.HyperParameters()
        define_space(hp, self.image_size, self.decode_size, self.convs, bool(self.crop))
        return dict(hp.values)

    def build(self, hp):
        # Each trial starts from a clean Keras state: without this, every finished trial's
        # graphs and layer names stay alive and a long search's memory grows trial by trial.
        # clear_session also forgets the global dtype policy: keep the run's precision.
        policy = keras.mixed_precision.global_policy()
        keras.backend.clear_session(free_memory=True)
        keras.mixed_precision.set_global_policy(policy)
        config = define_space(hp, self.image_size, self.decode_size, self.convs, bool(self.crop))
        # Hyperband runs a trial from tuner/initial_epoch to tuner/epochs with a fresh optimizer:
        # the LR schedule must span exactly those epochs. Spanning max_epochs instead, a 2-epoch
        # trial ended still warm at its peak rate, and was ranked on that.
        config.epochs = hp.values.get("tuner/epochs", self.epochs) - hp.values.get("tuner/initial_epoch", 0)
        steps = math.ceil(len(self.train) / config.batch_size)
        return build_model(config, self.image_size, self.num_classes, self.jit_compile, steps)

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        config = define_space(hp, self.image_size, self.decode_size, self.convs, bool(self.crop))
        train_ds = self.train.dataset(config.batch_size, config.augment, config.aug_strength, self.seed, self.crop)
        val_ds = validation_dataset(self.val_pixels, self.val_labels, 64, crop=self.crop)
        callbacks = list(callbacks or [])
        if config.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2))
        kwargs.setdefault("epochs", self.epochs)
        kwargs.pop("shuffle", None)
        # Classes weighted as `hunt-tf train` weights them (extra fakes unbalance them on purpose).
        weights = class_weights(self.train.labels, self.num_classes) if config.class_weights else None
        history = model.fit(train_ds, validation_data=val_ds, callbacks=callbacks, shuffle=False, class_weight=weights,
                            **kwargs)
        # keras-tuner records each metric at the trial's best epoch, not its last: a trial that the
        # budget cut (tuning.budget) must read as cut, and as long as it ran, at every epoch.
        for name in ("budget_cut", "trial_seconds"):
            if history.history.get(name):
                history.history[name] = [max(history.history[name])] * len(history.history[name])
        return history
