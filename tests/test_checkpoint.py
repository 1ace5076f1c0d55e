"""Checkpoints and BackupAndRestore: a run interrupted anywhere and resumed ends bit for bit
like one that was not; the files are atomic, checked, and refused when they do not fit."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from corelib import callbacks, config, layers, models
from corelib.callbacks.backup import BackupAndRestore
from corelib.saving.checkpoints import STATE_ENTRY, read_checkpoint
from corelib.errors import ConfigError, ModelFileError

EPOCHS, BATCH = 4, 16  # 96 training samples (120, validation_split 0.2): 6 steps per epoch


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 6)).astype(np.float32)
    return x, rng.integers(0, 3, 120)


def make_model(units=16):
    """Dropout (from dl's generator) and a seeded Dropout (its own generator): both must resume exactly."""
    config.set_seed(11)
    model = models.Sequential([
        layers.Dense(units, activation="relu", input_shape=(6,)),
        layers.Dropout(0.3),
        layers.Dense(units, activation="relu"),
        layers.Dropout(0.2, seed=5),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, data, cbs=(), epochs=EPOCHS, shuffle=True):
    x, y = data
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, validation_split=0.2, verbose=0, callbacks=list(cbs),
                     shuffle=shuffle)


class InterruptAt(callbacks.Callback):
    """Sets the interrupted flag after the given step, as Ctrl-C in `dl train` does."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at = (epoch, step)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.model.interrupted = self.model.stop_training = True


class CrashAt(callbacks.Callback):
    """Raises after the given step: the process dies, only the last checkpoint is left."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at = (epoch, step)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("killed")


@pytest.fixture
def reference(data):
    model = make_model()
    history = fit(model, data)
    return model.get_weights(), history.history


def assert_same_run(model, backup, reference):
    weights, history = reference
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    assert backup.history == history  # the logs of every epoch, those before the resume included


@pytest.mark.parametrize("epoch, step", [(0, 0), (1, 2), (2, 5), (3, 4)],
                         ids=["first-step", "mid-epoch", "last-step-before-validation", "last-epoch"])
def test_interrupted_and_resumed_is_bit_for_bit(tmp_path, data, reference, epoch, step):
    model = make_model()
    backup = BackupAndRestore(tmp_path / "ck", save_freq=False)
    fit(model, data, [backup, InterruptAt(epoch, step)])
    assert model.interrupted and os.path.exists(backup.path)
    state = read_checkpoint(backup.path, model).state
    assert (state.epoch, state.step) == (epoch, step + 1)

    resumed = make_model()  # a fresh process: new weights, another random state
    config.set_seed(999)
    again = BackupAndRestore(tmp_path / "ck", save_freq=False)
    fit(resumed, data, [again])
    assert (again.resumed_from.epoch, again.resumed_from.step) == (epoch, step + 1)
    assert_same_run(resumed, again, reference)
    assert not os.path.exists(tmp_path / "ck")  # deleted after a normal end, with its empty directory


@pytest.mark.parametrize("save_freq, crash, expected", [("epoch", (2, 3), (2, 0)), (4, (2, 1), (1, 6)),
                                                        (4, (2, 3), (2, 4))],
                         ids=["epoch-boundary", "every-4-steps-before-validation", "every-4-steps-mid-epoch"])
def test_killed_and_resumed_from_the_last_checkpoint_is_bit_for_bit(tmp_path, data, reference, save_freq, crash,
                                                                     expected):
    model = make_model()
    backup = BackupAndRestore(tmp_path, save_freq=save_freq)
    with pytest.raises(RuntimeError, match="killed"):
        fit(model, data, [backup, CrashAt(*crash)])
    state = read_checkpoint(backup.path, model).state
    assert (state.epoch, state.step) == expected  # 6 steps per epoch: the 12th step is epoch 1's last
    resumed = make_model()
    again = BackupAndRestore(tmp_path, save_freq=save_freq)
    fit(resumed, data, [again])
    assert_same_run(resumed, again, reference)


def test_resuming_with_more_epochs_continues_the_same_run(tmp_path, data):
    longer = make_model()
    fit(longer, data, epochs=EPOCHS + 2)
    model = make_model()
    fit(model, data, [BackupAndRestore(tmp_path, delete_checkpoint=False)])
    resumed = make_model()
    fit(resumed, data, [BackupAndRestore(tmp_path)], epochs=EPOCHS + 2)
    for got, want in zip(resumed.get_weights(), longer.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_resuming_without_shuffling(tmp_path, data):
    reference = make_model()
    fit(reference, data, shuffle=False)
    model = make_model()
    fit(model, data, [BackupAndRestore(tmp_path, save_freq=False), InterruptAt(1, 3)], shuffle=False)
    resumed = make_model()
    fit(resumed, data, [BackupAndRestore(tmp_path)], shuffle=False)
    for got, want in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_an_interrupted_fit_skips_the_epoch_end(tmp_path, data):
    seen = []

    class Ends(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    model = make_model()
    history = fit(model, data, [InterruptAt(1, 2), Ends()])
    assert seen == [0] and history.epoch == [0] and model.interrupted
    fit(model, data, epochs=1)  # the flags are reset by the next fit
    assert not model.interrupted and not model.stop_training


def test_the_checkpoint_is_a_model_file_and_can_be_kept(tmp_path, data):
    model = make_model()
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    fit(model, data, [backup])
    loaded = models.load_model(backup.path)
    x = data[0][:5]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with zipfile.ZipFile(backup.path) as zf:
        state = json.loads(zf.read(STATE_ENTRY))
    assert (state["epoch"], state["step"], state["steps"], state["samples"]) == (EPOCHS, 0, 6, 96)


def test_a_checkpoint_of_another_model_or_other_data_is_refused(tmp_path, data):
    model = make_model()
    fit(model, data, [BackupAndRestore(tmp_path, save_freq=False), InterruptAt(0, 1)])
    before = (tmp_path / "checkpoint.dl").read_bytes()
    with pytest.raises(ModelFileError, match=r"written for another model: weight 0 .* float32\[6, 16\] there, "
                                             r"but .* float32\[6, 8\] here"):
        fit(make_model(units=8), data, [BackupAndRestore(tmp_path)])
    x, y = data
    with pytest.raises(ConfigError, match="written for 96 training samples in batches of 16 .* this run has 80"):
        fit(make_model(), (x[:100], y[:100]), [BackupAndRestore(tmp_path)])
    assert (tmp_path / "checkpoint.dl").read_bytes() == before


def _rewrite(path, **changes):
    """Copy the checkpoint, changing train_state.json fields (None: remove the entry)."""
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    state = json.loads(entries[STATE_ENTRY])
    for key, value in changes.items():
        state[key] = value
    entries[STATE_ENTRY] = json.dumps(state).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, raw in entries.items():
            zf.writestr(name, raw)
    path.write_bytes(buf.getvalue())


CORRUPT = {
    "negative epoch": ({"epoch": -1}, "'epoch' must be a non-negative int, got -1"),
    "string step": ({"step": "3"}, "'step' must be a non-negative int, got '3'"),
    "other format": ({"format": "pickle"}, "is not a dl training state"),
    "future version": ({"format_version": 9}, "unsupported format_version 9"),
    "bad rng": ({"rng": {"bit_generator": "MT19937", "state": 1}}, "'rng' is not a random-number state"),
    "rng not a mapping": ({"epoch_rng": [1, 2]}, "'epoch_rng' is not a random-number state"),
    "bad loss sums": ({"loss_sums": {"sum": "x"}}, "'loss_sums' must be {sum, sums, count}"),
    "bad history": ({"history": {"loss": 3}}, "'history' must map log names to lists"),
    "bad learning rate": ({"learning_rate": True}, "'learning_rate' must be a number"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_training_states_are_refused_in_one_line(tmp_path, data, case):
    changes, expected = CORRUPT[case]
    model = make_model()
    fit(model, data, [BackupAndRestore(tmp_path, save_freq=False), InterruptAt(0, 1)])
    path = tmp_path / "checkpoint.dl"
    _rewrite(path, **changes)
    with pytest.raises(ModelFileError) as info:
        read_checkpoint(path, model)
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_not_a_checkpoint(tmp_path, data):
    model = make_model()
    model.save(tmp_path / "plain.dl")
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        read_checkpoint(tmp_path / "plain.dl", model)
    (tmp_path / "junk.dl").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="not a dl checkpoint"):
        read_checkpoint(tmp_path / "junk.dl", model)


def test_a_failed_write_leaves_the_previous_checkpoint_whole(tmp_path, data, monkeypatch):
    model = make_model()
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    fit(model, data, [backup], epochs=1)
    before = (tmp_path / "checkpoint.dl").read_bytes()
    original = zipfile.ZipFile.writestr

    def failing(self, name, *args, **kwargs):
        if name == STATE_ENTRY:
            raise OSError("disk full")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(OSError, match="disk full"):
        fit(model, data, [BackupAndRestore(tmp_path, delete_checkpoint=False)], epochs=EPOCHS)
    assert (tmp_path / "checkpoint.dl").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.dl"]  # no temporary file left behind


@pytest.mark.parametrize("kwargs, expected", [
    ({"save_freq": 0}, "save_freq must be 'epoch', a positive int"),
    ({"save_freq": "batch"}, "save_freq must be 'epoch'"),
    ({"save_freq": True}, "save_freq must be 'epoch'"),
])
def test_bad_arguments(tmp_path, kwargs, expected):
    with pytest.raises(ConfigError, match=expected):
        BackupAndRestore(tmp_path, **kwargs)
    with pytest.raises(ConfigError, match="backup_dir must be a directory path"):
        BackupAndRestore("")


def test_registered_as_a_callback():
    assert callbacks.BackupAndRestore is BackupAndRestore
    assert isinstance(callbacks.get({"class_name": "BackupAndRestore", "config": {"backup_dir": "x"}}),
                      BackupAndRestore)
