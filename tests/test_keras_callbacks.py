"""Keras 3's ModelCheckpoint, LambdaCallback, TensorBoard and LearningRateScheduler's one-argument schedule."""

import os
import sys
import zipfile

import numpy as np
import pytest

from corelib import callbacks, layers, models, optimizers
from corelib.errors import ConfigError
from corelib.saving.archive import TEMPORARY_PREFIX


def make_model(lr=0.05):
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Scripted(callbacks.Callback):
    """Writes a fixed value of `key` into each epoch's logs and records the weights at that point.

    Placed before the callback under test, so that one sees the scripted value."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, values, []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def assert_weights_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.startswith(TEMPORARY_PREFIX)]


# -- ModelCheckpoint ------------------------------------------------------------------------


def test_checkpoint_fills_epoch_from_one_and_log_values_into_the_path(blobs, tmp_path):
    x, y = blobs
    model = make_model()
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.dl"))
    history = model.fit(x, y, epochs=3, validation_split=0.25, callbacks=[ckpt], verbose=0)
    expected = sorted(f"ckpt-{e + 1:02d}-{v:.2f}.dl" for e, v in enumerate(history.history["val_loss"]))
    assert sorted(os.listdir(tmp_path)) == expected
    last = models.load_model(str(tmp_path / expected[-1]))
    assert_weights_equal(last.get_weights(), model.get_weights())


def test_save_best_only_keeps_the_model_of_the_best_epoch(blobs, tmp_path):
    x, y = blobs
    scripted = Scripted("val_loss", [1.0, 0.5, 0.7, 0.4, 0.6])
    fixed = callbacks.ModelCheckpoint(tmp_path / "best.dl", save_best_only=True)
    per_epoch = callbacks.ModelCheckpoint(tmp_path / "e{epoch}.dl", save_best_only=True)
    make_model().fit(x, y, epochs=5, callbacks=[scripted, fixed, per_epoch], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["best.dl", "e1.dl", "e2.dl", "e4.dl"]
    assert fixed.best == 0.4
    assert_weights_equal(models.load_model(str(tmp_path / "best.dl")).get_weights(), scripted.weights[3])
    assert_weights_equal(models.load_model(str(tmp_path / "e2.dl")).get_weights(), scripted.weights[1])


@pytest.mark.parametrize("monitor, mode, values, saved", [
    ("val_accuracy", "auto", [0.5, 0.7, 0.6, 0.9], ["e1.dl", "e2.dl", "e4.dl"]),  # "acc" in the name: max
    ("val_auc", "auto", [0.5, 0.4, 0.6, 0.6], ["e1.dl", "e3.dl"]),                # "auc": max; ties do not save
    ("val_accuracy", "min", [0.5, 0.7, 0.4, 0.9], ["e1.dl", "e3.dl"]),
    ("val_loss", "max", [0.5, 0.7, 0.6, 0.9], ["e1.dl", "e2.dl", "e4.dl"]),
    ("val_mse", "auto", [0.5, 0.7, 0.4, 0.9], ["e1.dl", "e3.dl"]),                # anything else: min
])
def test_checkpoint_mode_decides_which_way_is_better(blobs, tmp_path, monitor, mode, values, saved):
    x, y = blobs
    ckpt = callbacks.ModelCheckpoint(tmp_path / "e{epoch}.dl", monitor=monitor, mode=mode, save_best_only=True)
    make_model().fit(x[:40], y[:40], epochs=4, callbacks=[Scripted(monitor, values), ckpt], verbose=0)
    assert sorted(os.listdir(tmp_path)) == saved


def test_initial_value_threshold_must_be_beaten_for_the_first_save(blobs, tmp_path):
    x, y = blobs
    ckpt = callbacks.ModelCheckpoint(tmp_path / "e{epoch}.dl", save_best_only=True, initial_value_threshold=0.45)
    make_model().fit(x[:40], y[:40], epochs=4, callbacks=[Scripted("val_loss", [1.0, 0.5, 0.44, 0.6]), ckpt],
                     verbose=0)
    assert os.listdir(tmp_path) == ["e3.dl"]
    assert ckpt.best == 0.44


def test_a_missing_monitor_warns_as_keras_and_saves(blobs, tmp_path):
    x, y = blobs
    ckpt = callbacks.ModelCheckpoint(tmp_path / "m.dl", monitor="val_nope", save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_nope available"):
        make_model().fit(x[:40], y[:40], epochs=1, callbacks=[ckpt], verbose=0)
    assert os.listdir(tmp_path) == ["m.dl"]


def test_save_freq_counts_batches_across_epochs(blobs, tmp_path):
    x, y = blobs
    ckpt = callbacks.ModelCheckpoint(tmp_path / "e{epoch}-b{batch}.dl", save_freq=3)
    make_model().fit(x[:40], y[:40], epochs=2, batch_size=10, shuffle=False, callbacks=[ckpt], verbose=0)
    # 4 batches an epoch: saves after batches 3 (epoch 1) and 6 (epoch 2, its batch 2)
    assert sorted(os.listdir(tmp_path)) == ["e1-b3.dl", "e2-b2.dl"]


def test_save_weights_only_writes_a_weights_file_that_load_weights_reads(blobs, tmp_path):
    x, y = blobs
    model = make_model()
    path = tmp_path / "sub" / "w-{epoch}.weights.npz"  # a missing folder is created
    model.fit(x[:40], y[:40], epochs=2, callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)],
              verbose=0)
    written = tmp_path / "sub" / "w-2.weights.npz"
    with zipfile.ZipFile(written) as zf:
        assert "config.json" not in zf.namelist()  # weights only, not a model file
    fresh = make_model()
    fresh.load_weights(str(written))
    assert_weights_equal(fresh.get_weights(), model.get_weights())


def test_a_failed_model_save_leaves_the_old_checkpoint_and_no_temporary_file(blobs, tmp_path, monkeypatch):
    from corelib.saving import model_file

    x, y = blobs
    path = tmp_path / "ckpt.dl"
    model = make_model()
    model.fit(x[:40], y[:40], epochs=1, callbacks=[callbacks.ModelCheckpoint(path)], verbose=0)
    before = path.read_bytes()

    def broken(arrays):
        raise OSError("disk full")

    monkeypatch.setattr(model_file, "npz_bytes", broken)  # fails inside the temporary file's write
    with pytest.raises(OSError, match="disk full"):
        model.fit(x[:40], y[:40], epochs=1, callbacks=[callbacks.ModelCheckpoint(path)], verbose=0)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_failed_weights_save_leaves_the_old_file_and_no_temporary_file(blobs, tmp_path, monkeypatch):
    x, y = blobs
    path = tmp_path / "w.weights.npz"
    model = make_model()
    model.fit(x[:40], y[:40], epochs=1, callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)],
              verbose=0)
    before = path.read_bytes()

    def broken(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", broken)  # the temporary file is complete; the rename fails
    with pytest.raises(OSError, match="rename failed"):
        model.fit(x[:40], y[:40], epochs=1,
                  callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)], verbose=0)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_checkpoint_verbose_says_what_it_did(blobs, tmp_path, capsys):
    x, y = blobs
    ckpt = callbacks.ModelCheckpoint(tmp_path / "m.dl", save_best_only=True, verbose=1)
    make_model().fit(x[:40], y[:40], epochs=2, callbacks=[Scripted("val_loss", [0.5, 0.6]), ckpt], verbose=0)
    err = capsys.readouterr().err
    assert f"Epoch 1: val_loss improved from inf to 0.50000, saving model to {tmp_path / 'm.dl'}" in err
    assert "Epoch 2: val_loss did not improve from 0.50000" in err


@pytest.mark.parametrize("kwargs, words", [
    ({"save_freq": "batch"}, "unrecognized save_freq: 'batch'"),
    ({"save_freq": 0}, "save_freq must be a positive int"),
    ({"save_freq": True}, "save_freq must be a positive int"),
    ({"mode": "best"}, "mode must be 'auto', 'min' or 'max'"),
    ({"filepath": ""}, "filepath must be a file path"),
])
def test_checkpoint_refuses_bad_arguments(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        callbacks.ModelCheckpoint(**{"filepath": "m.dl", **kwargs})


def test_checkpoint_path_errors_name_the_missing_field_or_the_directory(blobs, tmp_path):
    x, y = blobs
    with pytest.raises(ConfigError, match=r"no field 'val_nope' \(available: accuracy, epoch, loss\)"):
        make_model().fit(x[:40], y[:40], epochs=1, verbose=0,
                         callbacks=[callbacks.ModelCheckpoint(tmp_path / "{val_nope}.dl")])
    (tmp_path / "adir").mkdir()
    with pytest.raises(ConfigError, match="non-directory filepath"):
        make_model().fit(x[:40], y[:40], epochs=1, verbose=0,
                         callbacks=[callbacks.ModelCheckpoint(tmp_path / "adir")])


# -- LambdaCallback -------------------------------------------------------------------------


def test_lambda_callback_calls_each_function_with_the_hooks_arguments(blobs):
    x, y = blobs
    seen = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: seen.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: seen.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: seen.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: seen.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: seen.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: seen.append("train_end"),
        on_test_end=lambda logs: seen.append(f"test_end {sorted(logs)}"),  # another hook, by keyword
    )
    model = make_model()
    model.fit(x[:20], y[:20], epochs=2, batch_size=10, callbacks=[cb], verbose=0)
    model.evaluate(x[:20], y[:20], callbacks=[cb], verbose=0)
    batches = lambda: [f"batch_begin {b}" if i % 2 == 0 else f"batch_end {b} ['accuracy', 'loss']"
                       for b in range(2) for i in range(2)]
    assert seen == ["train_begin",
                    "epoch_begin 0", *batches(), "epoch_end 0 ['accuracy', 'loss']",
                    "epoch_begin 1", *batches(), "epoch_end 1 ['accuracy', 'loss']",
                    "train_end", "test_end ['accuracy', 'loss']"]


def test_lambda_callback_refuses_unknown_hooks_and_non_functions():
    with pytest.raises(ConfigError, match="unknown hook 'on_epoch_ned'"):
        callbacks.LambdaCallback(on_epoch_ned=print)
    with pytest.raises(ConfigError, match="on_epoch_end must be a function"):
        callbacks.LambdaCallback(on_epoch_end="print")


def test_lambda_callback_cannot_be_serialized():
    from corelib.registry import view

    cb = callbacks.LambdaCallback(on_epoch_end=print)
    with pytest.raises(ConfigError, match="LambdaCallback holds Python functions"):
        cb.get_config()
    with pytest.raises(ConfigError, match="LambdaCallback holds Python functions"):
        view.serialize("callbacks", cb)
    with pytest.raises(ConfigError, match="on_epoch_end must be a function"):  # nor rebuilt from a config
        callbacks.get({"class_name": "LambdaCallback", "config": {"on_epoch_end": "print"}})


# -- TensorBoard ----------------------------------------------------------------------------


def read_events(folder):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    events.Reload()
    return events


def scalar_series(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


def as_float32(values):
    return [float(np.float32(v)) for v in values]


def test_tensorboard_writes_keras_scalars_that_tensorboard_reads(blobs, tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = blobs
    model = make_model(lr=0.05)
    tb = callbacks.TensorBoard(log_dir=tmp_path, update_freq="batch")
    history = model.fit(x[:80], y[:80], epochs=3, batch_size=20, validation_split=0.25, callbacks=[tb], verbose=0)
    train, val = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    h = history.history
    for name in ("loss", "accuracy"):
        assert scalar_series(train, f"epoch_{name}") == list(zip(range(3), as_float32(h[name])))
        assert scalar_series(val, f"epoch_{name}") == list(zip(range(3), as_float32(h[f"val_{name}"])))
        # Keras's evaluation scalars, against the optimizer's step count (3 batches an epoch)
        assert scalar_series(val, f"evaluation_{name}_vs_iterations") == \
            list(zip((3, 6, 9), as_float32(h[f"val_{name}"])))
    assert scalar_series(train, "epoch_learning_rate") == list(zip(range(3), as_float32([0.05] * 3)))
    steps = [s for s, _ in scalar_series(train, "batch_loss")]
    assert steps == list(range(1, 10))  # one per batch, counted from 1 across epochs
    assert scalar_series(train, "batch_loss")[2][1] == pytest.approx(h["loss"][0], rel=1e-6)  # epoch 1's last
    assert not any(tag.startswith("epoch_val") for tag in train.Tags()["scalars"] + val.Tags()["scalars"])


def test_tensorboard_update_freq_n_and_epoch(blobs, tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = blobs
    make_model().fit(x[:80], y[:80], epochs=2, batch_size=10, verbose=0,
                     callbacks=[callbacks.TensorBoard(tmp_path / "every3", update_freq=3)])
    assert [s for s, _ in scalar_series(read_events(tmp_path / "every3" / "train"), "batch_loss")] == [3, 6, 9, 12, 15]
    make_model().fit(x[:80], y[:80], epochs=2, batch_size=10, verbose=0,
                     callbacks=[callbacks.TensorBoard(tmp_path / "epochs")])
    tags = read_events(tmp_path / "epochs" / "train").Tags()["scalars"]
    assert "epoch_loss" in tags and not any(t.startswith("batch_") for t in tags)
    assert not (tmp_path / "epochs" / "validation").exists()  # no validation, no validation events


def test_tensorboard_histograms_hold_the_weights(blobs, tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = blobs
    model = make_model()
    recorder = Scripted("unused", [0.0] * 4)
    model.fit(x[:40], y[:40], epochs=4, verbose=0,
              callbacks=[recorder, callbacks.TensorBoard(tmp_path, histogram_freq=2, write_images=True)])
    train = read_events(tmp_path / "train")
    paths = [p.path for p in model.weights]
    assert sorted(train.Tags()["histograms"]) == sorted(f"{p}/histogram" for p in paths)
    for i, p in enumerate(paths):
        events = train.Histograms(f"{p}/histogram")
        assert [e.step for e in events] == [0, 2]
        for event, epoch in zip(events, (0, 2)):
            value = recorder.weights[epoch][i]
            assert event.histogram_value.num == value.size
            assert event.histogram_value.min == pytest.approx(float(value.min()), abs=1e-6)
            assert event.histogram_value.max == pytest.approx(float(value.max()), abs=1e-6)
            assert event.histogram_value.sum == pytest.approx(float(value.sum()), abs=1e-5)
    # Keras's weight images: each Dense kernel and bias is 2-D or 1-D, so each has one
    assert sorted(train.Tags()["images"]) == sorted(f"{p}/image" for p in paths)


def test_tensorboard_evaluate_and_steps_per_second(blobs, tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = blobs
    model = make_model()
    model.fit(x[:40], y[:40], epochs=1, batch_size=10, verbose=0,
              callbacks=[callbacks.TensorBoard(tmp_path / "fit", write_steps_per_second=True, update_freq=2)])
    train = read_events(tmp_path / "fit" / "train")
    assert scalar_series(train, "epoch_steps_per_second")[0][1] > 0
    assert [s for s, _ in scalar_series(train, "batch_steps_per_second")] == [2, 4]
    result = model.evaluate(x[40:80], y[40:80], callbacks=[callbacks.TensorBoard(tmp_path / "ev")], verbose=0,
                            return_dict=True)
    val = read_events(tmp_path / "ev" / "validation")
    assert scalar_series(val, "evaluation_loss_vs_iterations") == [(4, float(np.float32(result["loss"])))]


def test_tensorboard_without_tensorboardx_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r'TensorBoard needs tensorboardX.*pip install "dl\[tensorboard\]"'):
        callbacks.TensorBoard()


@pytest.mark.parametrize("kwargs, words", [
    ({"profile_batch": 2}, r"profiling is not available in dl. Received: profile_batch=2 \(must be 0\)"),
    ({"profile_batch": (1, 3)}, "profiling is not available"),
    ({"embeddings_freq": 1}, "embedding projector is not supported"),
    ({"embeddings_metadata": "meta.tsv"}, "embedding projector is not supported"),
    ({"update_freq": "step"}, "update_freq must be 'epoch', 'batch' or a positive int"),
    ({"update_freq": 0}, "update_freq must be a positive int"),
    ({"histogram_freq": -1}, "histogram_freq must be a non-negative int"),
    ({"log_dir": ""}, "log_dir must be a folder path"),
])
def test_tensorboard_refuses_what_it_cannot_do(kwargs, words):
    pytest.importorskip("tensorboardX")
    with pytest.raises(ConfigError, match=words):
        callbacks.TensorBoard(**kwargs)


def test_tensorboard_weight_images_follow_keras_layout():
    from corelib.builtin.callbacks.tensorboard import weight_image

    kernel = np.arange(12, dtype=np.float32).reshape(4, 3)  # taller than wide: transposed
    np.testing.assert_array_equal(weight_image(kernel)[0, :, :, 0], kernel.T)
    assert weight_image(np.ones(5)).shape == (1, 5, 1, 1)  # a bias: one column
    conv1d = np.arange(24, dtype=np.float32).reshape(3, 2, 4)  # (width, in, out): one image per output
    np.testing.assert_array_equal(weight_image(conv1d)[:, :, :, 0], np.transpose(conv1d, (2, 0, 1)))
    assert weight_image(np.ones((3, 3, 2, 8))) is None  # Keras writes no image of a 2-D conv kernel


# -- LearningRateScheduler ------------------------------------------------------------------


def test_schedule_of_one_argument_gets_the_epoch(blobs):
    x, y = blobs
    h = make_model().fit(x[:40], y[:40], epochs=3, verbose=0,
                         callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])


def test_schedule_of_two_arguments_gets_the_current_rate(blobs):
    x, y = blobs
    h = make_model(lr=0.2).fit(x[:40], y[:40], epochs=3, verbose=0,
                               callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: len(lr),   # a bug in a two-argument schedule
    lambda epoch: len(epoch),    # and in a one-argument one
])
def test_a_type_error_inside_the_schedule_is_not_swallowed(blobs, schedule):
    x, y = blobs
    with pytest.raises(TypeError, match="has no len"):
        make_model().fit(x[:40], y[:40], epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(schedule)])


def test_a_schedule_without_a_readable_signature_is_tried_as_keras_does(blobs):
    class Opaque:
        __signature__ = "unreadable"  # inspect.signature raises TypeError

        def __call__(self, epoch):
            return 0.01 * (epoch + 1)

    x, y = blobs
    h = make_model().fit(x[:40], y[:40], epochs=2, verbose=0, callbacks=[callbacks.LearningRateScheduler(Opaque())])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02])


def test_schedule_errors_are_clear(blobs):
    x, y = blobs
    with pytest.raises(ConfigError, match=r"schedule must accept \(epoch, lr\) or \(epoch\)"):
        callbacks.LearningRateScheduler(lambda: 0.1)
    with pytest.raises(ConfigError, match="should be a float. Got: 'fast'"):
        make_model().fit(x[:40], y[:40], epochs=1, verbose=0,
                         callbacks=[callbacks.LearningRateScheduler(lambda epoch: "fast")])
