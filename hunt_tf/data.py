"""tf.data pipelines for the hunt: parallel decode, uint8 cache, shuffle, augment, batch.

    pixels, ok = files.decode_all(records, size=64)           # once, in parallel, uint8
    train_ds = from_pixels(pixels, labels, training=True, augment="robust")

Pixels are decoded once (by Pillow, which reads AVIF/WebP/16-bit PNG that TF cannot, in
threads, JPEGs at reduced scale) and held as uint8 at the training size; augmentation
runs in the pipeline, so every epoch sees new variants without decoding again.
"""

from __future__ import annotations

import numpy as np

from gradient_hunt.runtime import import_tensorflow
from gradient_hunt.settings import SettingsError
from hunt_tf.choices import PRESETS
from hunt_tf.crops import centre_offset

tf = import_tensorflow()
import keras  # noqa: E402


def _check_preset(name):
    if name not in PRESETS:
        raise SettingsError(f"unknown augmentation preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def batch_augmenter(preset="standard", strength=1.0, seed=0):
    """Keras preprocessing layers for whole batches (geometric and contrast changes), or None."""
    spec = _check_preset(preset)
    steps = []
    if spec.get("flip"):
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if spec.get("rotation"):
        steps.append(keras.layers.RandomRotation(spec["rotation"] * strength, fill_mode="reflect", seed=seed))
    if spec.get("zoom"):
        steps.append(keras.layers.RandomZoom(spec["zoom"] * strength, fill_mode="reflect", seed=seed))
    if spec.get("translation"):
        t = spec["translation"] * strength
        steps.append(keras.layers.RandomTranslation(t, t, fill_mode="reflect", seed=seed))
    if spec.get("contrast"):
        steps.append(keras.layers.RandomContrast(min(0.9, spec["contrast"] * strength), value_range=(0, 255), seed=seed))
    return keras.Sequential(steps, name=f"augment_{preset}") if steps else None


def _gaussian_blur(image, sigma):
    # Not keras.layers.RandomGaussianBlur: that blurs every image of a batch, and the presets
    # blur each image with a probability (Wang et al. 2020), per image, inside tf.data.
    radius = 2
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-(x**2) / (2.0 * sigma**2))
    k = k / tf.reduce_sum(k)
    kernel = tf.tile((k[:, None] * k[None, :])[:, :, None, None], [1, 1, 3, 1])
    return tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "SAME")[0]


def image_augmenter(preset="standard", strength=1.0, seed=0):
    """Per-image whole-pixel shifts, blur and JPEG re-compression (each with the preset's
    probability or range), or None."""
    spec = _check_preset(preset)
    p_blur, p_jpeg = spec.get("blur", 0.0) * strength, spec.get("jpeg", 0.0) * strength
    shift = spec.get("shift", 0.0) * strength
    if not (p_blur or p_jpeg or shift):
        return None

    def recompress(image):
        return tf.reshape(tf.image.random_jpeg_quality(image / 255.0, 40, 95) * 255.0, tf.shape(image))

    def augment(image):  # float32 0..255, (H, W, 3)
        if shift:  # up to `shift` of the side each way, in even steps (the 2x2 grid of NPR stays put)
            side = image.shape[0]
            pad = max(2, int(side * shift) // 2 * 2)
            padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            image = random_crop(padded, side, seed + 2)  # seeds of its own: not tied to the training crop's
        if p_jpeg:  # encoded and decoded only when it applies (inside the branch): JPEG is the costly step
            image = tf.cond(tf.random.uniform(()) < p_jpeg, lambda: recompress(image), lambda: image)
        if p_blur:
            sigma = tf.random.uniform((), 0.4, 1.5)
            image = tf.cond(tf.random.uniform(()) < p_blur, lambda: _gaussian_blur(image, sigma), lambda: image)
        return image

    return augment


def from_pixels(images, labels, batch_size=32, training=False, augment="none", strength=1.0, seed=0, crop=0):
    """uint8 pixels in memory -> shuffled (training), augmented, batched float32 0..255 images.

    With `crop` smaller than the images: a random crop of each image (training), else the centre one.
    """
    n = len(images)
    images, labels = tf.constant(images), tf.constant(np.asarray(labels, dtype=np.int64))  # one copy, TF's
    # Shuffle positions, then look the images up: a shuffle buffer of the elements themselves
    # would hold a second copy of every image (measured: 9.8 GB peak for 2 GB of pixels).
    ds = tf.data.Dataset.range(n)
    if training:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = cropped(ds, images.shape[1], crop, training, seed)
    return finish(ds, batch_size, training, augment, strength, seed)


def from_cache(cache, rows, labels, keys, batch_size=32, training=False, augment="none", strength=1.0, seed=0,
               crop=0, extra_fakes="none", fake_label=0, fakes_seed=None):
    """The same batches as `from_pixels`, streamed from a disk cache (hunt_tf.cache.PixelCache).

    `rows` are cache records, `labels` and `keys` (the ids extra fakes are seeded by) theirs.
    Training adds `extra_fakes` of the rows labelled `1 - fake_label`: the epoch holds every row,
    then one entry per maker and Real row, in the order `extra_fakes.add_extra_fakes` appends
    them in memory, all shuffled together; each fake is made from its row as the row is read.
    `fakes_seed` (default `seed`) is the seed `add_extra_fakes` was given in memory.
    """
    from hunt_tf import extra_fakes as fakes

    rows, labels = np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    keys = rows if keys is None else np.asarray(keys, dtype=np.int64)
    makers = fakes.parse(extra_fakes) if training else []
    maker = np.full(len(rows), -1)  # per entry: which maker's fake it is, -1 = the image itself
    if makers:
        sources, of_maker = fakes.fake_entries(labels, fake_label, len(makers))
        entry = np.concatenate([np.arange(len(rows)), sources])
        maker = np.concatenate([maker, of_maker])
        labels = np.concatenate([labels, np.full(len(sources), fake_label, dtype=np.int64)])
        rows, keys = rows[entry], keys[entry]
    made_with = seed if fakes_seed is None else fakes_seed

    def make_fakes(images, at):
        for j in np.flatnonzero(maker[at] >= 0):
            images[j] = fakes.fake_of(images[j], keys[at[j]], makers, maker[at[j]], made_with)

    ds = cache.dataset(rows, labels, keys, shuffle_seed=seed if training else None,
                       edit=make_fakes if makers else None)
    ds = cropped(ds.map(lambda image, label, key: (image, label)), cache.size, crop, training, seed)
    return finish(ds, batch_size, training, augment, strength, seed)


def cropped(ds, source, crop, training, seed):
    """A random crop of each (image, label) for training, the centre one otherwise; none when `crop` covers the image."""
    if not crop or crop >= source:
        return ds
    if training:
        return ds.map(lambda x, y: (random_crop(x, crop, seed), y), num_parallel_calls=tf.data.AUTOTUNE)
    at = centre_offset(source, crop)
    return ds.map(lambda x, y: (x[at : at + crop, at : at + crop], y))


def random_crop(image, crop, seed=0):
    """A crop x crop window of one square image, at a random even offset (hunt_tf.crops says why even)."""
    room = (tf.shape(image)[0] - crop) // 2 + 1
    y = tf.random.uniform((), 0, room, dtype=tf.int32, seed=seed) * 2
    x = tf.random.uniform((), 0, room, dtype=tf.int32, seed=seed + 1) * 2
    return image[y : y + crop, x : x + crop, :]


def finish(ds, batch_size, training, augment, strength, seed):
    """uint8 (image, label) pairs, already in their order -> augmented float32 batches."""
    per_image = image_augmenter(augment, strength, seed) if training else None
    if per_image is not None:
        ds = ds.map(lambda x, y: (per_image(tf.cast(x, tf.float32)), y), num_parallel_calls=tf.data.AUTOTUNE)
    # One cast per batch, not per image: per-element maps cost ~10% of an epoch for small CNNs.
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    per_batch = batch_augmenter(augment, strength, seed) if training else None
    if per_batch is not None:
        ds = ds.map(lambda x, y: (per_batch(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    # Across workers (--strategy multi-worker) each takes its share of every batch: DATA sharding,
    # since these pipelines start from memory or a cache's records, not one file per worker.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)
