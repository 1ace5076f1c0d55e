"""What a `dl` command reads and writes (issue 14): it never writes over one of its inputs or
into its checkpoint folder, a spec's paths stay under the spec's folder, every output is
checked to take writes before the first step, a failed write at the end keeps the trained
model, and a file system's refusal, Ctrl-C at start-up, names from files and damaged model
files each end as one line with the documented exit code."""

import builtins
import errno
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import config, layers, models
from dl_cli import main as dl_main
from dl_cli.main import cli

from _cli import dl_invoker, one_error_line

pytest.importorskip("corelib.builtin.plugin")

SPEC = """
model:
  - Dense: {units: 4, activation: relu, input_shape: [3]}
  - Dense: {units: 2, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  optimizer: adam
  epochs: EPOCHS
  batch_size: 8
  data: DATA
"""


def write_run(directory, epochs=2, data="train.npz", spec="s.yaml"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 3)).astype(np.float32)
    np.savez(directory / "train.npz", x=x, y=(x[:, 0] > 0).astype(int))
    path = directory / spec
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SPEC.replace("EPOCHS", str(epochs)).replace("DATA", data))
    return path


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke `dl` in tmp_path with the built-in plugin; returns the result."""
    monkeypatch.chdir(tmp_path)
    return dl_invoker()


def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- item 1: outputs never overwrite inputs ---------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--output", "s.yaml"], "--output s.yaml is the same file as SPEC s.yaml"),
    (["--log", "s.yaml"], "--log s.yaml is the same file as SPEC s.yaml"),
    (["--log", "train.npz"], "--log train.npz is the same file as training.data"),
    (["--data", "train.npz", "--log", "train.npz"], "--log train.npz is the same file as --data train.npz"),
    (["--output", "m.dl", "--log", "m.dl"], "--output m.dl and --log m.dl are the same file"),
    (["--plot", "s.yaml"], "--plot s.yaml is the same file as SPEC s.yaml"),
])
def test_train_never_writes_over_its_inputs(run, tmp_path, args, expected):
    write_run(tmp_path)
    before = snapshot(tmp_path)
    line = one_error_line(run("train", "s.yaml", *args))
    assert expected in line
    assert snapshot(tmp_path) == before


def test_train_refuses_an_output_that_is_a_hard_or_symbolic_link_of_an_input(run, tmp_path):
    write_run(tmp_path)
    os.link(tmp_path / "train.npz", tmp_path / "hard.npz")
    os.symlink(tmp_path / "s.yaml", tmp_path / "link.yaml")
    before = snapshot(tmp_path)
    assert "--log hard.npz is the same file as training.data" in one_error_line(run("train", "s.yaml", "--log",
                                                                                      "hard.npz"))
    assert "--output link.yaml is the same file as SPEC s.yaml" in one_error_line(run("train", "s.yaml", "--output",
                                                                                       "link.yaml"))
    assert snapshot(tmp_path) == before


def test_the_model_is_never_written_into_the_checkpoint_folder(run, tmp_path):
    """It was saved there, reported as saved, and deleted with the checkpoint folder."""
    write_run(tmp_path)
    (tmp_path / "ck").mkdir()
    line = one_error_line(run("train", "s.yaml", "--output", "ck/checkpoint.dl", "--checkpoint-dir", "ck"))
    assert "--output ck/checkpoint.dl is inside the checkpoint folder ck (--checkpoint-dir)" in line
    line = one_error_line(run("train", "s.yaml", "--log", "m.checkpoint/run.csv", "--output", "m.dl"))
    assert "--log m.checkpoint/run.csv is inside the checkpoint folder m.checkpoint" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "s.yaml", "train.npz"]


@pytest.mark.parametrize("field, value, expected", [
    ("output", "../evil.dl", "training.output"),
    ("output", "{tmp}/evil.dl", "training.output"),  # absolute, outside the spec's folder
    ("data", "../train.npz", "training.data"),
])
def test_paths_in_a_spec_stay_under_the_specs_folder(run, tmp_path, field, value, expected):
    spec = write_run(tmp_path, spec="sub/s.yaml")
    value = value.format(tmp=tmp_path)
    if field == "output":
        spec.write_text(spec.read_text().replace("data: train.npz", "data: train.npz\n  output: " + value))
        (tmp_path / "sub" / "train.npz").write_bytes((tmp_path / "train.npz").read_bytes())
    else:
        spec.write_text(spec.read_text().replace("data: train.npz", "data: " + value))
    before = snapshot(tmp_path)
    line = one_error_line(run("train", "sub/s.yaml"))
    assert f"sub/s.yaml: {expected}" in line and "is outside the spec's folder" in line
    assert f"give --{field}" in line
    assert snapshot(tmp_path) == before and not (tmp_path / "evil.dl").exists()


def test_paths_given_on_the_command_line_may_go_anywhere(run, tmp_path):
    spec = write_run(tmp_path, spec="sub/s.yaml", data="../train.npz")
    result = run("train", spec, "--data", "train.npz", "--output", "out.dl", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.dl").exists()


def test_predict_never_writes_over_its_inputs(run, tmp_path):
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.dl")
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    os.symlink(tmp_path / "x.npy", tmp_path / "link.npy")
    before = snapshot(tmp_path)
    assert "-o/--output x.npy is the same file as INPUT x.npy" in one_error_line(
        run("predict", "m.dl", "x.npy", "-o", "x.npy"))
    assert "-o/--output link.npy is the same file as INPUT x.npy" in one_error_line(
        run("predict", "m.dl", "x.npy", "-o", "link.npy"))
    assert snapshot(tmp_path) == before


def test_compose_refuses_two_outputs_that_are_one_file(run, tmp_path):
    (tmp_path / "m.yaml").write_text("old spec\n")
    os.symlink(tmp_path / "m.yaml", tmp_path / "m.dot")
    before = snapshot(tmp_path)
    line = one_error_line(run("compose", "Dense(2)", "--input-shape", "3", "-o", "m.yaml", "--plot", "m.dot"))
    assert "-o/--output m.yaml and --plot m.dot are the same file" in line
    assert snapshot(tmp_path) == before


# -- item 2: outputs checked before the first step; a failed save keeps the model --------------------------

@pytest.fixture
def read_only(monkeypatch):
    """Make a folder refuse writes: chmod where that works, and where it does not (root)
    the calls that create files there raise EROFS."""
    made = []

    def make(folder):
        folder = Path(folder).resolve()
        if os.geteuid() != 0:
            folder.chmod(0o555)
            made.append(folder)
            return
        real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

        def refuse(path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

        def under(path):
            return Path(os.path.abspath(path)).parent == folder or Path(os.path.abspath(path)) == folder

        def os_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path):
                refuse(path)
            return real_os_open(path, flags, *args, **kwargs)

        def py_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+") and under(file):
                refuse(file)
            return real_open(file, mode, *args, **kwargs)

        def mkdir(path, *args, **kwargs):
            if under(path):
                refuse(path)
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", py_open)
        monkeypatch.setattr(os, "mkdir", mkdir)

    yield make
    for folder in made:
        folder.chmod(0o755)


def test_an_output_folder_that_takes_no_writes_is_refused_before_the_first_step(run, tmp_path, read_only):
    write_run(tmp_path, epochs=3)
    (tmp_path / "logs").mkdir()
    read_only(tmp_path / "logs")
    result = run("train", "s.yaml", "--log", "logs/run.csv", "--output", "m.dl")
    line = one_error_line(result)
    assert "--log logs/run.csv: cannot write" in line and "logs" in line
    assert "Epoch" not in result.stdout and not (tmp_path / "m.dl").exists()


def test_a_checkpoint_folder_that_cannot_be_made_is_refused_before_the_first_step(run, tmp_path, read_only):
    write_run(tmp_path, epochs=3)
    (tmp_path / "ro").mkdir()
    read_only(tmp_path / "ro")
    result = run("train", "s.yaml", "--checkpoint-dir", "ro/ck", "--output", "m.dl")
    line = one_error_line(result)
    assert "ro/ck: cannot write the checkpoint folder" in line
    assert "Epoch" not in result.stdout and not (tmp_path / "m.dl").exists()


def _fail_writes_into(monkeypatch, *folders, code=errno.ENOSPC):
    """Files written into `folders` fail as on a full disk: the temporary file is written,
    then putting it in place fails with `code`."""
    real_replace = os.replace
    full = {Path(folder).resolve() for folder in folders}

    def replace(src, dst, **kwargs):
        if Path(os.path.abspath(dst)).parent in full:
            raise OSError(code, os.strerror(code), src, dst)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_a_model_that_cannot_be_saved_is_kept_in_the_checkpoint_folder_and_resume_saves_it(run, tmp_path,
                                                                                             monkeypatch):
    write_run(tmp_path, epochs=2)
    (tmp_path / "out").mkdir()
    with monkeypatch.context() as patch:
        _fail_writes_into(patch, tmp_path / "out")
        result = run("train", "s.yaml", "--output", "out/m.dl", "--checkpoint-dir", "ck", "-q")
    line = one_error_line(result)
    assert "out/m.dl: cannot save the model (No space left on device)" in line
    assert "the trained model is kept in the checkpoint ck/checkpoint.dl" in line
    assert (tmp_path / "ck" / "checkpoint.dl").exists() and not (tmp_path / "ck" / "checkpoint.lock").exists()
    trained = models.load_model(str(tmp_path / "ck" / "checkpoint.dl")).get_weights()

    result = run("train", "s.yaml", "--output", "out/m.dl", "--checkpoint-dir", "ck", "--resume", "-q")
    assert result.exit_code == 0, result.output
    saved = models.load_model(str(tmp_path / "out" / "m.dl")).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(trained, saved))  # no further training on resume
    assert not (tmp_path / "ck").exists()


def test_without_a_checkpoint_dir_a_model_that_cannot_be_saved_is_kept_next_to_it(run, tmp_path, monkeypatch):
    write_run(tmp_path, epochs=1)
    (tmp_path / "out").mkdir()
    with monkeypatch.context() as patch:
        _fail_writes_into(patch, tmp_path / "out")
        line = one_error_line(run("train", "s.yaml", "--output", "out/m.dl", "-q"))
    kept = tmp_path / "out" / "m.checkpoint" / "checkpoint.dl"
    assert "the trained model is kept in the checkpoint out/m.checkpoint/checkpoint.dl" in line and kept.exists()
    result = run("train", "s.yaml", "--output", "out/m.dl", "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "m.dl").exists() and not kept.parent.exists()


def test_a_model_that_cannot_be_kept_either_says_so_in_one_line(run, tmp_path, monkeypatch):
    write_run(tmp_path, epochs=1)
    (tmp_path / "out").mkdir()
    _fail_writes_into(monkeypatch, tmp_path / "out", tmp_path / "out" / "m.checkpoint")
    line = one_error_line(run("train", "s.yaml", "--output", "out/m.dl", "-q"))
    assert "out/m.dl: cannot save the model (No space left on device)" in line
    assert "could not be kept in the checkpoint folder either" in line


def test_a_log_that_fills_the_disk_mid_run_names_the_log_and_the_checkpoint_to_resume(run, tmp_path, monkeypatch):
    from corelib.callbacks import CSVLogger

    write_run(tmp_path, epochs=3)
    real = CSVLogger.on_epoch_end

    def full_disk(self, epoch, logs=None):
        if epoch == 1:  # a write to the open log fails without a file name
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, epoch, logs)

    with monkeypatch.context() as patch:
        patch.setattr(CSVLogger, "on_epoch_end", full_disk)
        line = one_error_line(run("train", "s.yaml", "--log", "run.csv", "--checkpoint-dir", "ck", "-q"))
    assert line == ("Error: run.csv: No space left on device; the last checkpoint is ck/checkpoint.dl: run the "
                    "same command with --resume to continue")
    assert os.listdir(tmp_path / "ck") == ["checkpoint.dl"]  # the lock released
    result = run("train", "s.yaml", "--log", "run.csv", "--checkpoint-dir", "ck", "--resume", "-q")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "No space left on device"),
                                          (errno.EROFS, "Read-only file system")])
def test_a_full_or_read_only_file_system_is_one_line_naming_the_file(run, tmp_path, monkeypatch, code, reason):
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.dl")
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(dst) in ("p.npy", "c.yaml"):
            raise OSError(code, os.strerror(code), src, dst)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert one_error_line(run("predict", "m.dl", "x.npy", "-o", "p.npy")) == f"Error: p.npy: {reason}"
    line = one_error_line(run("compose", "Dense(2)", "--input-shape", "3", "-o", "c.yaml"))
    assert line == f"Error: c.yaml: {reason}"
    assert not (tmp_path / "p.npy").exists() and [p.name for p in tmp_path.glob(".dl-*")] == []


# -- item 11: Ctrl-C in the first moments ------------------------------------------------------------------

def test_ctrl_c_while_the_command_line_is_parsed_exits_130_in_one_line(monkeypatch):
    import click

    def interrupted(self, ctx, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(click.Group, "parse_args", interrupted)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 130 and result.stderr == "Interrupted\n"


def test_ctrl_c_while_the_library_is_first_imported_exits_130_in_one_line(monkeypatch):
    real_import = builtins.__import__

    def importing(name, *args, **kwargs):
        if name.startswith("corelib"):
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importing)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 130 and result.stderr == "Interrupted\n"


def test_ctrl_c_while_dl_itself_is_imported_exits_130_in_one_line(tmp_path):
    import subprocess
    import sys

    probe = ("import builtins, sys\n"
             "real = builtins.__import__\n"
             "def imp(name, *a, **k):\n"
             "    if name == 'dl_cli.train':\n"
             "        raise KeyboardInterrupt\n"
             "    return real(name, *a, **k)\n"
             "builtins.__import__ = imp\n"
             "import dl_cli.main\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "Interrupted\n")
    assert dl_main.main  # the module itself imports


# -- item 14: names from files are printed escaped ---------------------------------------------------------

def test_names_from_a_model_file_are_printed_with_non_printables_escaped(run, tmp_path):
    """A right-to-left override (a name may hold one) would reorder what the terminal shows."""
    model = models.Sequential([layers.Dense(2, input_shape=(3,), name="exe.txt\u202edense")], name="m\u200b\u202e")
    model.save(tmp_path / "m.dl")
    result = run("summary", "m.dl")
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.stdout and "\u200b" not in result.stdout
    assert "exe.txt\\u202edense" in result.stdout and 'Model: "m\\u200b\\u202e"' in result.stdout


def test_a_model_file_with_control_characters_in_a_name_is_refused_in_one_escaped_line(run, tmp_path):
    import json

    models.Sequential([layers.Dense(2, input_shape=(3,), name="plain")]).save(tmp_path / "m.dl")
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    doc = json.loads(entries["config.json"])
    doc["model"]["config"]["name"] = "evil\x1b[2J\x07"
    entries["config.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(tmp_path / "m.dl", "w") as zf:
        for name, raw in entries.items():
            zf.writestr(name, raw)
    result = run("summary", "m.dl")
    line = one_error_line(result)
    assert "\x1b" not in result.output and "\x07" not in result.output and "m.dl" in line


def test_an_error_that_quotes_a_name_from_a_file_is_printed_escaped(run, tmp_path):
    (tmp_path / "s.yaml").write_text('model:\n  - "Dense\\e[31m\\u202e": {units: 2}\n')
    line = one_error_line(run("summary", "s.yaml", "--input-shape", "3"))
    assert "\x1b" not in line and "\u202e" not in line and "\\x1b[31m\\u202e" in line


# -- item 15: every command that reads a model file verifies it as load_model does ------------------------

def _with_a_bad_crc(path, entry):
    """Flip one byte of `entry`'s stored data (the CRC in the header no longer matches)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(entry)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size - 40] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("entry", ["optimizer.npz", "weights.npz"])
def test_a_model_file_whose_crc_fails_is_refused_by_every_command(run, tmp_path, entry):
    config.set_seed(0)
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    model.save(tmp_path / "m.dl")
    with zipfile.ZipFile(tmp_path / "m.dl") as zf:
        assert zf.getinfo(entry).compress_type == zipfile.ZIP_STORED
    _with_a_bad_crc(tmp_path / "m.dl", entry)
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32), y=np.zeros((4, 2), np.float32))
    for args in (["summary", "m.dl"], ["predict", "m.dl", "x.npy", "-o", "p.npy"],
                 ["evaluate", "m.dl", "--data", "d.npz"]):
        line = one_error_line(run(*args))
        assert f"m.dl: {entry} is corrupt" in line and "Bad CRC-32" in line, (args, line)
    assert not (tmp_path / "p.npy").exists()
