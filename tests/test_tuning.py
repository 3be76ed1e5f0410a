import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

from hunt_tf import cli as hunt_cli
from hunt_tf.config import HuntConfig
from hunt_tf.model import build_model
from hunt_tf.rows import TrainingRows
from tests.conftest import write_messy_folder
from tuning import budget as budget_module
from tuning import outputs, search, tuners
from tuning.hypermodel import HuntHyperModel, define_space
from tuning.watch import WorkerWatch

FAST = ["--max-epochs", "1", "--precision", "float32", "--image-size", "16", "--recycle-mb", "0"]


def tiny_hypermodel(size=16, n=8):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n) % 2
    return HuntHyperModel(TrainingRows.in_memory(pixels, labels), pixels, labels, num_classes=2, epochs=1)


def test_build_with_default_hyperparameters_is_the_untuned_model():
    model = tiny_hypermodel().build(kt.HyperParameters())
    untuned = build_model(HuntConfig(epochs=1), image_size=16, num_classes=2)
    assert [layer.get_config() | {"name": ""} for layer in model.layers] == [
        layer.get_config() | {"name": ""} for layer in untuned.layers]
    from hunt_tf.crops import auto_head, auto_input

    assert define_space(kt.HyperParameters(), 64) == HuntConfig(input=auto_input("auto", 64), convs=2,
                                                                head=auto_head("auto", "resize", 64))
    assert define_space(kt.HyperParameters(), 64, crop=True).head == "gap"  # crops are pooled


def test_a_trial_from_before_convs_existed_is_recorded_without_a_convs_it_never_had():
    old_trial = kt.HyperParameters()
    old_trial.Fixed("depth", 3)  # a resumed search's trial, built before the space had `convs`
    assert outputs.built_settings(old_trial) == {"depth": 3}  # hunt-tf --hparams then reads one conv per block
    assert old_trial.values == {"depth": 3}  # and the trial itself is left as it was


def test_the_untuned_conv_layers_per_block_follow_the_data_as_hunt_tf_train_does(tmp_path):
    from PIL import Image

    from hunt_tf import files
    from hunt_tf.crops import choose_sizes

    rng = np.random.default_rng(0)
    for label in ("AI", "Real"):
        (tmp_path / "Train" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), "L").save(tmp_path / "Train" / label / f"{i}.png")
    folder = files.scan(tmp_path, progress=False)
    config = choose_sizes(HuntConfig(), folder.train)
    hypermodel = HuntHyperModel.from_folder(folder, config, epochs=1)
    assert config.convs == hypermodel.convs == 1  # greyscale: one conv per block
    convs = [layer for layer in hypermodel.build(kt.HyperParameters()).layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == config.depth
    # the search's written outputs name the same untuned model
    import csv

    run = tmp_path / "tune"
    assert search.main([str(tmp_path), "--run", str(run), "--tuner", "random", "--trials", "1", *FAST]) == 0
    with open(run / "trials.csv") as f:
        untuned = next(row for row in csv.DictReader(f) if row["trial"] == "untuned")
    assert untuned["convs"] == "1"


def test_a_cached_untuned_baseline_from_before_hparams_were_recorded_is_named_without_retraining(tmp_path):
    (tmp_path / "untuned.json").write_text(json.dumps({"score": 0.5, "epochs": 1, "seconds": 1.0}))
    hypermodel = tiny_hypermodel()
    hypermodel.fit = lambda *a, **k: pytest.fail("the cached baseline was trained again")
    baseline = outputs.untuned_baseline(hypermodel, tmp_path, epochs=1)
    assert baseline["score"] == 0.5 and baseline["hparams"] == hypermodel.untuned_hparams()
    assert baseline["hparams"]["convs"] == 2 and baseline["hparams"]["depth"] == HuntConfig().depth


def test_a_hyperband_rung_gets_a_learning_rate_schedule_over_its_own_epochs():
    hypermodel = tiny_hypermodel(n=8)  # batch 32: one step per epoch
    hypermodel.epochs = 15
    hp = kt.HyperParameters()
    hp.values.update({"tuner/epochs": 5, "tuner/initial_epoch": 2})  # continues a 2-epoch trial to epoch 5
    schedule = hypermodel.build(hp).optimizer._learning_rate
    assert schedule.warmup_steps + schedule.decay_steps == 3  # epochs 3..5, not all 15
    untuned = tiny_hypermodel(n=8)
    untuned.epochs = 15
    schedule = untuned.build(kt.HyperParameters()).optimizer._learning_rate
    assert schedule.warmup_steps + schedule.decay_steps == 15


def _choices():
    hp = kt.HyperParameters()
    define_space(hp, image_size=32)
    for p in hp.space:
        if isinstance(p, (kt.engine.hyperparameters.Choice, kt.engine.hyperparameters.Boolean)):
            values = p.values if hasattr(p, "values") else [True, False]
            for v in values:
                marks = [pytest.mark.slow] if v == "mobilenetv2" else []
                yield pytest.param(p.name, v, marks=marks, id=f"{p.name}={v}")


@pytest.mark.parametrize("name,value", list(_choices()))
def test_every_categorical_choice_builds_and_fits_one_step(name, value):
    hypermodel = tiny_hypermodel(size=32, n=4)
    hp = kt.HyperParameters()
    hp.Fixed(name, value)
    hp.Fixed("filters", 4) if name != "filters" else None
    hp.Fixed("depth", 2)
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "val_accuracy" in history.history


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_messy_folder(tmp_path_factory.mktemp("tune") / "data", per_class=8)


def test_resume_does_not_redo_finished_trials(data, tmp_path, monkeypatch):
    fits = []
    original = HuntHyperModel.fit
    monkeypatch.setattr(HuntHyperModel, "fit", lambda self, *a, **k: fits.append(1) or original(self, *a, **k))
    run = str(tmp_path / "tune")
    assert search.main([str(data), "--run", run, "--tuner", "random", "--trials", "2", *FAST]) == 0
    assert len(fits) == 3  # the untuned baseline, then 2 trials
    assert search.main([str(data), "--run", run, "--tuner", "random", "--trials", "3", *FAST]) == 0
    assert len(fits) == 4  # only the new trial ran; the baseline is remembered
    assert search.main([str(data), "--run", run, "--tuner", "random", "--trials", "1", "--fresh", *FAST]) == 0
    assert len(fits) == 6  # --fresh forgets both: the baseline and one trial again


def test_best_hparams_round_trip_into_hunt_train(data, tmp_path):
    run = tmp_path / "tune"
    assert search.main([str(data), "--run", str(run), "--tuner", "hyperband", "--max-epochs", "2", "--iterations", "1",
                        "--precision", "float32", "--image-size", "16", "--recycle-mb", "0"]) == 0
    best = json.loads((run / "best_hparams.json").read_text())
    rows = (run / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,status,score,seconds") and len(rows) > 2
    best_trial = max(float(r.split(",")[2]) for r in rows[1:] if r.split(",")[2])
    assert best["score"] == max(best_trial, best["untuned_score"])  # the defaults are in the race too
    assert any((run / "logs").rglob("events.out.tfevents*"))
    train_run = tmp_path / "train"
    assert hunt_cli.main(["train", str(data), "--run", str(train_run), "--hparams", str(run / "best_hparams.json"),
                          "--epochs", "1", "--image-size", "16", "--precision", "float32", "--members", "1"]) == 0
    config = json.loads((train_run / "config.json").read_text())
    for key, value in best["hparams"].items():
        assert config[key] == value, key


@pytest.mark.slow  # ~30 s: a whole multi-trial search
def test_trials_caps_every_tuner_hyperband_included(data, tmp_path):
    run = tmp_path / "tune"
    assert search.main([str(data), "--run", str(run), "--tuner", "hyperband", "--trials", "3", "--max-epochs", "3",
                        "--precision", "float32", "--image-size", "16", "--recycle-mb", "0"]) == 0
    assert len(list((run / "tuner" / "hunt").glob("trial_*"))) == 3  # was: until the 15-minute budget


def test_best_hparams_never_names_an_unfinished_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    tuner = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 3, 1, True, 0)
    oracle = tuner.oracle
    oracle.create_trial("tuner0")  # still running: keras-tuner's get_best_trials pads with it (score None)
    with pytest.raises(outputs.NothingFinished, match="no trial finished"):
        outputs.write_outputs(tuner, tmp_path)
    assert not (tmp_path / "best_hparams.json").exists()
    done = oracle.create_trial("tuner1")
    oracle.update_trial(done.trial_id, {"val_accuracy": 0.75})
    done.status = "COMPLETED"
    oracle.end_trial(done)
    cut = oracle.create_trial("tuner2")  # stopped by the budget after fewer epochs: it never competes
    oracle.update_trial(cut.trial_id, {"val_accuracy": 0.9, "budget_cut": 1.0})
    cut.status = "COMPLETED"
    oracle.end_trial(cut)
    rows, best = outputs.write_outputs(tuner, tmp_path)
    assert (best["trial_id"], best["score"]) == (done.trial_id, 0.75)
    assert {r["trial"]: r["status"] for r in rows}[cut.trial_id] == "CUT"


def test_the_budget_ends_the_search_through_the_oracle(tmp_path, monkeypatch):
    from keras_tuner.src.distribute import oracle_chief

    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    oracle = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 50, 1, True, 0).oracle
    budget = budget_module.SearchBudget(oracle, minutes=0.5 / 60)
    first = oracle.create_trial("tuner0")
    assert first.status == "RUNNING" and not budget.spent
    first.status = "COMPLETED"
    oracle.update_trial(first.trial_id, {"val_accuracy": 0.5})
    oracle.end_trial(first)
    time.sleep(0.6)
    # Workers that ask after the deadline are told STOPPED, which is what lets keras-tuner's chief exit.
    assert oracle.create_trial("tuner0").status == "STOPPED" and oracle.create_trial("tuner1").status == "STOPPED"
    assert budget.spent and oracle_chief.exit_chief(oracle)


def test_a_retried_trial_starts_with_clean_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    oracle = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 5, 1, True, 0).oracle
    budget_module.SearchBudget(oracle, minutes=60)
    lost = oracle.create_trial("tuner0")
    oracle.update_trial(lost.trial_id, {"val_accuracy": 0.9}, step=0)  # a heartbeat, then the worker died
    lost.status = "INVALID"
    oracle.end_trial(lost)  # -> keras-tuner's retry queue
    again = oracle.create_trial("tuner1")
    assert again.trial_id == lost.trial_id and not again.metrics.exists("val_accuracy")


def test_a_trial_running_at_the_deadline_stops_after_its_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=5, verbose=0,
                        callbacks=[budget_module.trial_clock(time.time() - 1)])
    assert len(history.history["loss"]) == 1 and history.history["budget_cut"] == [1.0]


def test_each_trial_starts_from_a_clean_keras_state_and_keeps_the_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    hypermodel = tiny_hypermodel()
    first = hypermodel.build(kt.HyperParameters())
    second = hypermodel.build(kt.HyperParameters())
    # Without clear_session every trial's layers stay registered: names count up, memory grows.
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert second.get_layer("block1_conv").compute_dtype == "bfloat16"


def test_a_worker_heartbeat_reaches_the_trial_record_every_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    tuner = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 3, 1, True, 0)
    beat = budget_module.heartbeat(tuner)  # on a worker, tuner.oracle is the chief's (here: in process)
    trial = tuner.oracle.create_trial("tuner0")
    tuner.current_trial_id = trial.trial_id
    record = tmp_path / "hunt" / f"trial_{trial.trial_id}" / "trial.json"
    before = record.stat().st_mtime_ns
    time.sleep(0.01)
    beat(0, {"loss": 0.7, "val_loss": 0.69, "val_accuracy": 0.5})
    assert record.stat().st_mtime_ns > before  # tuning.watch reads this as "alive"
    assert tuner.oracle.trials[trial.trial_id].metrics.get_last_value("val_accuracy") == 0.5


def test_the_chief_returns_past_the_deadline_with_no_worker_left_and_reraises_a_server_failure(tmp_path,
                                                                                                   monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    tuner = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 3, 1, True, 0)
    tuner.search = lambda **kwargs: time.sleep(3600)  # keras-tuner's server, waiting for workers that never ask
    start = time.time()
    budget_module.serve(tuner, [], deadline=time.time(), poll_s=0.05)
    assert time.time() - start < 5

    def port_taken(**kwargs):
        raise OSError("address already in use")

    tuner.search = port_taken
    with pytest.raises(OSError, match="address already in use"):
        budget_module.serve(tuner, [], deadline=time.time() + 60, poll_s=0.05)


def test_a_cut_trial_reads_as_cut_at_every_epoch():
    # keras-tuner records a trial's metrics at its best epoch, which may come before the cut.
    hypermodel = tiny_hypermodel()
    hp = kt.HyperParameters()
    history = hypermodel.fit(hp, hypermodel.build(hp), epochs=3, verbose=0,
                             callbacks=[budget_module.trial_clock(time.time() + 3600)])
    assert history.history["budget_cut"] == [0.0, 0.0, 0.0]

    class CutAtThirdEpoch(keras.callbacks.Callback):  # the budget runs out during epoch 3
        def on_epoch_end(self, epoch, logs=None):
            logs["budget_cut"] = float(epoch == 2)
            self.model.stop_training = epoch == 2

    history = hypermodel.fit(hp, hypermodel.build(hp), epochs=5, verbose=0, callbacks=[CutAtThirdEpoch()])
    assert history.history["budget_cut"] == [1.0, 1.0, 1.0]  # whichever epoch keras-tuner picks says "cut"


def test_bayesian_is_refused_with_several_workers(monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    with pytest.raises(ValueError, match="bayesian tuner is not safe with several workers"):
        tuners.make_tuner("bayesian", tiny_hypermodel(), "/tmp/unused", 2, 1, True, 0)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert tuners.role() == "chief"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_share_one_search(data, tmp_path):
    port, run = str(_free_port()), tmp_path / "dist"
    args = [sys.executable, "-m", "tuning.search", str(data), "--run", str(run), "--tuner", "random", "--trials", "6",
            *FAST]
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port,
               PYTHONPATH=str(Path(__file__).parents[1]))
    chief = subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID="chief"))
    workers = [subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID=f"tuner{i}")) for i in range(2)]
    assert all(w.wait(timeout=400) == 0 for w in workers)
    assert chief.wait(timeout=60) == 0
    trials = list((run / "tuner" / "hunt").glob("trial_*/trial.json"))
    states = [json.loads(t.read_text()) for t in trials]
    assert len(states) == 6 and all(s["status"] == "COMPLETED" for s in states)
    per_worker = {name: len((run / "workers" / f"{name}.log").read_text().splitlines()) for name in ("tuner0", "tuner1")}
    assert min(per_worker.values()) >= 1 and sum(per_worker.values()) == 6, per_worker
    best = json.loads((run / "best_hparams.json").read_text())
    assert best["score"] == max(s["score"] for s in states)


def test_a_silent_worker_gives_its_trial_back_for_another_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    tuner = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 3, 1, True, 0)
    oracle = tuner.oracle
    lost = oracle.create_trial("tuner0")
    alive = oracle.create_trial("tuner1")
    watch = WorkerWatch(oracle, tmp_path / "hunt", timeout_s=0.5)
    watch.check()  # both just started: nobody is silent yet
    assert set(oracle.ongoing_trials) == {"tuner0", "tuner1"}
    time.sleep(0.7)
    oracle.update_trial(alive.trial_id, {"val_accuracy": 0.5})  # tuner1 reports an epoch; tuner0 says nothing
    watch.check()
    assert set(oracle.ongoing_trials) == {"tuner1"} and "tuner0" not in oracle.tuner_ids
    again = oracle.create_trial("tuner1b")  # the next worker to ask gets the lost trial, same values
    assert again.trial_id == lost.trial_id and again.hyperparameters.values == lost.hyperparameters.values


def test_an_idle_worker_that_stops_asking_is_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    oracle = tuners.make_tuner("random", tiny_hypermodel(), tmp_path, 1, 1, True, 0).oracle
    watch = WorkerWatch(oracle, tmp_path / "hunt", timeout_s=0.5)
    trial = oracle.create_trial("tuner0")
    trial.status = "COMPLETED"
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    oracle.end_trial(trial)  # tuner0 finished its trial, and then died before asking again
    assert oracle.tuner_ids == {"tuner0"}  # keras-tuner's chief would wait for it forever
    watch.check()
    assert oracle.tuner_ids == {"tuner0"}
    time.sleep(0.7)
    watch.check()
    assert oracle.tuner_ids == set()


@pytest.mark.slow
def test_a_killed_worker_does_not_lose_the_search(data, tmp_path):
    port, run = str(_free_port()), tmp_path / "dist"
    args = [sys.executable, "-m", "tuning.search", str(data), "--run", str(run), "--tuner", "random", "--trials", "10",
            "--worker-timeout", "0.2", *FAST]
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port,
               PYTHONPATH=str(Path(__file__).parents[1]))
    chief = subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID="chief"), stderr=subprocess.PIPE, text=True)
    doomed, survivor = (subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID=f"tuner{i}")) for i in range(2))
    doomed_log = run / "workers" / "tuner0.log"
    deadline = time.time() + 300
    while not (doomed_log.exists() and doomed_log.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    doomed.kill()  # SIGKILL in the middle of its first trial: no goodbye to the chief
    assert survivor.wait(timeout=400) == 0
    assert chief.wait(timeout=120) == 0
    assert "went silent" in chief.stderr.read()
    states = [json.loads(t.read_text()) for t in (run / "tuner" / "hunt").glob("trial_*/trial.json")]
    assert len(states) == 10 and all(s["status"] == "COMPLETED" for s in states)


@pytest.mark.slow
def test_a_distributed_search_ends_when_its_budget_does(data, tmp_path):
    # Workers stop on their own at the budget; keras-tuner's chief used to wait for them forever.
    port, run = str(_free_port()), tmp_path / "dist"
    args = [sys.executable, "-m", "tuning.search", str(data), "--run", str(run), "--tuner", "hyperband",
            "--budget-minutes", "0.5", "--max-epochs", "9", "--precision", "float32", "--image-size", "16",
            "--threads", "1"]
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port,
               PYTHONPATH=str(Path(__file__).parents[1]))
    start = time.time()
    chief = subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID="chief"))
    workers = [subprocess.Popen(args, env=dict(env, KERASTUNER_TUNER_ID=f"tuner{i}")) for i in range(2)]
    assert chief.wait(timeout=150) == 0
    assert all(w.wait(timeout=30) == 0 for w in workers)
    assert time.time() - start < 30 + 90  # the budget, then start-up (TensorFlow imports) and less than a minute
    best = json.loads((run / "best_hparams.json").read_text())
    assert best["score"] is not None


@pytest.mark.slow  # ~30 s: a whole multi-trial search
def test_a_search_process_that_has_grown_is_replaced_and_the_search_resumes(data, tmp_path, capfd):
    # --recycle-mb 0.001: every trial after the first "grows" memory, so each process runs two
    # trials and asks to be replaced; the search still ends with all its trials, each run once.
    run = tmp_path / "tune"
    rc = search.main([str(data), "--run", str(run), "--tuner", "random", "--trials", "4", "--max-epochs", "1",
                      "--precision", "float32", "--image-size", "16", "--recycle-mb", "0.001"])
    assert rc == 0
    assert capfd.readouterr().out.count("replaced the search process") >= 1
    states = [json.loads(t.read_text()) for t in (run / "tuner" / "hunt").glob("trial_*/trial.json")]
    assert len(states) == 4 and all(s["status"] == "COMPLETED" for s in states)
    assert (run / "best_hparams.json").exists()


def test_a_disk_cache_search_decodes_once_for_every_search_and_training_run(data, tmp_path, capfd):
    run = tmp_path / "tune"
    for trials in ("1", "2"):  # the second call resumes the search: a new process, as after a recycle
        assert search.main([str(data), "--run", str(run), "--tuner", "random", "--trials", trials, *FAST,
                            "--cache", "disk"]) == 0
    out, err = capfd.readouterr()
    assert out.count("writing a disk cache") == 1 and out.count("reusing the disk cache") == 1
    assert "decoded pixels in disk" in out and (run / "best_hparams.json").exists()
    # Output to a file: the trials' lines, no Keras progress bars and no scanning/decoding bars
    assert "Trial 1 Complete" in out and "━" not in out and "file/s" not in err
    assert hunt_cli.main(["train", str(data), "--run", str(tmp_path / "train"), "--hparams",
                          str(run / "best_hparams.json"), "--epochs", "1", "--cache", "disk", "--members", "1"]) == 0
    out = capfd.readouterr().out
    assert "reusing the disk cache" in out and "writing a disk cache" not in out


def test_time_budget_ends_the_search_cleanly(data, tmp_path, capsys):
    run = tmp_path / "tune"
    # A budget of zero: the untuned baseline runs, no trial starts, and the defaults are written.
    assert search.main([str(data), "--run", str(run), "--tuner", "random", "--trials", "5", "--budget-minutes", "0",
                        *FAST]) == 0
    out = capsys.readouterr().out
    assert "time budget of 0 min spent" in out
    best = json.loads((run / "best_hparams.json").read_text())
    assert best["trial_id"] == "untuned" and best["hparams"]["filters"] == HuntConfig().filters
    table = (run / "trials.csv").read_text().splitlines()
    assert table[1].startswith("untuned,COMPLETED,")  # the defaults are a row of the table, ranked


def test_a_crop_mode_search_records_its_sizes_for_training(data, tmp_path):
    run = tmp_path / "tune"
    assert search.main([str(data), "--run", str(run), "--tuner", "random", "--trials", "1", "--resize-mode", "crop",
                        "--image-size", "16", *FAST]) == 0
    hparams = json.loads((run / "best_hparams.json").read_text())["hparams"]
    assert hparams["resize_mode"] == "crop" and hparams["image_size"] == 16 and hparams["source_size"] > 16
    assert "input" in hparams  # the residual input is searched too


def test_best_hparams_hold_the_settings_the_model_was_built_with():
    from hunt_tf.config import HuntConfig
    from hunt_tf.model import build_model
    from tuning.outputs import built_settings

    hp = kt.HyperParameters()
    define_space(hp, image_size=32)
    hp.values.update(backbone="mobilenetv2", input="residual", filters=16)
    settings = built_settings(hp)
    assert settings["input"] == "rgb" and settings["backbone"] == "mobilenetv2"  # residual is cnn-only
    build_model(HuntConfig.from_dict(settings), 32, 2)  # hunt-tf train accepts it
