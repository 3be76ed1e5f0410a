"""Every named choice of the hunt, defined once: argparse, the tuner, the config and the docs read these.

Pure data (no TensorFlow import), so `hunt-tf --help` stays fast.
"""

# hunt-tune --max-epochs: the longest trial and the untuned baseline's length. Fixed, not from
# the data (hunt_tf.optim.auto_epochs), so every trial of a search is compared alike.
TRIAL_EPOCHS = 15

# auto: crop when the images are large (their 10th-percentile shorter side is at least
# CROP_MIN_SOURCE px: native traces to keep), else resize (tiny images: the whole image).
RESIZE_MODES = ("auto", "resize", "crop", "pad")
DECODE_MODES = RESIZE_MODES[1:]
CROP_MIN_SOURCE = 128
# How the validation rows are chosen (hunt_tf.splits.validation_split).
VALIDATIONS = ("auto", "random", "source")
# Where the two-class cut comes from (hunt_tf.adaptive_cut): validation's, or moved by the Test images.
CUTS = ("adaptive", "validation")
# Extra AI examples made from the Real training images (hunt_tf.extra_fakes).
# auto: resample for images read as RGB (below RESIDUAL_MIN_SIDE, when a class is named Real),
# where it measured a large gain on unseen generators; none for photographs, where it did not.
EXTRA_FAKES = ("auto", "none", "resample", "noise", "resample+noise")
# Whether hunt-tf train checks its Test answers against Train's real images (hunt_tf.unlike_reals).
UNLIKE_REALS = ("off", "on")
# What the first layer sees: pixels, NPR residuals (hunt_tf.residual), or both stacked.
# auto: residual for images decoded at 64 px or more (photographs: traces at native scale),
# rgb below (digits, thumbnails: their traces were resampled away, content is what is left).
INPUTS = ("auto", "rgb", "residual", "both")
MODEL_INPUTS = INPUTS[1:]
RESIDUAL_MIN_SIDE = 64
# How the scratch CNN's last feature map becomes one vector. gap: global average pooling
# (where a feature is does not matter: crops, tiny images). flatten: every position kept,
# then a hidden layer (the layout of a whole image counts too). auto: flatten for whole images
# (resize or pad mode) of FLATTEN_MIN_SIDE px or more, else gap. Measured on r1 re-encoded at
# 96 px (better) and 64 px (a tie; validation better at both): BENCHMARKS.md, session 16. Below
# 64 px flatten was no better (behind on the means of CIFAKE and of Fashion-MNIST's unseen
# generator families: session 17).
HEADS = ("auto", "gap", "flatten")
MODEL_HEADS = HEADS[1:]
FLATTEN_MIN_SIDE = 64
FLATTEN_UNITS = 128
# Where decoded training pixels live (hunt_tf.cache): auto = memory while they fit comfortably, else disk.
CACHES = ("auto", "memory", "disk")
# Which weights a run ends with (hunt_tf.averaging): the best epoch by validation loss, or the mean of the tail.
AVERAGES = ("none", "swa")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "step", "plateau")
# How a submission row's Id is made from a test file's path (relative to the test folder).
ID_STYLES = ("stem", "name", "path")

# Named augmentation presets. Geometric changes help photos but cost accuracy on small
# centred images (measured: 0.84 vs 0.98 on the digit demo), so the default is "light".
# Blur and JPEG re-compression teach the detector to ignore low-level traces that differ
# between generators and between compressions: "robust" is for unseen generators.
PRESETS = {
    "none": {},
    "light": {"flip": True},
    # Whole-pixel shifts (reflect-padded, even offsets) change no pixel's value: unlike the
    # interpolating geometry of "standard", they leave a generator's pixel-level traces intact.
    "shift": {"flip": True, "shift": 0.125},
    "standard": {"flip": True, "rotation": 0.03, "zoom": 0.05, "translation": 0.05, "contrast": 0.1},
    "robust": {"flip": True, "blur": 0.3, "jpeg": 0.3},
    "strong": {"flip": True, "rotation": 0.05, "zoom": 0.1, "translation": 0.1, "contrast": 0.2,
               "blur": 0.3, "jpeg": 0.3},
}

# keras.applications backbones: name -> (constructor, how it wants its pixels).
BACKBONES = {
    "efficientnetb0": ("EfficientNetB0", "raw"),  # rescales internally
    "resnet50v2": ("ResNet50V2", "symmetric"),
    "mobilenetv2": ("MobileNetV2", "symmetric"),
    "convnexttiny": ("ConvNeXtTiny", "raw"),  # normalises internally
}
ARCHITECTURES = ("cnn", *BACKBONES)
