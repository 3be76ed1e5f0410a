import warnings

import numpy as np
import pytest

from gan_tf import datasets
from gan_tf.datasets import DatasetError
from tests.conftest import fresh_python, toy_digits, write_idx


def test_unknown_dataset_name_raises_a_clear_error():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'; choose from mnist, mnist5k"):
        datasets.load("cifar")


def test_mnist5k_is_the_real_subset_with_500_digits_per_class():
    data = datasets.load("mnist5k")
    assert data.images.shape == (5000, 28, 28, 1) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [500] * 10
    assert data.images.max() == 255 and data.num_classes == 10


def test_mnist_falls_back_to_the_5k_subset_offline_with_a_warning(monkeypatch, capsys):
    import keras

    def offline():
        print("Downloading data from https://storage.googleapis.com/...")  # what Keras says first
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.warns(UserWarning, match=r"full MNIST unavailable \(URL fetch failure: Name or service not known\)"):
        data = datasets.load("mnist")
    assert len(data.images) == 5000
    assert "Downloading" not in capsys.readouterr().out  # no promise of a download that then fails


def test_fashion_offline_without_debian_files_says_what_to_install(monkeypatch, tmp_path):
    import keras

    monkeypatch.setattr(datasets, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        datasets.load("fashion")


def test_loading_a_dataset_through_keras_in_a_script_prints_no_tensorflow_start_up_lines(tmp_path):
    # A notebook or script that only loads data imports Keras first here: TensorFlow's oneDNN and
    # CUDA lines must stay out of its output, as they do for the CLIs. Keras' own Fashion-MNIST
    # loader reads the four files from its cache (KERAS_HOME) when they are there: no download.
    images, labels = toy_digits(20)
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for split in ("train", "t10k"):
        write_idx(cache / f"{split}-images-idx3-ubyte.gz", images[..., 0])
        write_idx(cache / f"{split}-labels-idx1-ubyte.gz", labels)
    code = ("import sys; from gan_tf import datasets; from pathlib import Path; "
            f"datasets.DEBIAN_FASHION_DIR = Path({str(tmp_path / 'absent')!r}); "
            "print(datasets.load('fashion').images.shape); assert 'keras' in sys.modules")
    done = fresh_python(code, KERAS_HOME=str(tmp_path / "keras"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(40, 28, 28, 1)"
    assert done.stderr == ""


def test_idx_directory_loads_images_and_labels(idx_dir):
    data = datasets.load(f"idx:{idx_dir}")
    assert data.images.shape == (200, 28, 28, 1)
    assert data.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_truncated_idx_file_is_named_in_the_error(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        datasets.load(f"idx:{tmp_path}")


def test_missing_directories_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="IDX directory not found"):
        datasets.load(f"idx:{tmp_path / 'nope'}")
    with pytest.raises(DatasetError, match="image folder not found"):
        datasets.load(f"folder:{tmp_path / 'nope'}")


def test_image_folder_uses_subfolders_as_labels_and_skips_broken_files(tmp_path):
    from PIL import Image

    for digit in ("three", "seven"):
        (tmp_path / digit).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 32), (i * 80, 0, 0)).save(tmp_path / digit / f"{i}.png")
    (tmp_path / "seven" / "broken.jpg").write_bytes(b"not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = datasets.load(f"folder:{tmp_path}")
    assert data.images.shape == (6, 32, 40, 3)  # their own shared size; colour kept
    assert sorted(data.labels.tolist()) == [0, 0, 0, 1, 1, 1]  # seven=0, three=1 (sorted names)
    assert any("broken.jpg" in str(w.message) for w in caught)


def test_training_pipeline_scales_to_minus_one_one():
    images = np.stack([np.zeros((28, 28, 1)), np.full((28, 28, 1), 255)]).astype(np.uint8)
    batch = next(iter(datasets.to_training_pipeline(images, np.array([0, 1]), batch_size=2, conditional=True)))
    x, y = batch
    assert sorted([float(x[i].numpy().mean()) for i in range(2)]) == [-1.0, 1.0]
    assert sorted(y.numpy().tolist()) == [0, 1]


def test_training_pipeline_keeps_to_one_thread_and_repeats_its_order():
    # tf.data's default pool and autotuner took cores from the train step on 2 CPUs (half-speed
    # epochs): the options catch a return to them; the order (same seed, same batches, every
    # image once) must survive the change, as the old parallel map kept it too.
    images = np.arange(8 * 28 * 28, dtype=np.uint8).reshape(8, 28, 28, 1)
    ds = datasets.to_training_pipeline(images, np.arange(8), batch_size=4, seed=3, conditional=True)
    assert ds.options().threading.private_threadpool_size == 1 and ds.options().autotune.enabled is False
    order = [y.numpy().tolist() for _, y in ds]
    again = [y.numpy().tolist() for _, y in datasets.to_training_pipeline(images, np.arange(8), batch_size=4, seed=3,
                                                                          conditional=True)]
    assert order == again and sorted(sum(order, [])) == list(range(8))
