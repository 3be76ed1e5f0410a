import keras
import numpy as np
import pytest

from gradient_hunt.batchnorm import FusedBatchNormalization
from gradient_hunt.settings import SettingsError
from hunt_tf.averaging import WeightAverage, first_averaged_epoch, refresh_batchnorm
from hunt_tf.config import HuntConfig
from hunt_tf.fitting import callbacks


def dense_model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))


def set_all(model, value):
    for v in model.trainable_variables:
        v.assign(np.full(v.shape, value, "float32"))


@pytest.mark.parametrize(("epochs", "first"), [(15, 10), (3, 2), (1, 0), (2, 1)])
def test_the_average_covers_the_last_third_of_the_epochs_and_at_least_one(epochs, first):
    assert first_averaged_epoch(epochs) == first


def test_the_model_ends_with_the_mean_of_the_tail_epochs_weights():
    model = dense_model()
    average = WeightAverage(first_epoch=2, batches=[])
    average.set_model(model)
    average.on_train_begin()
    for epoch, value in enumerate([100.0, 50.0, 1.0, 2.0, 6.0]):  # the first two are before the tail
        set_all(model, value)
        average.on_epoch_end(epoch)
    average.on_train_end()
    for v in model.trainable_variables:
        np.testing.assert_allclose(v.numpy(), 3.0)


def test_a_resumed_run_averages_the_epochs_it_saw_before_the_crash(tmp_path):
    state = tmp_path / "backup" / "average.npz"
    before = WeightAverage(first_epoch=0, batches=[], state=state)
    before.set_model(dense_model())
    before.on_train_begin()
    set_all(before.model, 1.0)
    before.on_epoch_end(0)  # then the process dies
    after = WeightAverage(first_epoch=0, batches=[], state=state)
    after.set_model(dense_model())
    after.on_train_begin()
    set_all(after.model, 5.0)
    after.on_epoch_end(1)
    after.on_train_end()
    np.testing.assert_allclose(after.model.get_layer("dense").kernel.numpy(), 3.0)


def test_batchnorm_statistics_become_the_plain_average_of_the_batches():
    inputs = keras.Input((2, 2, 1))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.9, name="bn")(inputs))
    # batch means 0, 10, 20 and spreads 1, 2, 3 (values mean +- spread: variances 1, 4, 9)
    batches = [(np.array([m - d, m + d] * 2, "float32").reshape(1, 2, 2, 1), np.zeros(1))
               for m, d in ((0.0, 1.0), (10.0, 2.0), (20.0, 3.0))]
    refresh_batchnorm(model, batches)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), [10.0], rtol=1e-5)  # an EMA at 0.9 would say 2.9
    np.testing.assert_allclose(bn.moving_variance.numpy(), [14 / 3], rtol=1e-5)  # the EMA: 2.07
    assert bn.momentum == 0.9  # the layer's own momentum is back for later training


def test_an_epoch_a_crash_left_out_of_the_sum_is_added_on_resume(tmp_path):
    state = tmp_path / "average.npz"
    before = WeightAverage(first_epoch=0, batches=[], state=state)
    before.set_model(dense_model())
    before.on_train_begin()
    set_all(before.model, 1.0)
    before.on_epoch_end(0)
    # epoch 1 ended with weights 3.0 and BackupAndRestore saved them; the process died before our save
    after = WeightAverage(first_epoch=0, batches=[], state=state)
    after.set_model(dense_model())
    set_all(after.model, 3.0)  # what BackupAndRestore restores
    after.model._initial_epoch = 2  # ... and where it resumes
    after.on_train_begin()
    after.on_train_end()
    np.testing.assert_allclose(after.model.get_layer("dense").kernel.numpy(), 2.0)


def test_an_epoch_that_ended_in_nan_is_not_averaged():
    model = dense_model()
    average = WeightAverage(first_epoch=0, batches=[])
    average.set_model(model)
    average.on_train_begin()
    set_all(model, 2.0)
    average.on_epoch_end(0, {"loss": 0.5})
    set_all(model, np.nan)
    average.on_epoch_end(1, {"loss": float("nan")})
    average.on_train_end()
    np.testing.assert_allclose(model.get_layer("dense").kernel.numpy(), 2.0)


def test_swa_replaces_early_stopping(tmp_path):
    def kinds(config):
        return {type(c).__name__ for c in callbacks(tmp_path, config, "val_loss", train_ds=[])}

    assert "EarlyStopping" in kinds(HuntConfig()) and "WeightAverage" not in kinds(HuntConfig())
    swa = kinds(HuntConfig(average="swa"))
    assert "WeightAverage" in swa and "EarlyStopping" not in swa  # it would restore one epoch over the mean
    with pytest.raises(SettingsError, match="unknown average"):  # e.g. from a hand-edited hparams file
        callbacks(tmp_path, HuntConfig(average="mean"), "val_loss", train_ds=[])


def test_a_swa_run_saves_the_mean_of_its_tail_and_predicts(tmp_path, capsys):
    from hunt_tf import cli
    from tests.conftest import read_rows, write_messy_folder

    data = write_messy_folder(tmp_path / "data")
    run = tmp_path / "run"
    tiny = ["--epochs", "6", "--batch-size", "8", "--filters", "4", "--depth", "1", "--image-size", "16",
            "--precision", "float32", "--val-split", "0.3", "--average", "swa", "--members", "1"]
    assert cli.main(["train", str(data), "--run", str(run), *tiny]) == 0
    assert "weights averaged over the last 2 epochs" in capsys.readouterr().out
    assert read_rows(run / "submission.csv")
    assert not (run / "backup").exists()  # kept through the average, removed once model.keras is saved
    assert cli.main(["train", str(data), "--run", str(run), *tiny]) == 0  # so the run reads as finished
    assert "already holds this trained run" in capsys.readouterr().out
