import pytest

from gradient_hunt.atomic import atomic_write, write_json


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "best_hparams.json"
    write_json(path, {"lr": 1})
    with pytest.raises(RuntimeError), atomic_write(path) as tmp:
        assert tmp.suffix == ".json" and tmp.parent == tmp_path  # same folder: os.replace is one step
        tmp.write_text('{"lr": ')
        raise RuntimeError("killed mid-write")
    assert path.read_text() == '{\n  "lr": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_hparams.json"]


def test_writing_into_a_folder_that_does_not_exist_yet_creates_it(tmp_path):
    # `make bench-gan` on a fresh clone measured everything, then crashed writing runs/bench-gan.json.
    write_json(tmp_path / "runs" / "bench-gan.json", {"ok": True})
    assert (tmp_path / "runs" / "bench-gan.json").read_text() == '{\n  "ok": true\n}\n'
