"""hunt-tf run directories, submission ids, and files that are not what they seem."""

import json
import os
import shutil

import pytest

from hunt_tf import cli, files
from hunt_tf.errors import DataError
from hunt_tf.predict import submission_ids
from tests.conftest import read_rows, rgb_image, write_messy_folder

TINY = ["--epochs", "1", "--batch-size", "8", "--filters", "4", "--depth", "1", "--image-size", "16",
        "--precision", "float32", "--val-split", "0.3", "--members", "1"]


@pytest.fixture
def data(tmp_path):
    return write_messy_folder(tmp_path / "data")


def test_rerunning_a_run_re_predicts_and_other_settings_are_refused(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0
    history = (run / "history.csv").read_text()
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0  # same settings: nothing is retrained
    assert "already holds this trained run" in capsys.readouterr().out
    assert (run / "history.csv").read_text() == history  # not appended to
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--dropout", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "dropout=0.3 (asked: 0.1)" in err and "--fresh" in err
    assert json.loads((run / "config.json").read_text())["dropout"] == 0.3  # the run's record is untouched
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--dropout", "0.1", "--fresh"]) == 0
    assert json.loads((run / "config.json").read_text())["dropout"] == 0.1
    assert len((run / "history.csv").read_text().splitlines()) == 2  # header + its one epoch


def test_undecodable_test_files_get_the_majority_class_in_train_and_predict(tmp_path):
    data = write_messy_folder(tmp_path / "data")  # AI has extra files, but Real...
    for i in range(20):  # ...gets many more readable ones: Real is the majority
        rgb_image(300 + i).save(data / "Train" / "Real" / f"more_{i}.png")
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0
    assert json.loads((run / "decision.json").read_text())["fallback_class"] == 1
    assert {r["Id"]: r["Label"] for r in read_rows(run / "submission.csv")}["broken"] == "Real"
    out = tmp_path / "sub.csv"
    assert cli.main(["predict", "--run", str(run), "--images", str(data / "Test"), "--out", str(out)]) == 0
    assert {r["Id"]: r["Label"] for r in read_rows(out)}["broken"] == "Real"  # was class 0 ("AI") in predict


def test_ids_that_would_collide_are_an_error_naming_the_files(tmp_path):
    test = tmp_path / "Test"
    (test / "a").mkdir(parents=True)
    (test / "b").mkdir()
    rgb_image(1).save(test / "image_1.jpg", format="JPEG")
    rgb_image(2).save(test / "image_1.png")
    rgb_image(3).save(test / "a" / "x.png")
    rgb_image(4).save(test / "b" / "x.png")
    records = files.scan_images(test, progress=False)
    with pytest.raises(DataError, match=r"2 submission id\(s\) would appear twice: 'x' <- a/x.png, b/x.png; "
                                        r"'image_1' <- image_1.jpg, image_1.png; .* --ids name\|path"):
        submission_ids(records, test, "stem")
    with pytest.raises(DataError, match=r"'x.png' <- a/x.png, b/x.png; choose how ids are formed with --ids path"):
        submission_ids(records, test, "name")
    assert submission_ids(records, test, "path") == ["a/x.png", "b/x.png", "image_1.jpg", "image_1.png"]


def test_a_colliding_test_folder_stops_training_before_it_starts(data, tmp_path, capsys):
    rgb_image(7).save(data / "Test" / "img_0.jpg", format="JPEG")  # img_0.png is there already
    assert cli.main(["train", str(data), "--run", str(tmp_path / "run"), *TINY]) == 2
    assert "would appear twice" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.keras").exists()
    assert cli.main(["train", str(data), "--run", str(tmp_path / "run"), *TINY, "--ids", "name"]) == 0
    ids = [r["Id"] for r in read_rows(tmp_path / "run" / "submission.csv")]
    assert "img_0.jpg" in ids and "img_0.png" in ids


def test_junk_files_are_not_test_images_and_a_broken_link_is_named(data):
    (data / "Test" / "Thumbs.db").write_bytes(b"\x00" * 64)
    (data / "Test" / "desktop.ini").write_text("[.ShellClassInfo]")
    (data / "Test" / ".DS_Store").write_bytes(b"\x00")
    os.symlink(data / "Test" / "gone.png", data / "Test" / "link.png")
    with pytest.warns(UserWarning, match=r"link.png \(broken symlink\)"):
        folder = files.scan(data, progress=False)
    names = sorted(r.path.rsplit("/", 1)[-1] for r in folder.test)
    assert names == ["broken.jpg", "img_0.png", "img_1.png", "img_2.png", "img_3.png", "link.png", "webp_test.jpg"]


def test_an_empty_class_folder_is_not_a_class(data):
    (data / "Train" / "Unused").mkdir()
    with pytest.warns(UserWarning, match="ignoring empty class folder"):
        folder = files.scan(data, progress=False)
    assert folder.class_names == ["AI", "Real"]


def test_a_too_large_image_is_skipped_and_named(data, monkeypatch):
    from gradient_hunt import images

    monkeypatch.setattr(images, "MAX_PIXELS", 150 * 150)
    rgb_image(9, (200, 200)).save(data / "Train" / "Real" / "poster.png")
    with pytest.warns(UserWarning, match=r"poster.png \(too large to decode: 200x200"):
        folder = files.scan(data, progress=False)
    assert "poster.png" not in {r.path.rsplit("/", 1)[-1] for r in folder.train}


def test_a_dangling_training_link_is_skipped_with_a_warning(data):
    os.symlink(data / "nowhere.png", data / "Train" / "AI" / "dangling.png")
    shutil.rmtree(data / "Test")
    with pytest.warns(UserWarning, match=r"dangling.png \(broken symlink\)"):
        files.scan(data, progress=False)


def test_a_class_folder_of_unreadable_files_is_not_a_class(data):
    junk = data / "Train" / "Notes"
    junk.mkdir()
    (junk / "a.txt").write_text("not an image")
    (junk / "b.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="no readable image: Notes"):
        folder = files.scan(data, progress=False)
    assert folder.class_names == ["AI", "Real"] and set(folder.labels.tolist()) == {0, 1}
