"""Residual (NPR) inputs, native-resolution crops and Grad-CAM explanations (issue #10)."""

import re

import numpy as np
import pytest
from PIL import Image

from hunt_tf import crops, data, files
from hunt_tf.config import HuntConfig
from hunt_tf.explain import explain_images, heatmaps
from hunt_tf.model import build_classifier
from hunt_tf.predict import predict_pixels
from hunt_tf.residual import NPRResidual


def random_images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype(np.uint8)


@pytest.mark.parametrize("size", [16, 17])
def test_npr_residual_keeps_the_shape_and_is_zero_on_nearest_upsampled_images(size):
    small = random_images(2, 9)
    upsampled = small.repeat(2, 1).repeat(2, 2)[:, :size, :size].astype("float32")
    residual = NPRResidual()(upsampled).numpy()
    assert residual.shape == upsampled.shape
    assert np.abs(residual).max() == 0  # what nearest-neighbour upsampling leaves: no residual
    noisy = random_images(2, size).astype("float32")
    r1, r2 = NPRResidual()(noisy).numpy(), NPRResidual()(noisy).numpy()
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(r1[:, ::2, ::2], 0)  # each cell's anchor pixel
    np.testing.assert_allclose(r1[:, 1, 1], noisy[:, 1, 1] - noisy[:, 0, 0])


@pytest.mark.parametrize("kind, channels", [("rgb", 3), ("residual", 3), ("both", 6)])
def test_each_input_kind_builds_a_model_that_saves_and_predicts_the_same(kind, channels, tmp_path):
    model = build_classifier(16, 2, filters=4, depth=2, input_kind=kind)
    first = model.get_layer("block1_conv")
    assert first.kernel.shape[2] == channels
    assert_saves_and_predicts_the_same(model, tmp_path)


def assert_saves_and_predicts_the_same(model, tmp_path):
    import keras

    x = random_images(3, model.input_shape[1])
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), rtol=1e-5)


def test_residual_input_is_for_the_scratch_cnn_only():
    from gradient_hunt.settings import SettingsError

    with pytest.raises(SettingsError, match="cnn backbone"):
        build_classifier(32, 2, backbone="mobilenetv2", input_kind="residual")


def test_tiles_are_even_and_cover_the_whole_image():
    for source, crop in [(256, 64), (200, 64), (100, 96), (64, 64), (65, 32)]:
        offsets = crops.tile_offsets(source, crop)
        assert all(o % 2 == 0 for o in offsets)
        covered = np.zeros(source, bool)
        for o in offsets:
            covered[o : o + crop] = True
        # every pixel but at most the last (an odd source's: offsets stay even) is seen
        assert covered[: source - (source - crop) % 2].all(), (source, crop, offsets)
        assert max(offsets) + crop <= source


def test_random_crops_have_the_crop_shape_and_even_offsets():
    source = np.zeros((1, 20, 20, 3), np.uint8)
    source[0, :, :, 0] = np.arange(20)[:, None]  # each pixel knows its row and column
    source[0, :, :, 1] = np.arange(20)[None, :]
    ds = data.from_pixels(np.repeat(source, 40, 0), np.zeros(40), batch_size=40, training=True, crop=8)
    batch, _ = next(iter(ds))
    assert batch.shape == (40, 8, 8, 3)
    ys, xs = batch.numpy()[:, 0, 0, 0].astype(int), batch.numpy()[:, 0, 0, 1].astype(int)
    assert (ys % 2 == 0).all() and (xs % 2 == 0).all()
    assert len(set(zip(ys, xs))) > 3  # random, not always the same window
    assert ys.max() <= 12 and xs.max() <= 12


def test_crop_mode_prediction_averages_every_tile_and_is_deterministic():
    model = build_classifier(16, 2, filters=4, depth=2, input_kind="residual")
    pixels = random_images(3, 40)
    probs = predict_pixels(model, pixels)
    np.testing.assert_array_equal(probs, predict_pixels(model, pixels))
    offsets = crops.tile_offsets(40, 16)
    logp = np.mean([np.log(model.predict(pixels[:, y : y + 16, x : x + 16], verbose=0))
                    for y in offsets for x in offsets], axis=0)
    by_hand = np.exp(logp) / np.exp(logp).sum(1, keepdims=True)  # the tiles' geometric mean, renormalised
    np.testing.assert_allclose(probs, by_hand, rtol=1e-4)


def test_crop_sizes_come_from_the_data_and_never_exceed_the_images():
    rec = [files.ImageRecord("x", 0, "PNG", w, w, "RGB") for w in [90] + [300] * 9]
    source = min(crops.MAX_SOURCE, int(np.percentile([90] + [300] * 9, 10)))  # 111: the 10th percentile
    assert crops.crop_sizes(rec) == (source, min(crops.DEFAULT_CROP, source))
    assert crops.crop_sizes(rec, crop=48) == (source, 48)
    small = [files.ImageRecord("x", 0, "PNG", 28, 28, "L")] * 5
    assert crops.crop_sizes(small) == (28, 28)  # tiny images: the whole image, as in resize mode
    config = crops.choose_sizes(HuntConfig(resize_mode="crop", image_size=64), rec)
    assert config.decode_size == config.source_size > config.image_size == 64
    assert crops.choose_sizes(HuntConfig(), small).decode_size == 28


def test_auto_crops_large_images_and_resizes_small_ones():
    photos = [files.ImageRecord("x", 0, "JPEG", 600, 400, "RGB")] * 9 + [files.ImageRecord("x", 0, "JPEG", 90, 90, "RGB")]
    config = crops.choose_sizes(HuntConfig(), photos)
    assert (config.resize_mode, config.source_size, config.image_size) == ("crop", 256, 128)
    thumbs = [files.ImageRecord("x", 0, "JPEG", 32, 32, "RGB")] * 10
    config = crops.choose_sizes(HuntConfig(), thumbs)
    assert (config.resize_mode, config.image_size, config.input) == ("resize", 32, "rgb")


def test_auto_convs_are_two_for_colour_images_and_one_for_grey_ones():
    colour = [files.ImageRecord("x", 0, "JPEG", 32, 32, "RGB")] * 5
    grey = [files.ImageRecord("x", 0, "PNG", 28, 28, mode) for mode in ("L", "L", "I;16", "LA", "RGB")]
    assert crops.choose_sizes(HuntConfig(), colour).convs == 2
    assert crops.choose_sizes(HuntConfig(), grey).convs == 1  # most of them are grey
    assert crops.choose_sizes(HuntConfig(convs=3), grey).convs == 3  # a choice is kept
    broken = [files.ImageRecord("x", 0, "", 0, 0, "", error="truncated")] * 9
    assert crops.auto_convs(broken + grey[:1]) == 1  # unreadable files do not vote
    from gradient_hunt.settings import SettingsError

    with pytest.raises(SettingsError, match="at least 1"):
        build_classifier(16, 2, convs=0)


def test_auto_input_is_residual_for_photographs_and_rgb_for_thumbnails():
    photos = [files.ImageRecord("x", 0, "JPEG", 300, 240, "RGB")] * 5
    digits = [files.ImageRecord("x", 0, "PNG", 28, 28, "L")] * 5
    assert crops.choose_sizes(HuntConfig(input="auto"), photos).input == "residual"
    assert crops.choose_sizes(HuntConfig(input="auto", resize_mode="crop"), photos).input == "residual"
    assert crops.choose_sizes(HuntConfig(input="auto"), digits).input == "rgb"
    assert crops.choose_sizes(HuntConfig(input="both"), digits).input == "both"  # a choice is kept
    assert crops.choose_sizes(HuntConfig(backbone="mobilenetv2"), photos).input == "rgb"  # backbones take RGB
    from gradient_hunt.settings import SettingsError

    with pytest.raises(SettingsError, match="unknown input"):
        build_classifier(16, 2, input_kind="auto")  # resolved before any model is built


def test_a_smaller_image_is_mirrored_in_crop_mode_not_padded_black_nor_upscaled(tmp_path):
    image = (np.arange(10 * 12 * 3).reshape(10, 12, 3) % 251).astype(np.uint8)  # every pixel distinct
    Image.fromarray(image).save(tmp_path / "small.png")
    out = files.load_pixels(tmp_path / "small.png", 24, "crop")
    assert out.shape == (24, 24, 3)
    rows = {tuple(p) for p in image.reshape(-1, 3)}
    assert {tuple(p) for p in out.reshape(-1, 3)} <= rows  # only the image's own pixels: no black, no interpolation
    lead_y, lead_x = (24 - 10) // 2 // 2 * 2, (24 - 12) // 2 // 2 * 2
    np.testing.assert_array_equal(out[lead_y : lead_y + 10, lead_x : lead_x + 12], image)  # at an even offset
    np.testing.assert_array_equal(out[lead_y - 1, lead_x : lead_x + 12], image[0])  # mirrored, edge row repeated


@pytest.mark.parametrize("side", [301, 302, 303])
def test_the_central_square_keeps_the_images_2x2_grid(tmp_path, side):
    cells = random_images(1, (side + 1) // 2)[0]
    upsampled = cells.repeat(2, 0).repeat(2, 1)[:side, :side]  # what a nearest-upsampling generator leaves
    Image.fromarray(upsampled).save(tmp_path / "gen.png")
    square = files.load_pixels(tmp_path / "gen.png", 100, "crop").astype("float32")
    assert np.abs(NPRResidual()(square[None]).numpy()).max() == 0  # an odd offset would show every trace


def planted(n, rng, size=32):
    """Class 1 has a bright 8x8 square somewhere on noise; class 0 is noise only."""
    x = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, size - 8, 2)
        x[i, r : r + 8, c : c + 8] = 255
    return x, y


def test_explain_heat_follows_a_planted_signal(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = planted(400, rng)
    model = build_classifier(32, 2, filters=16, depth=2)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    probe = rng.integers(0, 60, (4, 32, 32, 3)).astype(np.uint8)
    probe[:, 2:10, 20:28] = 255
    heat = heatmaps(model, probe)
    assert heat.shape == (4, 32, 32) and heat.min() >= 0 and heat.max() <= 1
    mask = np.zeros((32, 32), bool)
    mask[2:10, 20:28] = True
    inside, outside = heat[:, mask].mean(), heat[:, ~mask].mean()
    assert inside > 3 * outside, (inside, outside)
    probs = model.predict(x[:20], verbose=0)
    chosen, _ = explain_images(model, x[:20], probs, ["AI", "Real"], tmp_path / "explain.png", y_true=y[:20])
    assert (tmp_path / "explain.png").stat().st_size > 0 and chosen


def source_folder(root, ai_sources=("dcgan", "dense", "vae"), per_source=10, real=24, size=12):
    for k, g in enumerate(ai_sources):
        d = root / "Train" / "AI" / g
        d.mkdir(parents=True)
        for i in range(per_source):
            Image.fromarray(random_images(1, size, seed=100 * k + i)[0]).save(d / f"{i}.png")
    d = root / "Train" / "Real"
    d.mkdir(parents=True)
    for i in range(real):
        Image.fromarray(random_images(1, size, seed=500 + i)[0]).save(d / f"{i}.png")
    return root


def test_several_generators_validate_on_one_held_out_whole(tmp_path):
    from hunt_tf.splits import sources, validation_split

    folder = files.scan(source_folder(tmp_path), progress=False)
    labels = folder.labels
    origin = np.array(sources(folder))
    assert set(origin[labels == 0]) == {"dcgan", "dense", "vae"} and set(origin[labels == 1]) == {""}
    train_idx, val_idx, how, by_source = validation_split(folder, labels, 0.2, seed=0)
    held = set(origin[val_idx][labels[val_idx] == 0])
    assert len(held) == 1 and not held & set(origin[train_idx])  # one whole generator, never in training
    assert "leave-one-generator-out" in how and by_source
    assert (labels[val_idx] == 1).sum() == round(0.2 * 24)  # Real: a random share
    again = validation_split(folder, labels, 0.2, seed=0)
    np.testing.assert_array_equal(val_idx, again[1])
    _, random_val, how, by_source = validation_split(folder, labels, 0.2, seed=0, validation="random")
    assert "random" in how and not by_source and len(set(origin[random_val][labels[random_val] == 0])) > 1


def test_source_validation_without_sources_is_a_clear_error(tmp_path):
    from hunt_tf.errors import DataError
    from hunt_tf.splits import validation_split

    folder = files.scan(source_folder(tmp_path, ai_sources=("only",)), progress=False)
    assert "random" in validation_split(folder, folder.labels, 0.2, 0)[2]  # auto: one source -> random
    with pytest.raises(DataError, match="sub-folders"):
        validation_split(folder, folder.labels, 0.2, 0, validation="source")


def test_validation_source_trains_one_run_without_the_held_out_generator_and_says_so(tmp_path, capsys):
    import json

    from hunt_tf import cli

    data = source_folder(tmp_path / "data", size=8)
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), "--validation", "source", "--epochs", "1",
                     "--batch-size", "8", "--filters", "4", "--depth", "1", "--precision", "float32"]) == 0
    assert "also trains the submission's model on every source" in capsys.readouterr().out
    report = json.loads((run / "report" / "report.json").read_text())
    assert "leave-one-generator-out" in report["validation"] and "held_out" not in report
    assert report["threshold"] == 0.5 and not (run / "held-out").exists()


def test_the_estimate_follows_the_submission_and_needs_a_validation_share(tmp_path):
    import json
    import shutil

    from hunt_tf import cli
    from tests.conftest import read_rows

    data = source_folder(tmp_path / "data", size=8)
    (data / "Test").mkdir()
    for name in ("a.png", "a.jpg"):  # the same stem: only --ids name tells them apart
        Image.fromarray(random_images(1, 8, seed=7)[0]).save(data / "Test" / name)
    tiny = ["--epochs", "1", "--batch-size", "8", "--filters", "4", "--depth", "1", "--precision", "float32",
            "--members", "1"]
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), "--ids", "name", *tiny]) == 0
    assert {r["Id"] for r in read_rows(run / "submission.csv")} == {"a.png", "a.jpg"}
    assert "leave-one-generator-out" in json.loads((run / "report" / "report.json").read_text())["held_out"]["validation"]
    shutil.rmtree(data / "Test")  # no Test: the report still keeps the estimate
    assert cli.main(["train", str(data), "--run", str(run), "--fresh", *tiny]) == 0
    report = json.loads((run / "report" / "report.json").read_text())
    assert "held_out" in report and "submission" not in report
    assert cli.main(["train", str(data), "--run", str(run), "--fresh", "--val-split", "0", *tiny]) == 0
    assert not (run / "held-out").exists()  # nothing held out, nothing to estimate on


def test_the_estimate_gets_what_the_budget_left_and_random_validation_skips_it(tmp_path, monkeypatch):
    from hunt_tf import cli
    from hunt_tf import train as hunt_train

    limits = []  # the time limit each estimate was given
    monkeypatch.setattr(hunt_train, "held_out_estimate", lambda *args: limits.append(args[-1]))
    monkeypatch.setattr(hunt_train.ensemble, "AUTO_BUDGET_S", 1000.0)
    data = source_folder(tmp_path / "data", size=8)
    tiny = ["--epochs", "1", "--batch-size", "8", "--filters", "4", "--depth", "1", "--precision", "float32",
            "--members", "1"]
    assert cli.main(["train", str(data), "--run", str(tmp_path / "a"), *tiny]) == 0
    assert len(limits) == 1 and 900 < limits[0] < 1000  # the budget less the seconds this run trained
    assert cli.main(["train", str(data), "--run", str(tmp_path / "a"), *tiny]) == 0  # trained already
    assert limits[1] == 1000.0
    assert cli.main(["train", str(data), "--run", str(tmp_path / "b"), "--validation", "random", *tiny]) == 0
    assert len(limits) == 2  # random: every source trains, nothing to estimate


def test_resample_fakes_keep_content_add_traces_and_join_training_only():
    from gradient_hunt.settings import SettingsError
    from hunt_tf.extra_fakes import add_extra_fakes, made

    pixels = random_images(6, 16)
    labels = np.array([0, 0, 1, 1, 1, 0])
    extra = made(pixels[labels == 1], "resample", seed=3)
    assert extra.shape == (3, 16, 16, 3) and extra.dtype == np.uint8
    np.testing.assert_array_equal(extra, made(pixels[labels == 1], "resample", seed=3))  # reproducible
    assert not np.array_equal(extra, pixels[labels == 1])
    x, y = add_extra_fakes("resample", pixels, labels, ["AI", "Real"], seed=3)
    assert len(x) == 9 and (y[6:] == 0).all()  # one AI example per Real image
    np.testing.assert_array_equal(x[:6], pixels)
    assert add_extra_fakes("none", pixels, labels, ["AI", "Real"])[0] is pixels
    with pytest.raises(SettingsError, match="Real"):
        add_extra_fakes("resample", pixels, labels, ["cats", "dogs"])


def test_noise_fakes_speckle_every_pixel_independently_and_keep_grey_images_grey():
    from hunt_tf.extra_fakes import made

    def noised(images, seed):
        return made(images, "noise", seed)

    grey = np.repeat(random_images(4, 16)[..., :1], 3, axis=-1)
    grey[:, :4] = 0  # a clean background, as real digits and clothes have
    extra = noised(grey, seed=1)
    assert extra.shape == grey.shape and extra.dtype == np.uint8
    np.testing.assert_array_equal(extra, noised(grey, seed=1))  # reproducible
    assert (extra == extra[..., :1]).all()  # grey stays grey: colour would be a shortcut
    assert (extra[:, :4] > 0).mean() > 0.2  # the background is speckled too
    diff = extra[..., 0].astype(int) - grey[..., 0]
    # independent per pixel: neighbouring differences are uncorrelated (a blur would correlate them)
    centred = diff[:, 4:, :] - diff[:, 4:, :].mean()
    assert abs(np.mean(centred[:, :, 1:] * centred[:, :, :-1])) < 0.2 * np.mean(centred**2)
    colour = random_images(2, 16)
    assert not (noised(colour, seed=0) == noised(colour, seed=0)[..., :1]).all()  # colour: per channel


def test_mixed_extra_fakes_make_one_of_each_kind_per_image_and_unknown_names_are_refused():
    from gradient_hunt.settings import SettingsError
    from hunt_tf.extra_fakes import add_extra_fakes, made

    pixels = np.repeat(random_images(5, 16)[..., :1], 3, axis=-1)
    mixed = made(pixels, "resample+noise", seed=2)
    assert mixed.shape == (10, 16, 16, 3)

    def roughness(images):  # mean step between neighbours: resampling lowers it, noise raises it
        return np.abs(np.diff(images[..., 0].astype(int), axis=2)).mean(axis=(1, 2))

    assert (roughness(mixed[:5]) < roughness(pixels)).all()  # the resampled half, in image order
    assert not np.array_equal(mixed[5:], pixels)
    assert made(pixels, "none").shape == (0, 16, 16, 3)
    x, y = add_extra_fakes("resample+noise", pixels, np.ones(5, int), ["AI", "Real"])
    assert len(x) == 15 and (y[5:] == 0).all()
    for refused in ("blur", "noise+resample", "auto"):  # what the command line refuses, or unresolved
        with pytest.raises(SettingsError, match=re.escape(f"unknown extra fakes '{refused}'")):
            add_extra_fakes(refused, pixels, np.ones(5, int), ["AI", "Real"])


def test_auto_extra_fakes_are_for_small_images_with_a_real_class():
    from hunt_tf.extra_fakes import resolve

    assert resolve("auto", 28, ["AI", "Real"]) == "resample"
    assert resolve("auto", 256, ["AI", "Real"]) == "none"  # photographs: measured no gain
    assert resolve("auto", 28, ["cats", "dogs"]) == "none"  # nothing to call real: skipped, not an error
    assert resolve("resample", 256, ["AI", "Real"]) == "resample"  # an explicit choice is kept


def test_a_crop_residual_run_with_extra_fakes_trains_predicts_and_explains(tmp_path, capsys, monkeypatch):
    import json

    from hunt_tf import cli
    from hunt_tf import train as hunt_train
    from tests.conftest import read_rows

    # The estimate's network trains in what the ensemble's budget left: here one epoch, the limit then past.
    monkeypatch.setattr(hunt_train.ensemble, "AUTO_BUDGET_S", 0.0)
    monkeypatch.setattr(hunt_train, "ESTIMATE_MIN_S", 1e-6)

    data = source_folder(tmp_path / "data", size=40)
    (data / "Test").mkdir()
    for i in range(5):
        Image.fromarray(random_images(1, 48 + i, seed=900 + i)[0]).save(data / "Test" / f"t{i}.png")
    run = tmp_path / "run"
    args = ["--epochs", "2", "--batch-size", "8", "--filters", "4", "--depth", "2", "--precision", "float32",
            "--resize-mode", "crop", "--image-size", "16", "--input", "both", "--extra-fakes", "resample",
            "--members", "1"]
    assert cli.main(["train", str(data), "--run", str(run), *args]) == 0
    out = capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert (config["source_size"], config["image_size"]) == (40, 16)
    # Generator sub-folders: the submission's model trains on every source; RUN/held-out trains
    # one network without one of them, for the estimate on a generator training never saw.
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["validation"].startswith("random") and report["n_validation"] == 11 and "submission" in report
    held = report["held_out"]
    assert "leave-one-generator-out" in held["validation"] and held["n_validation"] == 15  # 10 of one source + 5 real
    assert held["run"] == str(run / "held-out") and "held-out source: accuracy" in out
    assert json.loads((run / "held-out" / "config.json").read_text())["members"] == 1
    assert "time limit: stopped after epoch 1 of 2" in out
    assert len((run / "held-out" / "history.csv").read_text().splitlines()) == 2  # a header and 1 epoch
    assert len((run / "history.csv").read_text().splitlines()) == 3  # the submission's network: 2 epochs, no limit
    assert not (run / "held-out" / "submission.csv").exists()  # the estimate predicts nothing
    # no cut is fitted to a held-out generator: it would describe that generator only
    assert held["threshold"] == 0.5 and json.loads((run / "held-out" / "decision.json").read_text())["threshold"] == 0.5
    assert cli.main(["train", str(data), "--run", str(run), *args]) == 0  # again: both re-reported, none retrained
    assert capsys.readouterr().out.count("already holds this trained run") == 2
    assert json.loads((run / "report" / "report.json").read_text())["held_out"] == held
    assert (run / "report" / "explain.png").exists()
    assert cli.main(["predict", "--run", str(run), "--images", str(data / "Test"), "--out", str(tmp_path / "p.csv")]) == 0
    assert read_rows(tmp_path / "p.csv") == read_rows(run / "submission.csv")  # tiles: the same answer twice
    assert cli.main(["evaluate", "--run", str(run), "--data", str(data)]) == 0
    assert json.loads((run / "evaluation" / "report.json").read_text())["n_validation"] == 54
    (data / "Train" / "AI" / "dense" / "broken.png").write_bytes(b"")  # explain skips it, with its label
    assert cli.main(["explain", "--run", str(run), "--images", str(data / "Train"), "--out", str(tmp_path / "ex")]) == 0
    assert (tmp_path / "ex" / "explain.png").stat().st_size > 0
    # A crop-mode run saved before source_size existed still predicts (at its image size).
    saved = json.loads((run / "config.json").read_text())
    del saved["source_size"]
    (run / "config.json").write_text(json.dumps(saved))
    assert cli.main(["predict", "--run", str(run), "--images", str(data / "Test"), "--out", str(tmp_path / "q.csv")]) == 0
    assert len(read_rows(tmp_path / "q.csv")) == 5


def test_a_run_saved_before_a_setting_existed_loads_with_what_it_was_made_with(tmp_path):
    saved = {k: v for k, v in HuntConfig().__dict__.items() if k not in ("validation", "input")}
    (tmp_path / "config.json").write_text(__import__("json").dumps(saved))
    old = HuntConfig.load(tmp_path / "config.json")
    assert (old.validation, old.input) == ("random", "rgb")


def test_auto_head_keeps_the_layout_of_whole_images_and_pools_crops_and_tiny_images():
    thumbs = [files.ImageRecord("x", 0, "JPEG", 96, 96, "RGB")] * 5
    photos = [files.ImageRecord("x", 0, "JPEG", 300, 240, "RGB")] * 5
    digits = [files.ImageRecord("x", 0, "PNG", 28, 28, "L")] * 5
    assert crops.choose_sizes(HuntConfig(), thumbs).head == "flatten"  # resized whole, 96 px
    assert crops.choose_sizes(HuntConfig(), photos).head == "gap"  # native crops: position means nothing
    assert crops.choose_sizes(HuntConfig(resize_mode="resize"), photos).head == "flatten"
    assert crops.choose_sizes(HuntConfig(), digits).head == "gap"  # under RESIDUAL_MIN_SIDE
    assert crops.choose_sizes(HuntConfig(image_size=63), thumbs).head == "gap"
    assert crops.choose_sizes(HuntConfig(image_size=64), thumbs).head == "flatten"  # the boundary: 64 px and up
    assert crops.choose_sizes(HuntConfig(resize_mode="pad"), thumbs).head == "flatten"  # pad keeps the whole image
    assert crops.choose_sizes(HuntConfig(head="gap"), thumbs).head == "gap"  # a choice is kept
    assert crops.choose_sizes(HuntConfig(backbone="mobilenetv2"), thumbs).head == "gap"  # backbones pool themselves


@pytest.mark.parametrize("head, layer", [("gap", "pool"), ("flatten", "flatten")])
def test_each_head_builds_a_model_that_saves_and_predicts_the_same(head, layer, tmp_path):
    model = build_classifier(16, 2, filters=4, depth=2, head=head)
    assert model.get_layer(layer)
    hidden = [lay.name for lay in model.layers if lay.name == "hidden"]
    assert hidden == (["hidden"] if head == "flatten" else [])
    assert_saves_and_predicts_the_same(model, tmp_path)


def test_the_flatten_head_sees_where_a_feature_is_and_gap_does_not():
    """The same bright square in two places (away from the borders, 16 px apart: a whole number
    of the pooled cells) on black: RGB input, so the background's features are exactly zero and
    global pooling cannot tell the images apart; flatten can."""
    import keras

    keras.utils.set_random_seed(0)
    pair = np.zeros((2, 32, 32, 3), np.uint8)
    pair[0, 6:10, 6:10], pair[1, 22:26, 22:26] = 255, 255
    for head, differ in (("gap", False), ("flatten", True)):
        model = build_classifier(32, 2, filters=4, depth=2, head=head, batchnorm=False, dropout=0.0, input_kind="rgb")
        probs = model.predict(pair.astype("float32"), verbose=0)
        assert (not np.allclose(probs[0], probs[1], atol=1e-5)) == differ, head


def test_the_flatten_head_is_for_the_scratch_cnn_only():
    from gradient_hunt.settings import SettingsError

    with pytest.raises(SettingsError, match="cnn backbone"):
        build_classifier(32, 2, backbone="mobilenetv2", head="flatten")
    with pytest.raises(SettingsError, match="unknown head"):
        build_classifier(16, 2, head="auto")  # resolved before any model is built
