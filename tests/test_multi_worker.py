"""`hunt-tf train --strategy multi-worker`: two worker processes on 127.0.0.1 learn what one process learns."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from gradient_hunt import multi_worker
from tests.conftest import read_rows, rgb_image

# Full batches only (24 training images and their 12 resample fakes, 4 per batch): Keras
# averages each worker's loss over its own rows, which is the global mean only when the
# workers' shares are equal. Random draws (dropout masks, the flips of --augment) are each
# worker's own, so they are off: what is left must match one process to float rounding.
ARGS = ["--epochs", "2", "--image-size", "16", "--precision", "float32", "--batch-size", "4", "--val-split", "0.25",
        "--filters", "8", "--depth", "2", "--dropout", "0", "--augment", "none"]


def write_even_folder(root):
    for label, name in enumerate(("AI", "Real")):
        (root / "Train" / name).mkdir(parents=True)
        for i in range(16):
            rgb_image(100 * label + i, size=(20, 20)).save(root / "Train" / name / f"{i}.png")
    (root / "Test").mkdir()
    for i in range(3):
        rgb_image(500 + i, size=(20, 20)).save(root / "Test" / f"t{i}.png")
    return root


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_the_chief_is_the_chief_task_or_worker_zero(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert multi_worker.is_chief()  # one process
    workers = {"worker": ["a:1", "b:1"]}
    for cluster, task, chief in [(workers, {"type": "worker", "index": 0}, True),
                                 (workers, {"type": "worker", "index": 1}, False),
                                 ({**workers, "chief": ["c:1"]}, {"type": "worker", "index": 0}, False),
                                 ({**workers, "chief": ["c:1"]}, {"type": "chief", "index": 0}, True)]:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        assert multi_worker.is_chief() is chief


def trainable_weights(run):
    import keras

    import hunt_tf.batchnorm  # noqa: F401  (registers the saved model's layers)
    import hunt_tf.residual  # noqa: F401

    return [w.numpy() for w in keras.saving.load_model(run / "model.keras").trainable_weights]


@pytest.mark.slow
def test_two_workers_train_the_weights_one_process_trains_and_the_chief_writes_the_run(tmp_path, monkeypatch):
    data = write_even_folder(tmp_path / "data")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "hunt_tf.cli", "train", str(data), *ARGS]
    # Across workers `--cache auto` streams from the disk cache; so does this one process, for the same batches.
    subprocess.run([*command, "--run", str(tmp_path / "single"), "--cache", "disk"], env=env, check=True,
                   capture_output=True)

    logs = run_workers(command + ["--run", str(tmp_path / "multi"), "--strategy", "multi-worker"], env)

    single, multi = trainable_weights(tmp_path / "single"), trainable_weights(tmp_path / "multi")
    for a, b in zip(single, multi):  # the same global batches, statistics and gradients, summed in another order
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4)
    # The chief wrote the run and predicts every test file; the other worker wrote nothing there.
    assert {r["Id"] for r in read_rows(tmp_path / "multi" / "submission.csv")} == {"t0", "t1", "t2"}
    assert "CollectiveAllReduceStrategy" in logs[0] and "submission:" in logs[0]
    assert "decoded pixels in disk" in logs[0]  # across workers the pipelines must match: never "auto" by free memory
    assert "worker 1: trained in step with the chief" in logs[1] and "submission:" not in logs[1]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}))
    assert not multi_worker.scratch_dir(tmp_path / "multi").exists()  # the worker cleaned up after itself
    # Run again, the run is trained: the chief reports and predicts again, the worker ends at once.
    logs = run_workers(command + ["--run", str(tmp_path / "multi"), "--strategy", "multi-worker"], env)
    assert "already holds this trained run" in logs[0] and "Epoch" not in logs[0] + logs[1]


def run_workers(command, env, n=2):
    """Start `command` as n workers of one cluster on 127.0.0.1; their outputs, after all exited 0."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(n)]}
    workers = [subprocess.Popen(command, env={**env, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                              "task": {"type": "worker", "index": i}})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(n)]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * n, "\n---\n".join(log[-2000:] for log in logs)
    return logs


def test_the_gan_refuses_multi_worker_until_its_workers_can_agree(tmp_path, capsys):
    from gan_tf import cli as gan_cli

    assert gan_cli.main(["train", "--run", str(tmp_path / "gan"), "--strategy", "multi-worker"]) != 0
    assert "does not run across processes yet" in capsys.readouterr().err
    assert not (tmp_path / "gan").exists()  # refused before anything was written
