"""The public seams of the training engine: train_step on compute_gradients / apply_gradients,
request_stop, resume_from, running and metric state, rng state, ResumableTraining from Python,
schedules through the registry (docs/architecture.md, docs/training.md)."""

import os
import signal

import numpy as np
import pytest

import corelib
from corelib import callbacks, config, layers, metrics, models, optimizers
from corelib.errors import ConfigError
from corelib.registry import Registry, use_registry
from corelib.trainers import ResumableTraining, final_logs


def make_model(seed=3):
    config.set_seed(seed)
    model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(5,)), layers.Dropout(0.25, seed=2),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((64, 5)).astype(np.float32), rng.integers(0, 3, 64)


def test_train_step_is_compute_gradients_then_apply_gradients(data):
    x, y = data
    a, b = make_model(), make_model()
    xs, ys = a._prepare_xy(x[:16], y[:16])[:2]
    a.compiled_loss.reset()
    loss = a.train_step((xs, ys, None))
    b.compiled_loss.reset()
    b.compute_gradients(xs, ys)
    grads = [p.grad.copy() for p in b.trainable_weights]
    assert any(np.abs(g).max() > 0 for g in grads)
    regularization = b.apply_gradients()
    assert regularization == 0.0
    assert loss == pytest.approx(sum(w * v for w, v in zip(b.compiled_loss.weights, b.compiled_loss.last_losses)))
    for pa, pb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(pa.value, pb.value)


def test_an_overridden_compute_gradients_is_what_fit_uses(data):
    x, y = data

    class Clipped(models.Sequential):
        calls = 0

        def compute_gradients(self, xs, ys, sample_weight=None, loss_scales=None):
            Clipped.calls += 1
            y_pred = super().compute_gradients(xs, ys, sample_weight, loss_scales)
            for p in self.trainable_weights:
                np.clip(p.grad, -1e-3, 1e-3, out=p.grad)
            return y_pred

    config.set_seed(3)
    model = Clipped([layers.Dense(3, activation="softmax", input_shape=(5,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    before = model.get_weights()[0].copy()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert Clipped.calls == 4
    assert np.abs(model.get_weights()[0] - before).max() <= 4e-3 + 1e-7


def test_test_step_and_predict_step_are_what_evaluate_and_predict_use(data):
    x, y = data
    model = make_model()
    np.testing.assert_array_equal(model.predict(x[:7], verbose=0), model.predict_step([x[:7]])[0])
    model.compiled_loss.reset()
    xs, ys = model._prepare_xy(x, y)[:2]
    loss = model.test_step((xs, ys, None))
    assert model.evaluate(x, y, batch_size=64, verbose=0)[0] == pytest.approx(loss)


class StopAfter(callbacks.Callback):
    def __init__(self, epoch, step):
        super().__init__()
        self.at, self.epoch = (epoch, step), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.model.request_stop()


def test_request_stop_leaves_fit_after_the_step_without_the_epoch_end(data):
    x, y = data
    model = make_model()
    ends = []
    spy = callbacks.Callback()
    spy.on_epoch_end = lambda epoch, logs=None: ends.append(epoch)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[StopAfter(1, 2), spy])
    assert model.interrupted and model.stop_training and not model.stop_requested
    assert ends == [0]
    assert model.optimizer.iterations == 8 + 3


def test_resume_from_a_checkpoint_in_the_same_process_matches_an_uninterrupted_run(data, tmp_path):
    x, y = data
    reference = make_model()
    reference.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_split=0.25)
    first = make_model()
    backup = callbacks.BackupAndRestore(tmp_path / "ck", save_freq=False)
    first.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_split=0.25, callbacks=[backup, StopAfter(1, 3)])
    assert first.interrupted and os.path.exists(backup.path)
    second = make_model(seed=99)  # another seed: everything must come from the checkpoint
    history = second.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_split=0.25,
                         callbacks=[callbacks.BackupAndRestore(tmp_path / "ck", save_freq=False)])
    assert second.resume_point is not None and second.resume_point.epoch == 1 and second.resume_point.step == 4
    for a, b in zip(reference.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["val_loss"][-1] == reference.history.history["val_loss"][-1]


def test_running_state_round_trips_mid_epoch(data):
    x, y = data
    model = make_model()
    xs, ys = model._prepare_xy(x[:16], y[:16])[:2]
    model.compiled_loss.reset()
    model.train_step((xs, ys, None))
    state = model.compiled_loss.running_state()
    logs = model.compiled_loss.logs()
    model.compiled_loss.reset()
    assert model.compiled_loss.logs() != logs
    model.compiled_loss.set_running_state(state)
    assert model.compiled_loss.logs() == logs


def test_metric_state_round_trips_through_json_like_values():
    metric = metrics.get("accuracy")
    metric.update_state(np.array([0, 1, 2, 1]), np.eye(3)[[0, 1, 1, 1]])
    state = metric.get_state()
    assert set(state) == {"total", "count"}
    other = metrics.get("accuracy")
    other.set_state({k: v for k, v in state.items()})
    assert other.result() == metric.result() == pytest.approx(0.75)


def test_a_seeded_dropout_exposes_its_generator_state_and_a_plain_layer_none(data):
    model = make_model()
    model.fit(*data, batch_size=16, epochs=1, verbose=0)
    dense, dropout = model.layers[0], model.layers[1]
    assert dense.get_rng_state() is None
    state = dropout.get_rng_state()
    fresh = layers.Dropout(0.25, seed=2)
    fresh.set_rng_state(state)
    assert fresh.get_rng_state() == state


def _sigint_after(steps):
    class SigintAfter(callbacks.Callback):
        seen = 0

        def on_train_batch_end(self, batch, logs=None):
            SigintAfter.seen += 1
            if SigintAfter.seen == steps:
                os.kill(os.getpid(), signal.SIGINT)

    return SigintAfter()


def test_resumable_training_from_python_ctrl_c_checkpoint_resume(data, tmp_path):
    x, y = data
    reference = make_model()
    reference.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[callbacks.CSVLogger(tmp_path / "ref.csv")])
    said, warned = [], []
    run = ResumableTraining(tmp_path / "ck", say=said.append, warn=warned.append)
    run.fit(make_model(), x, y, batch_size=8, epochs=3, verbose=0,
            callbacks=[_sigint_after(11), callbacks.CSVLogger(tmp_path / "run.csv")])
    assert run.interrupted and run.exit_code == 130
    assert warned == ["Interrupted: finishing the current step and saving a checkpoint "
                      "(press Ctrl-C again to stop at once)"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(ConfigError, match="holds the checkpoint of an earlier run"):
        ResumableTraining(tmp_path / "ck")
    again = ResumableTraining(tmp_path / "ck", resume=True, say=said.append)
    model = make_model(seed=5)
    again.fit(model, x, y, batch_size=8, epochs=3, verbose=0, callbacks=[callbacks.CSVLogger(tmp_path / "run.csv")])
    assert not again.interrupted and again.exit_code == 0
    assert said == [f"Resuming from {tmp_path / 'ck' / 'checkpoint.dl'} at epoch 2, step 3"]
    for a, b in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "run.csv").read_text() == (tmp_path / "ref.csv").read_text()
    assert len(again.history["loss"]) == 3
    again.save(tmp_path / "m.dl")
    assert (tmp_path / "m.dl").exists() and not (tmp_path / "ck").exists()
    label, logs = final_logs(again.history)
    assert label == "train" and set(logs) == {"loss", "accuracy"}


def test_a_csv_log_is_not_touched_by_a_run_that_fails_before_its_first_epoch_ends(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("an old log\n")
    model = make_model()
    with pytest.raises(ValueError):
        model.fit(np.zeros((4, 6), np.float32), np.zeros(4), verbose=0, callbacks=[callbacks.CSVLogger(path)])
    assert path.read_text() == "an old log\n"


def test_final_logs_prefers_validation():
    assert final_logs({"loss": [2.0, 1.0], "val_loss": [3.0, 1.5], "val_accuracy": [0.5, 0.75]}) == (
        "validation", {"loss": 1.5, "accuracy": 0.75})


def test_schedules_are_a_registry_kind_and_a_plugins_schedule_saves_by_name(tmp_path):
    from corelib.optimizers import schedules

    assert schedules.ExponentialDecay is corelib.registry.get_registry().get("schedules", "ExponentialDecay")

    class Halving(schedules.LearningRateSchedule):
        def __init__(self, start=0.1):
            self.start = start

        def __call__(self, step):
            return self.start / 2 ** step

        def get_config(self):
            return {"start": self.start}

    class Plugin:
        @corelib.hookimpl
        def register_schedules(self, register):
            register(Halving)

    reg = Registry(entry_points=False)
    reg.register_plugin(Plugin(), name="halving")
    with use_registry(reg):
        model = make_model()
        model.compile(optimizer=optimizers.SGD(learning_rate=Halving(0.5)), loss="mse")
        model.save(tmp_path / "m.dl")
        loaded = models.load_model(tmp_path / "m.dl")
        assert isinstance(loaded.optimizer.learning_rate, Halving) and loaded.optimizer.learning_rate.start == 0.5
    with pytest.raises(corelib.UnknownComponentError, match="Halving"):
        schedules.deserialize({"class_name": "Halving", "config": {}})


def test_layers_offers_input_and_the_workspace_helper():
    assert layers.Input is corelib.Input
    x = layers.Input(shape=(3,))
    assert x.shape == (None, 3)
    assert layers.Workspaces.__module__ == "corelib.layers.workspace"
    assert callbacks.StopOnSignal.__module__ == "corelib.callbacks.interrupt"
    from corelib.layer import Layer

    assert Layer is layers.Layer
