"""Messy competition folders: every file kind is made here, in fixtures."""

import warnings

import numpy as np
import pytest
from PIL import Image

from hunt_tf import audit, files
from hunt_tf.files import DataError
from tests.conftest import rgb_image, write_messy_folder


@pytest.fixture
def messy(tmp_path):
    return write_messy_folder(tmp_path / "data")


def test_scan_decodes_by_content_and_names_unreadable_files(messy):
    from hunt_tf.splits import decode_training_images

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = files.scan(messy, progress=False)
        formats = {r.path.rsplit("/", 1)[-1]: r.format for r in folder.train}
        pixels, labels = decode_training_images(folder, 16, "resize")  # truncated files fail here
    assert formats["webp_in_disguise.jpg"] == "WEBP" and formats["avif_in_disguise.jpg"] == "AVIF"
    assert {r.path.rsplit("/", 1)[-1] for r in folder.skipped} == {"empty.jpg", "truncated.png", "notes.txt"}
    message = " ".join(str(w.message) for w in caught)
    assert "empty.jpg (empty file)" in message and "truncated.png" in message and "broken.jpg" in message
    assert len(folder.train) == 17 == len(pixels) == len(labels) and folder.class_names == ["AI", "Real"]
    assert len(folder.test) == 6  # the broken test file is kept: it still gets a row


@pytest.mark.parametrize("mode", files.DECODE_MODES)
def test_every_kind_of_image_decodes_to_uint8rgb_image(messy, mode):
    folder = files.scan(messy, progress=False)
    pixels, ok = files.decode_all(folder.train, 24, mode, progress=False)
    assert pixels.shape == (len(folder.train), 24, 24, 3) and pixels.dtype == np.uint8
    assert [r.path.rsplit("/", 1)[-1] for r, good in zip(folder.train, ok) if not good] == ["truncated.png"]


def test_sixteen_bit_images_are_scaled_not_clipped(messy):
    pixels = files.load_pixels(messy / "Train" / "AI" / "sixteen_bit.png", 30, "crop")
    assert 0 < pixels.mean() < 250 and len(np.unique(pixels)) > 10


def test_crop_keeps_native_pixels_and_mirrors_small_images(tmp_path):
    img = np.zeros((10, 50, 3), np.uint8)
    img[:, 24:26] = 255
    Image.fromarray(img).save(tmp_path / "wide.png")
    out = files.load_pixels(tmp_path / "wide.png", 20, "crop")
    # the central square starts at an even offset (14): the bright columns land at 10-11, unblurred
    assert out[5, 10:12].tolist() == [[255] * 3] * 2 and out[5, 9].max() == 0 and out[5, 12].max() == 0
    assert (out[0] == out[5]).all() and (out[-1] == out[5]).all()  # mirrored above and below, not black


def test_other_class_names_and_test_images_folder(tmp_path):
    root = write_messy_folder(tmp_path / "d", classes=("cats", "dogs", "foxes"), test_dir="Test_Images")
    folder = files.scan(root, progress=False)
    assert folder.class_names == ["cats", "dogs", "foxes"] and len(folder.test) == 6


def test_single_class_or_empty_train_is_a_clear_error(tmp_path):
    (tmp_path / "one" / "Train" / "AI").mkdir(parents=True)
    rgb_image(0).save(tmp_path / "one" / "Train" / "AI" / "a.png")
    (tmp_path / "one" / "Train" / "Real").mkdir()
    with pytest.raises(DataError, match=r"at least two class folders with images; found: AI \(1 files\), Real \(0"):
        files.scan(tmp_path / "one")
    (tmp_path / "empty" / "Train").mkdir(parents=True)
    with pytest.raises(DataError, match="found: none"):
        files.scan(tmp_path / "empty")
    with pytest.raises(DataError, match="no Train/ folder"):
        files.scan(tmp_path)
    with pytest.raises(DataError, match="data folder not found"):
        files.scan(tmp_path / "absent")


def test_default_image_size_follows_the_data():
    rec = lambda w, h: files.ImageRecord("x", 0, "PNG", w, h, "L")  # noqa: E731
    assert files.default_image_size([rec(28, 28)] * 3) == 28
    assert files.default_image_size([rec(512, 512), rec(60, 80), rec(300, 400)]) == 128


def test_audit_finds_the_format_shortcut(tmp_path):
    # Round 1 of the real competition: AI = big PNG, Real = small JPEG.
    for i in range(10):
        (tmp_path / "Train" / "AI").mkdir(parents=True, exist_ok=True)
        (tmp_path / "Train" / "Real").mkdir(parents=True, exist_ok=True)
        rgb_image(i, (64, 64)).save(tmp_path / "Train" / "AI" / f"{i}.png")
        rgb_image(50 + i, (32, 24)).save(tmp_path / "Train" / "Real" / f"{i}.jpg", format="JPEG")
    result = audit.audit(files.scan(tmp_path, progress=False))
    assert result["shortcut"] and result["traits"]["format"] == 1.0 and result["traits"]["size"] == 1.0
    assert "SHORTCUT" in audit.format_audit(result)


def test_audit_is_quiet_when_metadata_is_balanced(tmp_path):
    for name in ("AI", "Real"):
        (tmp_path / "Train" / name).mkdir(parents=True)
        for i in range(10):
            rgb_image(i + len(name), (32, 32)).save(tmp_path / "Train" / name / f"{i}.png")
    result = audit.audit(files.scan(tmp_path, progress=False))
    assert not result["shortcut"] and result["all_metadata"] <= 0.6
