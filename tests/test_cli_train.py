"""`dl train`: flags, log, plot, checkpoints and --resume (CliRunner), and Ctrl-C / kill -9
then --resume in real processes, ending bit for bit like an uninterrupted run."""

import csv
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from corelib import models

from _cli import dl_invoker, one_error_line

pytest.importorskip("corelib.builtin.plugin")

SPEC = """
model:
  - Dense: {units: 48, activation: relu, input_shape: [8]}
  - Dropout: {rate: 0.3}
  - Dense: {units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  optimizer: adam
  metrics: [accuracy]
  epochs: EPOCHS
  batch_size: 8
  validation_split: 0.2
  data: train.npz
  seed: 4
"""


def write_run(directory, epochs=3, samples=200):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((samples, 8)).astype(np.float32)
    np.savez(directory / "train.npz", x=x, y=(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5))
    (directory / "spec.yaml").write_text(SPEC.replace("EPOCHS", str(epochs)))


def same_weights(path_a, path_b):
    a, b = models.load_model(str(path_a)), models.load_model(str(path_b))
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke `dl` in tmp_path with the built-in plugin; returns the result."""
    monkeypatch.chdir(tmp_path)
    return dl_invoker()


def test_flags_train_a_spec_that_has_only_layers(run, tmp_path):
    write_run(tmp_path)
    result = run("compose", "Dense(16, activation='relu')", "Dense(3, activation='softmax')",
                 "--input-shape", "8", "-o", "layers.yaml")
    assert result.exit_code == 0, result.output
    result = run("train", "layers.yaml", "--data", "train.npz", "--loss", "sparse_categorical_crossentropy",
                 "--optimizer", "sgd", "--learning-rate", "0.02", "--metrics", "accuracy,sparse_categorical_accuracy",
                 "--metrics", "sparse_top_k_categorical_accuracy",
                 "--validation-split", "0.25", "--epochs", "3", "--batch-size", "10",
                 "--log", "run.csv", "--plot", "run.png")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" - ")[0] for line in lines if line.startswith("Epoch ")] == ["Epoch 1/3", "Epoch 2/3",
                                                                                    "Epoch 3/3"]
    assert f"Training on {tmp_path / 'train.npz'}: 200 samples, 3 epoch(s), batch size 10" in result.stdout
    model = models.load_model("layers.dl")
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.get_config()["learning_rate"] == 0.02
    assert model.metrics_names == ["loss", "accuracy", "sparse_categorical_accuracy",
                                   "sparse_top_k_categorical_accuracy"]
    with open("run.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    names = ["loss", "accuracy", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"]
    assert set(rows[0]) == {"epoch", *names, *(f"val_{n}" for n in names)}
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "layers.checkpoint").exists()


def test_quiet_prints_only_the_result(run, tmp_path):
    write_run(tmp_path)
    result = run("train", "spec.yaml", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("validation: loss: ") and lines[1].endswith("spec.dl")
    assert result.stderr == ""


def test_plot_without_matplotlib_is_refused_before_training(run, tmp_path, monkeypatch):
    write_run(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run("train", "spec.yaml", "--plot", "run.png")
    assert result.exit_code == 2
    assert "needs matplotlib, which is not installed: pip install 'dl[plot]'" in one_error_line(result)
    assert not (tmp_path / "spec.dl").exists() and not (tmp_path / "run.png").exists()
    assert run("train", "spec.yaml", "--quiet").exit_code == 0  # everything else works without it


def test_an_existing_checkpoint_is_kept_unless_resumed(run, tmp_path):
    write_run(tmp_path)
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "checkpoint.dl").write_bytes(b"an earlier run")
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: ck holds the checkpoint of an earlier run: pass --resume (resume=True) "
                                      "to continue it, or delete ck/checkpoint.dl to start again")
    assert (tmp_path / "ck" / "checkpoint.dl").read_bytes() == b"an earlier run"
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck", "--resume")
    assert result.exit_code == 2 and "ck/checkpoint.dl: not a dl checkpoint" in one_error_line(result)
    assert (tmp_path / "ck" / "checkpoint.dl").read_bytes() == b"an earlier run"


def test_an_error_in_the_first_step_leaves_the_old_log(run, tmp_path):
    write_run(tmp_path)
    (tmp_path / "run.csv").write_text("epoch,loss\n0,0.5\n")
    result = run("train", "spec.yaml", "--metrics", "mae", "--log", "run.csv")  # mae needs one-hot targets
    assert result.exit_code == 2 and "Metric 'mae' expects y_true with the shape of y_pred" in result.stderr
    assert (tmp_path / "run.csv").read_text() == "epoch,loss\n0,0.5\n" and not (tmp_path / "spec.dl").exists()


def test_resume_without_a_checkpoint_starts_from_the_beginning(run, tmp_path):
    write_run(tmp_path)
    result = run("train", "spec.yaml", "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"No checkpoint in {tmp_path / 'spec.checkpoint'}; starting from the beginning\n"
    result = run("train", "spec.yaml", "--checkpoint-freq", "3")
    assert result.exit_code == 2 and "--checkpoint-freq needs --checkpoint-dir" in result.stderr
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck", "--checkpoint-freq", "often")
    assert result.exit_code == 2 and "'often' is neither 'epoch' nor a positive number of steps" in result.stderr


def test_ctrl_c_in_process_then_resume_is_bit_for_bit(run, tmp_path, monkeypatch):
    """SIGINT (raised by the process itself mid-epoch) through the real handler; --resume completes the run."""
    from corelib.callbacks import StopOnSignal

    write_run(tmp_path, epochs=4)
    assert run("train", "spec.yaml", "--output", "reference.dl", "--log", "reference.csv", "-q").exit_code == 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 27:  # epoch 2 (20 steps per epoch), step 7
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(StopOnSignal, "on_train_batch_end", on_train_batch_end, raising=False)
    result = run("train", "spec.yaml", "--log", "run.csv")
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines() == [
        "Interrupted: finishing the current step and saving a checkpoint (press Ctrl-C again to stop at once)",
        f"Saved a checkpoint to {tmp_path / 'spec.checkpoint' / 'checkpoint.dl'}; run the same command with "
        "--resume to continue",
    ]
    assert not (tmp_path / "spec.dl").exists()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    result = run("train", "spec.yaml", "--log", "run.csv", "--resume")
    assert result.exit_code == 0, result.output
    assert f"Resuming from {tmp_path / 'spec.checkpoint' / 'checkpoint.dl'} at epoch 2, step 7" in result.stdout
    assert same_weights("spec.dl", "reference.dl")
    assert (tmp_path / "run.csv").read_text() == (tmp_path / "reference.csv").read_text()
    assert not (tmp_path / "spec.checkpoint").exists()


# -- real processes ------------------------------------------------------------------------------------

def dl_process(cwd, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "dl_cli", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def read_until(proc, prefix):
    """Read the process's output lines until one starts with `prefix` (the process keeps training)."""
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f"the process ended before printing {prefix!r}: {proc.stderr.read()}")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference")
    write_run(directory, epochs=30, samples=480)
    code, out, err = finish(dl_process(directory, "train", "spec.yaml", "--log", "run.csv", "-q"))
    assert code == 0, err
    return directory


@pytest.mark.parametrize("signum, exit_code, notice", [(signal.SIGINT, 130, "Interrupted: "),
                                                   (signal.SIGTERM, 143, "Terminated (SIGTERM): ")],
                         ids=["sigint", "sigterm"])
def test_a_stop_signal_writes_a_checkpoint_then_resume_is_bit_for_bit(tmp_path, reference_run, signum, exit_code,
                                                                      notice):
    """Ctrl-C (SIGINT) exits 130, a batch system's SIGTERM 143; both after a checkpoint."""
    write_run(tmp_path, epochs=30, samples=480)
    proc = dl_process(tmp_path, "train", "spec.yaml", "--log", "run.csv")
    read_until(proc, "Epoch 3/30")
    proc.send_signal(signum)
    code, out, err = finish(proc)
    assert code == exit_code, err
    assert err.startswith(notice), err
    assert "Saved a checkpoint to " in err and "Traceback" not in err
    assert (tmp_path / "spec.checkpoint" / "checkpoint.dl").exists() and not (tmp_path / "spec.dl").exists()
    code, out, err = finish(dl_process(tmp_path, "train", "spec.yaml", "--log", "run.csv", "--resume"))
    assert code == 0, err
    assert "Resuming from " in out
    assert same_weights(tmp_path / "spec.dl", reference_run / "spec.dl")
    assert (tmp_path / "run.csv").read_text() == (reference_run / "run.csv").read_text()


def test_killed_then_resumed_is_bit_for_bit(tmp_path, reference_run):
    write_run(tmp_path, epochs=30, samples=480)
    args = ("train", "spec.yaml", "--checkpoint-dir", "ck", "--checkpoint-freq", "7")
    proc = dl_process(tmp_path, *args)
    read_until(proc, "Epoch 4/30")
    proc.kill()  # SIGKILL: no handler runs; only the last checkpoint (every 7 steps) is left
    code, _, _ = finish(proc)
    assert code == -signal.SIGKILL
    assert (tmp_path / "ck" / "checkpoint.dl").exists()  # whole, even if the kill came in the middle of a write
    code, out, err = finish(dl_process(tmp_path, *args, "--resume"))
    assert code == 0, err
    assert "Resuming from ck/checkpoint.dl at epoch " in out
    assert same_weights(tmp_path / "spec.dl", reference_run / "spec.dl")
    assert not (tmp_path / "ck").exists()
