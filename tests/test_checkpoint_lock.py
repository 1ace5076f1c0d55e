"""A checkpoint folder belongs to one run (issue 14): a run holds it with a lock file, a second
run is refused naming the holder's pid, a stale lock is taken over with a warning, and no run
deletes a checkpoint another run wrote; --resume refuses the checkpoint of another model or
another training configuration even when every weight shape matches."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from corelib import callbacks, config, layers, models
from corelib.callbacks.backup import BackupAndRestore
from corelib.errors import ModelFileError
from corelib.saving.checkpoints import checkpoint_run_id, read_checkpoint
from corelib.trainers import ResumableTraining
from corelib.trainers.resumable import LOCK_FILE

from _cli import dl_invoker, one_error_line

pytest.importorskip("corelib.builtin.plugin")

SPEC = """
model:
  - Dense: {units: 4, activation: ACTIVATION, input_shape: [3]}
  - Dense: {units: 2, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  optimizer: adam
  epochs: 3
  batch_size: 8
  data: train.npz
"""


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke `dl` in tmp_path (with a spec s.yaml and its data) with the built-in plugin."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 3)).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, y=(x[:, 0] > 0).astype(int))
    (tmp_path / "s.yaml").write_text(SPEC.replace("ACTIVATION", "relu"))
    return dl_invoker()


def write_lock(folder, pid, host=None):
    folder.mkdir(exist_ok=True)
    holder = {"pid": pid, "host": host or socket.gethostname(), "started": "2030-01-01T12:00:00", "run": "other"}
    (folder / LOCK_FILE).write_text(json.dumps(holder))
    return (folder / LOCK_FILE).read_bytes()


def dead_pid():
    """The pid of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def interrupt_at_first_step(monkeypatch):
    """The next `dl train` gets a real SIGINT after its first step (and writes a checkpoint)."""
    from corelib.callbacks import StopOnSignal

    def on_train_batch_end(self, batch, logs=None):
        if not getattr(self, "sent", False):
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(StopOnSignal, "on_train_batch_end", on_train_batch_end, raising=False)


# -- item 3: one run per checkpoint folder -----------------------------------------------------------------

def test_a_second_run_on_a_held_checkpoint_folder_is_refused_naming_the_holder(run, tmp_path):
    holder = os.getppid()  # a live process on this host, not this one
    lock = write_lock(tmp_path / "ck", holder)
    for extra in ([], ["--resume"]):
        line = one_error_line(run("train", "s.yaml", "--checkpoint-dir", "ck", *extra))
        assert f"ck is in use by another run: pid {holder}, started 2030-01-01T12:00:00" in line
    assert (tmp_path / "ck" / LOCK_FILE).read_bytes() == lock and os.listdir(tmp_path / "ck") == [LOCK_FILE]
    assert not (tmp_path / "s.dl").exists()


def test_a_lock_from_another_host_is_refused_and_says_how_to_clear_it(run, tmp_path):
    write_lock(tmp_path / "ck", 12345, host="elsewhere")
    line = one_error_line(run("train", "s.yaml", "--checkpoint-dir", "ck"))
    assert "pid 12345 on host elsewhere" in line and f"delete {os.path.join('ck', LOCK_FILE)}" in line


def test_a_stale_lock_is_taken_over_with_a_warning(run, tmp_path):
    pid = dead_pid()
    write_lock(tmp_path / "ck", pid)
    result = run("train", "s.yaml", "--checkpoint-dir", "ck", "-q")
    assert result.exit_code == 0, result.output
    assert f"Taking over the lock of ck from pid {pid} (started 2030-01-01T12:00:00), which is no longer running" \
        in result.stderr
    assert (tmp_path / "s.dl").exists() and not (tmp_path / "ck").exists()


def test_from_python_a_stale_lock_is_taken_over_with_a_warning(tmp_path):
    pid = dead_pid()
    write_lock(tmp_path / "ck", pid)
    with pytest.warns(UserWarning, match=f"Taking over the lock of .*ck from pid {pid}"):
        training = ResumableTraining(tmp_path / "ck", save_freq="epoch")
    assert json.loads((tmp_path / "ck" / LOCK_FILE).read_text())["pid"] == os.getpid()
    training.close()
    assert os.listdir(tmp_path / "ck") == []  # the folder was there before: it stays


def test_the_lock_names_its_run_and_goes_when_the_run_ends(tmp_path):
    with ResumableTraining(tmp_path / "ck", save_freq="epoch") as training:
        holder = json.loads((tmp_path / "ck" / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["run"] == training.backup.run_id and holder["started"]
    assert not (tmp_path / "ck").exists()  # the lock removed, and the folder this run made


def _interrupted_fit(folder, data, delete_checkpoint=False):
    """A fit stopped after its first step, leaving a checkpoint in `folder`; returns its callback."""
    class Stop(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.request_stop()

    backup = BackupAndRestore(folder, save_freq=False, delete_checkpoint=delete_checkpoint)
    make_model().fit(*data, batch_size=8, epochs=2, verbose=0, callbacks=[backup, Stop()])
    return backup


def make_model(activation="relu", loss="sparse_categorical_crossentropy", optimizer="adam"):
    config.set_seed(3)
    model = models.Sequential([layers.Dense(4, activation=activation, input_shape=(3,)),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer, loss=loss)
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int)


def test_a_run_never_deletes_a_checkpoint_another_run_wrote(tmp_path, data):
    """Run A ends normally, but B's checkpoint is in the folder by then: A leaves it, and says so."""
    theirs = _interrupted_fit(tmp_path / "b", data)
    foreign = (tmp_path / "b" / "checkpoint.dl").read_bytes()

    class SwapIn(callbacks.Callback):  # B writes its checkpoint while A trains
        def on_epoch_end(self, epoch, logs=None):
            (tmp_path / "a" / "checkpoint.dl").write_bytes(foreign)

    mine = BackupAndRestore(tmp_path / "a", delete_checkpoint=True)
    with pytest.warns(UserWarning, match=f"another run \\(id {theirs.run_id}\\) wrote it"):
        make_model().fit(*data, batch_size=8, epochs=2, verbose=0, callbacks=[mine, SwapIn()])
    assert (tmp_path / "a" / "checkpoint.dl").read_bytes() == foreign
    assert checkpoint_run_id(tmp_path / "a" / "checkpoint.dl") == theirs.run_id != mine.run_id


def test_resumable_training_saves_without_deleting_another_runs_checkpoint(tmp_path, data):
    theirs = _interrupted_fit(tmp_path / "b", data)
    warned = []
    training = ResumableTraining(tmp_path / "a", save_freq="epoch", warn=warned.append)
    training.fit(make_model(), *data, batch_size=8, epochs=1, verbose=0)
    (tmp_path / "a" / "checkpoint.dl").write_bytes((tmp_path / "b" / "checkpoint.dl").read_bytes())
    training.save(tmp_path / "m.dl")
    assert (tmp_path / "m.dl").exists() and (tmp_path / "a" / "checkpoint.dl").exists()
    assert warned == [f"{tmp_path / 'a' / 'checkpoint.dl'} was left in place: another run (id {theirs.run_id}) "
                      "wrote it"]
    assert os.listdir(tmp_path / "a") == ["checkpoint.dl"]  # the lock is gone


def test_a_resumed_run_deletes_the_checkpoint_it_continued(tmp_path, data):
    _interrupted_fit(tmp_path / "ck", data)
    resumed = BackupAndRestore(tmp_path / "ck", delete_checkpoint=True)
    make_model().fit(*data, batch_size=8, epochs=2, verbose=0, callbacks=[resumed])
    assert resumed.resumed_from is not None and not (tmp_path / "ck").exists()


# -- item 6: --resume refuses another model or another training configuration -----------------------------

@pytest.mark.parametrize("change, args, expected", [
    ("activation", [], "another model: model.config.layers[0].config.activation is 'relu' there, but 'tanh' here"),
    (None, ["--optimizer", "sgd"], "another training configuration: compile.optimizer.class_name is 'Adam' there, "
                                   "but 'SGD' here"),
    (None, ["--loss", "categorical_crossentropy"], "another training configuration: compile.loss.dense_1.class_name "
                                                   "is 'SparseCategoricalCrossentropy' there"),
    (None, ["--metrics", "accuracy"], "another training configuration: compile.metrics.dense_1 has 0 entries there, "
                                      "but 1 here"),
])
def test_resume_refuses_the_checkpoint_of_another_model_with_the_same_shapes(run, tmp_path, monkeypatch, change,
                                                                             args, expected):
    with monkeypatch.context() as patch:
        interrupt_at_first_step(patch)
        assert run("train", "s.yaml", "--checkpoint-dir", "ck").exit_code == 130
    before = (tmp_path / "ck" / "checkpoint.dl").read_bytes()
    if change == "activation":
        (tmp_path / "s.yaml").write_text(SPEC.replace("ACTIVATION", "tanh"))
    line = one_error_line(run("train", "s.yaml", "--checkpoint-dir", "ck", "--resume", *args))
    assert f"ck/checkpoint.dl: the checkpoint was written for {expected}" in line
    assert "delete ck/checkpoint.dl to start again" in line
    assert (tmp_path / "ck" / "checkpoint.dl").read_bytes() == before and not (tmp_path / "s.dl").exists()
    assert os.listdir(tmp_path / "ck") == ["checkpoint.dl"]


def test_resume_with_the_same_spec_and_options_is_accepted(run, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        interrupt_at_first_step(patch)
        assert run("train", "s.yaml", "--checkpoint-dir", "ck", "--learning-rate", "0.01").exit_code == 130
    result = run("train", "s.yaml", "--checkpoint-dir", "ck", "--learning-rate", "0.01", "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.dl").exists() and not (tmp_path / "ck").exists()


@pytest.mark.parametrize("kwargs, expected", [
    ({"activation": "sigmoid"}, "another model: model.config.layers[0].config.activation is 'relu' there, "
                                "but 'sigmoid' here"),
    ({"optimizer": "rmsprop"}, "another training configuration: compile.optimizer.class_name"),
    ({"loss": "mse"}, "another training configuration: compile.loss"),
])
def test_read_checkpoint_compares_the_architecture_and_the_training_configuration(tmp_path, data, kwargs, expected):
    _interrupted_fit(tmp_path, data)
    read_checkpoint(tmp_path / "checkpoint.dl", make_model())  # the same model: accepted, names aside
    with pytest.raises(ModelFileError, match="written for " + expected.replace("[", r"\[").replace("]", r"\]")):
        read_checkpoint(tmp_path / "checkpoint.dl", make_model(**kwargs))
