"""The unlike-reals check (hunt_tf.unlike_reals): Test images unlike Train's real images are called AI."""

import json

import numpy as np
import pytest

from gradient_hunt.settings import SettingsError
from hunt_tf import cli, unlike_reals
from hunt_tf.config import HuntConfig
from tests.conftest import read_rows, write_messy_folder

TINY = ["--epochs", "1", "--batch-size", "8", "--filters", "4", "--depth", "1", "--image-size", "16",
        "--precision", "float32", "--val-split", "0.3", "--members", "1", "--self-train", "0"]


def blobs(n, seed, checker=0.0):
    """Smooth random grey images, 16 px; with `checker`, plus a 2-pixel checkerboard of that many grey levels
    (a transposed convolution's trace), which nothing in Train shows."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 215, (n, 4, 4))
    images = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    images += checker * (np.indices((16, 16)).sum(axis=0) % 2)[None]
    return np.repeat(np.clip(images, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def test_cross_fitting_halves_are_even_and_seeded():
    h = unlike_reals.halves(11, seed=3)
    assert sorted(np.bincount(h)) == [5, 6] and np.array_equal(h, unlike_reals.halves(11, seed=3))
    assert not np.array_equal(h, unlike_reals.halves(11, seed=4))


def test_fakes_of_a_generator_no_training_image_came_from_are_called_ai_and_real_ones_are_not():
    reals = blobs(240, seed=0)
    test = np.concatenate([blobs(120, seed=1), blobs(120, seed=2, checker=24.0)])  # real, then fake
    called_real = np.ones(len(test), bool)  # the detector called all of them Real
    called_real[-20:] = False  # ... but these 20 AI already
    ai = unlike_reals.unlike_reals(reals, test, called_real, seed=0)
    assert ai[120:220].mean() > 0.8  # the fakes it was asked about
    assert ai[:120].mean() <= 0.05  # at most CAP of real images
    assert not ai[~called_real].any()  # only ever what the detector called Real


def test_nothing_moves_where_test_holds_only_images_like_trains_reals():
    reals, test = blobs(240, seed=0), blobs(240, seed=5)
    assert not unlike_reals.unlike_reals(reals, test, np.ones(len(test), bool), seed=1).any()
    assert not unlike_reals.unlike_reals(reals, test, np.zeros(len(test), bool)).any()  # nothing called Real
    assert not unlike_reals.unlike_reals(reals[:10], test, np.ones(len(test), bool)).any()  # too few to tell


def test_realness_is_the_log_odds_of_train_reals_and_stays_finite():
    r = unlike_reals.realness([0.5, 0.1, 1.0, 0.0])
    assert r[0] == pytest.approx(0.0) and r[1] == pytest.approx(np.log(9)) and np.isfinite(r).all() and r[2] < r[3]


def write_folder(root, n_real=240, n_test=120):
    """Train/Real and Train/AI of smooth images (AI: dark ones, a trace a tiny detector learns at once),
    Test: smooth images, then bright ones with a 24-level checkerboard (a generator Train never
    showed: the detector calls them Real), then a broken file."""
    from PIL import Image

    parts = {"Train/Real": blobs(n_real, seed=0), "Train/AI": blobs(n_real, seed=3) // 4,
             "Test": np.concatenate([blobs(n_test, seed=1), blobs(n_test, seed=2, checker=24.0)])}
    for part, images in parts.items():
        (root / part).mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(root / part / f"{i:03d}.png")
    (root / "Test" / "broken.png").write_bytes(b"not a png")
    return root


def test_the_check_rewrites_a_submission_with_the_fakes_it_finds(tmp_path, capsys):
    from hunt_tf import files
    from hunt_tf.config import HuntConfig
    from hunt_tf.predict import submission_ids, write_submission

    folder = files.scan(write_folder(tmp_path / "data"), progress=False)
    ids = submission_ids(folder.test, folder.test_dir)
    run = tmp_path / "run"
    run.mkdir()
    said = ["Real"] * 220 + ["AI"] * 20 + ["AI"]  # the detector's answers: 20 fakes caught; the broken file
    write_submission(run / "submission.csv", ids, said)
    config = HuntConfig(image_size=16, resize_mode="resize")
    report = unlike_reals.check_submission(run, folder, config, ids, {"accuracy": 1.0})
    answers = [row["Label"] for row in read_rows(run / "submission.csv")]
    assert report["accuracy"] == 1.0 and report["unlike_reals"]["of_called_real"] == 220
    assert sum(a == "AI" for a in answers[120:220]) > 80  # the fakes called Real: most now AI
    assert sum(a == "AI" for a in answers[:120]) <= 6  # real images: at most CAP of them
    assert answers[220:] == said[220:]  # called AI stays AI; the undecodable file keeps its answer
    assert report["unlike_reals"]["called_ai"] == sum(a != b for a, b in zip(answers, said))
    assert "are unlike Train's real images" in capsys.readouterr().out
    write_submission(run / "submission.csv", ids, said)
    report = unlike_reals.check_submission(run, folder, HuntConfig(image_size=64, resize_mode="resize"), ids, {})
    assert report["unlike_reals"]["skipped"] == "images decoded at 64 px; it was measured under 64 px only"
    assert [row["Label"] for row in read_rows(run / "submission.csv")] == said  # untouched


def test_a_run_with_the_check_says_when_it_cannot_and_keeps_the_setting(tmp_path, capsys):
    data = write_messy_folder(tmp_path / "data")  # 6 Train reals: too few
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0
    assert "unlike-reals" not in capsys.readouterr().out  # off by default
    assert "unlike_reals" not in json.loads((run / "report" / "report.json").read_text())
    assert cli.main(["train", str(data), "--run", str(run), *TINY, "--unlike-reals", "on"]) == 0  # the trained run
    out = capsys.readouterr().out
    assert "already holds this trained run" in out
    assert "unlike-reals check skipped: 6 Train reals and 5 decodable test images; it needs 40 of each" in out
    assert json.loads((run / "report" / "report.json").read_text())["unlike_reals"]["called_ai"] == 0
    assert cli.main(["train", str(data), "--run", str(run), *TINY]) == 0  # kept: checked again
    assert "unlike-reals check skipped" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse refuses it
        cli.main(["train", str(data), "--run", str(tmp_path / "x"), *TINY, "--unlike-reals", "maybe"])
    with pytest.raises(SettingsError, match="unknown unlike reals 'maybe'; choose from off, on"):
        HuntConfig.from_dict({"unlike_reals": "maybe"})  # as from a JSON file


def test_a_run_with_the_check_answers_the_same_when_it_predicts_again(tmp_path, capsys):
    data = write_folder(tmp_path / "data")
    run = tmp_path / "run"
    answers = []
    for _ in range(2):  # trains, then re-predicts the finished run (the setting kept)
        assert cli.main(["train", str(data), "--run", str(run), *TINY, "--epochs", "3", "--unlike-reals", "on"]) == 0
        assert "test images called Real are unlike Train's real images" in capsys.readouterr().out
        answers.append([row["Label"] for row in read_rows(run / "submission.csv")])
        assert json.loads((run / "report" / "report.json").read_text())["unlike_reals"]["called_ai"] > 80
    assert answers[0] == answers[1]  # the check starts from the detector's answers each time: nothing piles up
    assert sum(a == "AI" for a in answers[0][120:240]) > 100 and sum(a == "AI" for a in answers[0][:120]) <= 6
