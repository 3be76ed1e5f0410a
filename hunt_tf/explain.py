"""Where the detector looks: Grad-CAM heatmaps (Selvaraju et al. 2017) over the images it is
most sure of and the ones it gets wrong, so a user sees whether it reads the object, the
background, or the compression.

    heat = heatmaps(model, pixels)                      # (N, H, W) in [0, 1], one per image
    plot_heatmaps(pixels, heat, titles, "explain.png")  # image and overlay, side by side

The gradient is taken of the class logit (the softmax's input), not of its probability: a
confident probability is flat, and its gradient is zero exactly where the model is surest.
Crop-mode models are explained tile by tile over the decoded square, as they predict
(hunt_tf.crops), every tile for the class the whole image is predicted as. Backbones from keras.applications hide their feature maps inside one
layer; for them the heat is gradient x input, summed over colour channels.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gradient_hunt.runtime import import_tensorflow  # noqa: E402
from hunt_tf.crops import tile_offsets  # noqa: E402
from hunt_tf.ensemble import members_of  # noqa: E402
from hunt_tf.predict import predict_pixels  # noqa: E402

tf = import_tensorflow()
import keras  # noqa: E402


def _feature_layer(model):
    """The scratch CNN's last activation map (hunt_tf.model.conv_block names it blockN_relu), or None."""
    maps = [layer for layer in model.layers if layer.name.startswith("block") and layer.name.endswith("_relu")]
    return maps[-1] if maps else None


def _explainer(model):
    """A function: float images -> (N, H, W) heat, for the class each image is predicted as."""
    output = model.get_layer("probabilities")
    feature = _feature_layer(model)
    # The functional graph up to the output layer's input; the logits are its kernel applied by hand.
    targets = [output.input] if feature is None else [feature.output, output.input]
    inner = keras.Model(model.inputs, targets)
    kernel, bias = (tf.cast(w, tf.float32) for w in output.weights)

    @tf.function
    def explain(images, classes):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outs = inner(images, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            logits = tf.matmul(tf.cast(outs[-1], tf.float32), kernel) + bias
            chosen = tf.reduce_sum(logits * tf.one_hot(classes, tf.shape(logits)[1]), axis=1)
        if len(outs) == 2:  # Grad-CAM: feature maps weighted by their mean gradient
            maps = tf.cast(outs[0], tf.float32)
            weights = tf.reduce_mean(tape.gradient(chosen, outs[0]), axis=(1, 2), keepdims=True)
            heat = tf.nn.relu(tf.reduce_sum(maps * tf.cast(weights, tf.float32), axis=-1))[..., None]
            heat = tf.image.resize(heat, tf.shape(images)[1:3], method="bilinear")[..., 0]
        else:  # gradient x input
            heat = tf.abs(tf.reduce_sum(tape.gradient(chosen, images) * images, axis=-1))
        return heat

    return explain


def heatmaps(model, pixels, classes=None, batch_size=32):
    """(N, H, W) heat in [0, 1] per image (each scaled by its own maximum) for uint8 (N, H, W, 3),
    for `classes` (default: each image's predicted class; every tile of an image explains that one)."""
    if classes is None:
        classes = predict_pixels(model, pixels).argmax(1)
    classes = np.asarray(classes, dtype=np.int64)
    members = members_of(model)
    if len(members) > 1:  # an ensemble: where its members look, on average, for the ensemble's answer
        return _each_to_unit(np.mean([heatmaps(m, pixels, classes, batch_size) for m in members], axis=0))
    explain = _explainer(model)
    crop = model.input_shape[1] or pixels.shape[1]
    offsets = tile_offsets(pixels.shape[1], crop)
    heat = np.zeros(pixels.shape[:3], np.float32)
    count = np.zeros(pixels.shape[1:3], np.float32)
    for y in offsets:
        for x in offsets:
            for start in range(0, len(pixels), batch_size):
                tiles = tf.constant(pixels[start : start + batch_size, y : y + crop, x : x + crop], tf.float32)
                which = tf.constant(classes[start : start + batch_size])
                heat[start : start + batch_size, y : y + crop, x : x + crop] += explain(tiles, which).numpy()
            count[y : y + crop, x : x + crop] += 1
    return _each_to_unit(heat / np.maximum(count, 1))


def _each_to_unit(heat):
    """Each image's heat scaled by its own maximum (all-zero heat stays zero)."""
    peak = heat.reshape(len(heat), -1).max(1)
    return heat / np.where(peak > 0, peak, 1)[:, None, None]


def pick(probs, y_true=None, n=8):
    """Indices to show: the misclassified (when labels are known) and the most confident of each class."""
    predicted, confidence = probs.argmax(1), probs.max(1)
    chosen, groups = [], []
    if y_true is not None:
        wrong = np.flatnonzero(predicted != np.asarray(y_true))
        wrong = wrong[np.argsort(-confidence[wrong])][:n]
        chosen += wrong.tolist()
        groups += ["wrong"] * len(wrong)
    for c in range(probs.shape[1]):
        right = np.flatnonzero((predicted == c) & ((np.asarray(y_true) == c) if y_true is not None else True))
        best = right[np.argsort(-confidence[right])][: max(1, n // probs.shape[1])]
        chosen += best.tolist()
        groups += ["sure"] * len(best)
    return chosen, groups


def plot_heatmaps(images, heat, titles, path, cols=4):
    """A grid of (image, heat overlay) pairs, each titled."""
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.5, rows * 2.0 + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (image, h, title) in enumerate(zip(images, heat, titles)):
        left, right = axes[k // cols, 2 * (k % cols)], axes[k // cols, 2 * (k % cols) + 1]
        left.imshow(image.astype(np.uint8))
        left.set_title(title, fontsize=6)
        right.imshow(image.astype(np.uint8))
        right.imshow(h, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    if not len(images):
        axes[0, 0].text(0, 0.5, "nothing to show", fontsize=9)
    fig.suptitle("where the detector looks (Grad-CAM; red = most)", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def explain_images(model, pixels, probs, class_names, path, y_true=None, names=None, n=8):
    """Pick the images to show, compute their heat, write the grid PNG; returns (indices, heat)."""
    chosen, groups = pick(probs, y_true, n)
    heat = (heatmaps(model, pixels[chosen], probs[chosen].argmax(1)) if chosen
            else np.zeros((0, *pixels.shape[1:3]), np.float32))
    titles = []
    for i, group in zip(chosen, groups):
        pred = int(probs[i].argmax())
        truth = f"{class_names[int(y_true[i])]}->" if y_true is not None else ""
        name = f"{Path(names[i]).name[:18]}\n" if names is not None else ""
        titles.append(f"{name}{group}: {truth}{class_names[pred]} {probs[i, pred]:.2f}")
    plot_heatmaps(pixels[chosen], heat, titles, path)
    return chosen, heat
