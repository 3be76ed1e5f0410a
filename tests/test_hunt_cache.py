"""The disk cache of decoded pixels (`--cache disk`): same data as memory, reused, rebuilt, bounded."""

import dataclasses
import json
import os

import numpy as np
import pytest

from hunt_tf import cache as cache_module
from hunt_tf import cli, files, predict
from hunt_tf.cache import CachedRows, PixelCache, choose_cache
from hunt_tf.config import HuntConfig
from hunt_tf.rows import TrainingRows, decode_train, subset, validation_dataset
from tests.conftest import read_rows, write_messy_folder


@pytest.fixture
def data(tmp_path):
    return write_messy_folder(tmp_path / "data", per_class=8)


def decodable(folder_root, size=16, mode="resize"):
    folder = files.scan(folder_root, progress=False)
    pixels, ok = files.decode_all(folder.train, size, mode, progress=False)
    return folder, pixels, ok


def test_cached_rows_are_the_decoded_pixels_and_bad_files_stay_marked(data, tmp_path):
    folder, pixels, ok = decodable(data)
    store = PixelCache.build(files.scan(data, progress=False).train, 16, "resize", root=tmp_path / "c", progress=False)
    np.testing.assert_array_equal(store.ok, ok)
    np.testing.assert_array_equal(store.rows(np.arange(len(ok))), pixels)
    view = CachedRows(store, np.flatnonzero(ok)).take([2, 0])
    np.testing.assert_array_equal(view[1], pixels[np.flatnonzero(ok)[0]])
    np.testing.assert_array_equal(view[:], pixels[np.flatnonzero(ok)[[2, 0]]])
    # Reused, the cache still says which file did not decode (a truncated PNG passes the header check).
    records = files.scan(data, progress=False).train
    PixelCache.build(records, 16, "resize", root=tmp_path / "c", progress=False)
    assert [r.error for r in records if r.error] == [r.error for r in folder.train if r.error] != []


def test_a_cache_is_reused_and_rebuilt_when_a_file_or_the_size_changes(data, tmp_path, monkeypatch):
    records = files.scan(data, progress=False).train
    first = PixelCache.build(records, 16, "resize", root=tmp_path, progress=False)
    decodes = []
    original = cache_module.decode_all
    monkeypatch.setattr(cache_module, "decode_all", lambda *a, **k: decodes.append(1) or original(*a, **k))
    assert PixelCache.build(records, 16, "resize", root=tmp_path, progress=False).path == first.path
    assert not decodes  # found, not decoded again
    assert PixelCache.build(records, 24, "resize", root=tmp_path, progress=False).path != first.path
    changed = records[0].path
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10**9))
    assert PixelCache.build(records, 16, "resize", root=tmp_path, progress=False).path != first.path
    assert len(decodes) == 2
    assert not list(tmp_path.glob("*.tmp*"))  # every build was renamed into place whole


def test_records_are_split_across_shards_and_stream_back_in_full(data, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "SHARD_BYTES", 5 * 16 * 16 * 3)  # five images per shard
    monkeypatch.setattr(cache_module, "DECODE_CHUNK", 3)  # chunks straddle shards
    monkeypatch.setattr(cache_module, "READ_CHUNK", 3)  # and so do reads, several per epoch
    folder, pixels, ok = decodable(data)
    store = PixelCache.build(folder.train, 16, "resize", root=tmp_path, progress=False)
    assert len(store.shards) == -(-len(ok) // 5) > 2
    # Scanned class by class, stored shuffled: shards are not one class each.
    stored_labels = [folder.train[i].label for i in store.order]
    assert sorted(store.order) == list(range(len(ok))) and sum(a != b for a, b in zip(stored_labels, stored_labels[1:])) > 3
    np.testing.assert_array_equal(store.rows(np.arange(len(ok))), pixels)
    rows = np.flatnonzero(ok)[::2]
    got = list(store.dataset(rows, np.arange(len(rows)), shuffle_seed=1).as_numpy_iterator())
    assert sorted(int(label) for _, label, _ in got) == list(range(len(rows)))  # each wanted row once
    for image, label, key in got:
        assert key == rows[label]
        np.testing.assert_array_equal(image, pixels[rows[label]])


def as_multiset(ds):
    return sorted((y, x.tobytes()) for xb, yb in ds.as_numpy_iterator() for x, y in zip(xb, yb))


def test_streamed_training_batches_hold_the_same_images_and_fakes_as_in_memory(data, monkeypatch):
    monkeypatch.setattr(cache_module, "SHARD_BYTES", 4 * 16 * 16 * 3)
    monkeypatch.setattr(cache_module, "READ_CHUNK", 3)  # an epoch is several reads, some in parallel
    config = HuntConfig(image_size=16, source_size=16, resize_mode="resize")
    in_ram = decode_train(files.scan(data, progress=False), dataclasses.replace(config, cache="memory"))
    on_disk = decode_train(files.scan(data, progress=False), dataclasses.replace(config, cache="disk"))
    assert isinstance(on_disk.pixels, CachedRows) and isinstance(in_ram.pixels, np.ndarray)
    train_idx = np.arange(1, len(in_ram.labels), 2)  # positions among the decodable rows
    names = ["AI", "Real"]
    memory = TrainingRows.of(in_ram, train_idx, "resample+noise", names, seed=5)
    disk = TrainingRows.of(on_disk, train_idx, "resample+noise", names, seed=5)
    # The fakes are seeded by `of`'s seed; the order, crops and augmentation by the dataset's.
    in_memory, streamed = memory.dataset(batch_size=4, seed=1), disk.dataset(batch_size=4, seed=1)
    # Batch for batch, epoch after epoch: the stream shuffles positions as memory does, fakes included.
    for _ in range(2):
        for (x, y), (x_disk, y_disk) in zip(in_memory.as_numpy_iterator(), streamed.as_numpy_iterator(), strict=True):
            np.testing.assert_array_equal(x_disk, x)
            np.testing.assert_array_equal(y_disk, y)
    assert len(as_multiset(streamed)) == len(disk) == len(memory) > len(train_idx)
    reordered = disk.dataset(batch_size=4, seed=2)
    assert as_multiset(reordered) == as_multiset(in_memory)
    assert [y.tolist() for _, y in reordered.as_numpy_iterator()] != [y.tolist() for _, y in streamed.as_numpy_iterator()]
    assert streamed.cardinality() == in_memory.cardinality()  # Keras knows the epoch's length
    np.testing.assert_array_equal(np.sort(disk.labels), np.sort(memory.labels))  # class weights agree
    other = TrainingRows.of(on_disk, train_idx, "resample+noise", names, seed=6).dataset(batch_size=4, seed=2)
    assert as_multiset(other) != as_multiset(streamed)  # another seed, other fakes
    # Validation streams in file order, without fakes.
    val = validation_dataset(subset(on_disk.pixels, np.arange(5)), on_disk.labels[:5], batch_size=4)
    np.testing.assert_array_equal(np.concatenate([b for b, _ in val.as_numpy_iterator()]), in_ram.pixels[:5])


def test_auto_keeps_pixels_in_memory_until_they_crowd_it(monkeypatch):
    monkeypatch.setattr(cache_module, "available_memory", lambda: 16 << 30)
    assert choose_cache("auto", 5_000, 256) == "memory"  # 0.98 GB of pixels, 16 GB free
    assert choose_cache("auto", 10_000, 256) == "disk"  # 1.97 GB: a run would peak near 8 GB
    assert choose_cache("memory", 50_000, 256) == "memory"


def test_training_from_the_disk_cache_answers_every_id_and_reruns_in_memory(data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(data), "--run", str(run), "--epochs", "1", "--image-size", "16", "--precision", "float32",
            "--members", "1"]
    assert cli.main([*args, "--cache", "disk"]) == 0
    out = capsys.readouterr().out
    assert "writing a disk cache" in out and "decoded pixels in disk" in out
    assert {r["Id"] for r in read_rows(run / "submission.csv")} == {"img_0", "img_1", "img_2", "img_3", "webp_test",
                                                                    "broken"}
    assert json.loads((run / "report" / "report.json").read_text())["n_validation"] > 0
    assert (run / "report" / "explain.png").exists()
    # Where pixels wait is not part of the run: the finished run re-predicts from memory.
    assert cli.main([*args, "--cache", "memory"]) == 0
    assert "already holds this trained run" in capsys.readouterr().out


def test_prediction_decodes_a_chunk_at_a_time_with_the_same_answers(data, tmp_path, monkeypatch):
    import keras

    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--run", str(run), "--epochs", "1", "--image-size", "16",
                     "--precision", "float32", "--members", "1"]) == 0
    model = keras.saving.load_model(run / "model.keras")
    records = files.scan(data, progress=False).test
    whole = predict.predict_records(model, records, ["AI", "Real"], 16, progress=False)[1]
    sizes = []
    original = predict.decode_all
    monkeypatch.setattr(predict, "CHUNK", 2)
    monkeypatch.setattr(predict, "decode_all", lambda recs, *a, **k: sizes.append(len(recs)) or original(recs, *a, **k))
    np.testing.assert_allclose(predict.predict_records(model, records, ["AI", "Real"], 16, progress=False)[1], whole,
                               rtol=1e-5, atol=1e-6)
    assert max(sizes) == 2 and sum(sizes) == sum(r.ok for r in records)
