"""`hunt-tf train --strategy multi-worker`: two worker processes on 127.0.0.1 learn what one process learns."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradient_hunt import multi_worker
from gradient_hunt.runtime import RuntimeSettingError
from tests.conftest import read_rows, rgb_image

ROOT = Path(__file__).resolve().parent.parent

# Full batches only (24 training images and their 12 resample fakes, 4 per batch): Keras
# averages each worker's loss over its own rows, which is the global mean only when the
# workers' shares are equal. Random draws (dropout masks, the flips of --augment) are each
# worker's own, so they are off: what is left must match one process to float rounding.
ARGS = ["--epochs", "2", "--image-size", "16", "--precision", "float32", "--batch-size", "4", "--val-split", "0.25",
        "--filters", "8", "--depth", "2", "--dropout", "0", "--augment", "none", "--members", "1"]


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


def test_the_cluster_wait_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(multi_worker.WAIT_ENV, raising=False)
    assert multi_worker.cluster_wait_s() == multi_worker.WAIT_S
    monkeypatch.setenv(multi_worker.WAIT_ENV, "2.5")
    assert multi_worker.cluster_wait_s() == 2.5
    for bad in ("soon", "0", "-3", "inf", "nan", "1e10"):
        monkeypatch.setenv(multi_worker.WAIT_ENV, bad)
        with pytest.raises(RuntimeSettingError, match=multi_worker.WAIT_ENV):
            multi_worker.cluster_wait_s()


def test_the_cluster_deadline_ends_a_wait_that_overruns_and_only_that_one(tmp_path):
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from gradient_hunt import multi_worker\n"
              "with multi_worker.cluster_deadline(float(sys.argv[1])):\n"
              "    time.sleep(float(sys.argv[2]))  # TensorFlow waiting for the cluster\n"
              "print('went on')\n")
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                  "task": {"type": "worker", "index": 1}})}
    overrun = subprocess.run([sys.executable, "-c", script, "0.5", "30"], env=env, capture_output=True, text=True,
                             timeout=20)
    assert overrun.returncode == -signal.SIGKILL and "went on" not in overrun.stdout
    assert "worker 1 waited 0.5 s" in overrun.stderr and "worker 0 (a:1), worker 1 (b:2)" in overrun.stderr
    in_time = subprocess.run([sys.executable, "-c", script, "1", "0.1"], env=env, capture_output=True, text=True,
                             timeout=20)
    assert in_time.returncode == 0 and "went on" in in_time.stdout and "error:" not in in_time.stderr


def test_the_deadline_still_ends_a_process_the_watcher_cannot_kill():
    # As PID 1 (a container's main process) the watcher's SIGKILL does nothing: here a watcher
    # that never kills stands in for it, and the faulthandler backstop must end the wait.
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from gradient_hunt import multi_worker\n"
              "multi_worker._WATCHER = 'import sys; sys.stdin.read()'\n"
              "multi_worker.BACKSTOP_S = 0.2\n"
              "with multi_worker.cluster_deadline(0.3):\n"
              "    time.sleep(30)\n"
              "print('went on')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert done.returncode == 1 and "went on" not in done.stdout


def test_a_worker_whose_peer_never_starts_stops_with_a_message(tmp_path):
    data = write_even_folder(tmp_path / "data")
    port, absent = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{absent}"]}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", multi_worker.WAIT_ENV: "3",
           "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})}
    # Without the deadline TensorFlow waits for worker 1 for good: the timeout here fails the test.
    done = subprocess.run([sys.executable, "-m", "hunt_tf.cli", "train", str(data), *ARGS, "--run",
                           str(tmp_path / "run"), "--strategy", "multi-worker"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert f"worker 1 (127.0.0.1:{absent})" in done.stderr and multi_worker.WAIT_ENV in done.stderr


def trainable_weights(run):
    import keras

    import gradient_hunt.batchnorm  # noqa: F401  (registers the saved model's layers)
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


def run_workers(command, env, n=2, returncodes=None):
    """Start `command` as n workers of one cluster on 127.0.0.1; their outputs, after all exited
    with `returncodes` (default: all 0)."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(n)]}
    workers = [subprocess.Popen(command, env={**env, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                              "task": {"type": "worker", "index": i}})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(n)]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == (returncodes or [0] * n), "\n---\n".join(log[-2000:] for log in logs)
    return logs


# The GAN's random draws (noise, labels) are made for the global batch and sliced per worker, so
# two workers of batch 4 take one process's steps at batch 8. Dropout masks and the minibatch
# spread are each worker's own: off here. `--time-limit 1` ends the first call after epoch 1
# (the chief's clock, on every worker); `--resume` then trains epoch 2.
GAN_ARGS = ["--epochs", "2", "--width", "4", "--latent-dim", "8", "--dropout", "0", "--no-minibatch-std",
            "--precision", "float32", "--eval-samples", "100", "--time-limit", "1"]


def generator_weights(run):
    import keras

    import gan_tf.networks  # noqa: F401  (registers the saved model's layers)

    return [w.numpy() for w in keras.saving.load_model(run / "generator.keras").weights]


@pytest.mark.slow
def test_two_gan_workers_train_the_generator_one_process_trains_and_the_chief_writes_the_run(tmp_path, idx_dir,
                                                                                          monkeypatch):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "gan_tf.cli", "train", "--dataset", f"idx:{idx_dir}", *GAN_ARGS]
    single = [*command, "--run", str(tmp_path / "single"), "--batch-size", "8"]
    multi = [*command, "--run", str(tmp_path / "multi"), "--batch-size", "4", "--strategy", "multi-worker"]
    for extra in ([], ["--resume", "--time-limit", "0"]):
        subprocess.run([*single, *extra], env=env, check=True, capture_output=True)
        logs = run_workers([*multi, *extra], env)
        if not extra:  # stopped together, by the chief's clock
            assert all("stopped after epoch 1 of 2" in log for log in logs[:1]) and "Epoch 2/2" not in logs[1]
            assert "worker 1: trained 1 epochs in step with the chief" in logs[1]

    one, two = generator_weights(tmp_path / "single"), generator_weights(tmp_path / "multi")
    gaps = np.concatenate([np.abs(a - b).ravel() for a, b in zip(one, two)])  # BatchNorm statistics included
    # Measured: mean 1.5e-5, largest 2.2e-4 (Adam turns rounding in near-zero gradients into steps
    # of up to its learning rate, 2e-4); workers drawing the same noise (the bug this guards
    # against): mean 1.6e-3, largest 1.7e-2.
    assert gaps.mean() < 1e-4 and gaps.max() < 2e-3
    assert "CollectiveAllReduceStrategy" in logs[0] and "classifier distance" in logs[0]
    assert "worker 1: trained 1 epochs in step with the chief" in logs[1] and "classifier distance" not in logs[1]
    assert {"metrics.json", "quality.csv", "samples", "generator.keras"} <= {p.name for p in (tmp_path / "multi").iterdir()}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}))
    scratch = multi_worker.scratch_dir(tmp_path / "multi")
    assert (scratch / "checkpoints").exists() and not (scratch / "samples").exists()  # the worker's, for --resume
    # A trained run resumed (as make gan does): the chief reports it again, the worker ends at once.
    logs = run_workers([*multi, "--resume"], env)
    assert "already trained 2 of 2 epochs" in logs[0] and "nothing to train" in logs[1]
    assert "Epoch" not in logs[0] + logs[1]
    # Lost worker checkpoints: every worker stops with the reason, none waits for the others.
    shutil.rmtree(scratch)
    logs = run_workers([*multi, "--resume", "--epochs", "3"], env, returncodes=[2, 2])
    assert all("checkpoints disagree" in log for log in logs)
    shutil.rmtree(scratch, ignore_errors=True)


def test_the_time_limit_is_the_chiefs_on_every_worker():
    from gan_tf.callbacks import TimeLimit

    class Model:
        stop_training = False

    asked = []
    for past_on_this_clock, chief in [(False, True), (True, False)]:
        limit = TimeLimit(1, clock=lambda: 0.0, agree=lambda past, chief=chief: asked.append(past) or chief)
        limit.set_model(Model())
        limit.on_train_begin()
        limit.clock = lambda past=past_on_this_clock: 2.0 if past else 0.5
        limit.on_epoch_end(0)
        assert limit.model.stop_training is chief and (limit.stopped_at == 1) is chief
    assert asked == [False, True]  # every epoch end asks, whatever this worker's clock says
