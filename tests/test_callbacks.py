"""The built-in callbacks and the progress output of fit."""

import csv

import numpy as np
import pytest

from corelib import callbacks, layers, models, optimizers


def make_model(lr=0.05):
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None): self.events.append("train_begin")
    def on_epoch_begin(self, epoch, logs=None): self.events.append(f"epoch_begin {epoch}")
    def on_train_batch_end(self, batch, logs=None): self.events.append(f"batch_end {batch}")
    def on_epoch_end(self, epoch, logs=None): self.events.append(f"epoch_end {epoch} {sorted(logs)}")
    def on_train_end(self, logs=None): self.events.append("train_end")


def test_callback_hooks_run_in_keras_order(blobs):
    x, y = blobs
    rec = Recorder()
    make_model().fit(x[:40], y[:40], epochs=2, batch_size=20, callbacks=[rec], verbose=0)
    assert rec.events == [
        "train_begin",
        "epoch_begin 0", "batch_end 0", "batch_end 1", "epoch_end 0 ['accuracy', 'loss']",
        "epoch_begin 1", "batch_end 0", "batch_end 1", "epoch_end 1 ['accuracy', 'loss']",
        "train_end",
    ]


def test_registered_callbacks_are_reachable_through_the_view():
    assert callbacks.EarlyStopping is callbacks.get("EarlyStopping").__class__
    assert isinstance(callbacks.get("early_stopping"), callbacks.Callback)


def test_early_stopping_stops_and_restores_the_best_weights(blobs):
    x, y = blobs

    class Scripted(callbacks.Callback):
        """Overwrites val_loss with a fixed sequence and records weights per epoch."""
        values = [1.0, 0.5, 0.7, 0.8, 0.9, 0.95]

        def __init__(self):
            super().__init__()
            self.weights = []

        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = self.values[epoch]
            self.weights.append(self.model.get_weights())

    scripted = Scripted()
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = make_model()
    history = model.fit(x, y, epochs=6, callbacks=[scripted, stopper], verbose=0)
    assert len(history.epoch) == 4  # best at epoch 1; epochs 2 and 3 without improvement
    assert stopper.stopped_epoch == 3 and stopper.best == 0.5
    for got, want in zip(model.get_weights(), scripted.weights[1]):
        np.testing.assert_array_equal(got, want)


def test_terminate_on_nan_stops_at_the_first_bad_batch(blobs):
    x, y = blobs
    model = models.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=1e10), loss="mse")
    seen = []

    class Count(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    history = model.fit(x * 1e3, y.astype(np.float32), epochs=5, batch_size=8,
                        callbacks=[Count(), callbacks.TerminateOnNaN()], verbose=0)
    assert len(history.epoch) == 1
    assert not np.isfinite(seen[-1]) and np.isfinite(seen[:-1]).all()


def test_learning_rate_scheduler_sets_the_rate_each_epoch(blobs):
    x, y = blobs
    model = make_model()
    seen = []
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))

    class Probe(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(model.optimizer.current_learning_rate())

    h = model.fit(x, y, epochs=3, callbacks=[sched, Probe()], verbose=0)
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_reduce_lr_on_plateau_cuts_the_rate_after_patience(blobs):
    x, y = blobs

    class Flat(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = 1.0

    model = make_model(lr=0.08)
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.015)
    model.fit(x, y, epochs=7, callbacks=[Flat(), cb], verbose=0)
    # epoch 0 sets best; epochs 1-2 wait -> 0.04; 3-4 -> 0.02; 5-6 -> 0.015 (min_lr)
    assert model.optimizer.current_learning_rate() == pytest.approx(0.015)


def test_the_epoch_line_shows_what_other_callbacks_logged(blobs, capsys):
    """The progress display runs after the user's callbacks, as in Keras: the learning rate that
    ReduceLROnPlateau logs at the end of an epoch is on that epoch's line and in the History."""
    x, y = blobs
    model = make_model()
    history = model.fit(x, y, epochs=2, validation_split=0.2, verbose=2,
                        callbacks=[callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2 and all("learning_rate: " in line for line in lines), lines
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.05])


def test_csv_logger_writes_one_row_per_epoch(tmp_path, blobs):
    x, y = blobs
    path = tmp_path / "log.csv"
    make_model().fit(x, y, epochs=3, validation_split=0.2, callbacks=[callbacks.CSVLogger(path)], verbose=0)
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(float(r["loss"]) > 0 for r in rows)


def test_verbose_2_prints_one_line_per_epoch_and_0_prints_nothing(blobs, capsys):
    x, y = blobs
    make_model().fit(x, y, epochs=2, validation_split=0.2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - ") and "loss: " in lines[0] and "val_accuracy: " in lines[0]
    make_model().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_verbose_1_draws_a_progress_bar(blobs, capsys):
    x, y = blobs
    make_model().fit(x, y, epochs=1, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "step" in out  # tqdm's bar, then the summary line
