"""Malformed specs, data files and checkpoints given to `dl train`: each is refused with exit code 2 and
one line naming the file, and every file that existed before (model, log, plot, checkpoint, the inputs
themselves) is byte for byte the same afterwards."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import callbacks, config, layers, models
from corelib.registry import Registry, use_registry
from dl_cli.main import cli

pytest.importorskip("corelib.builtin.plugin")

GOOD = """
model:
  - Dense: {units: 8, activation: relu, input_shape: [4]}
  - Dense: {units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  optimizer: adam
  metrics: [accuracy]
  epochs: 2
  batch_size: 16
  validation_split: 0.2
  data: train.npz
"""


def variant(old, new):
    assert old in GOOD
    return GOOD.replace(old, new)


def npz(**arrays):
    def write(path):
        np.savez(path, **arrays)
    return write


def truncated_npz(path):
    np.savez(path, x=X, y=Y)
    path.write_bytes(path.read_bytes()[:300])


X = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
Y = np.arange(60) % 3

# name: (files {name: text, bytes or writer}, extra arguments, the file the error names, what it says)
SPEC_CASES = {
    "unknown layer": ({"s.yaml": variant("Dense: {units: 8", "Dnse: {units: 8")}, [], "s.yaml",
                      "model[0] (Dnse): Unknown layer: 'Dnse'. Did you mean 'Dense'?"),
    "bad layer argument": ({"s.yaml": variant("units: 8", "units: -3")}, [], "s.yaml", "units must be a positive int"),
    "incompatible layers": ({"s.yaml": variant("- Dense: {units: 3", "- Conv2D: {filters: 3, kernel_size: 3")},
                            [], "s.yaml", "cannot follow layer"),
    "no loss": ({"s.yaml": variant("  loss: sparse_categorical_crossentropy\n", "")}, [], "s.yaml",
                "training.loss is required"),
    "unknown loss": ({"s.yaml": variant("loss: sparse_categorical_crossentropy", "loss: sparse_crossentropy")},
                     [], "s.yaml", "training.loss: Unknown loss"),
    "unknown optimizer": ({"s.yaml": variant("optimizer: adam", "optimizer: adamm")}, [], "s.yaml",
                          "training.optimizer: Unknown optimizer: 'adamm'. Did you mean 'adam'"),
    "epochs not a number": ({"s.yaml": variant("epochs: 2", "epochs: two")}, [], "s.yaml",
                            "training.epochs must be a positive int, got 'two'"),
    "invalid yaml": ({"s.yaml": "model: [Dense\n"}, [], "s.yaml", "invalid YAML at line 2"),
    "yaml python tag": ({"s.yaml": "model: !!python/object/apply:os.system ['touch pwned']\n"}, [], "s.yaml",
                        "invalid YAML"),
    "invalid json": ({"s.json": '{"model": [}'}, [], "s.json", "invalid JSON at line 1"),
    "model not a list": ({"s.yaml": "model: 3\n"}, [], "s.yaml", "model must be a list of layers"),
    "misspelt section": ({"s.yaml": variant("training:", "trainig:")}, [], "s.yaml",
                         "unknown field 'trainig'. Did you mean 'training'?"),
    "unknown metric": ({"s.yaml": variant("metrics: [accuracy]", "metrics: [acuracy]")}, [], "s.yaml",
                       "training.metrics[0]"),
    "validation split 1.5": ({"s.yaml": variant("validation_split: 0.2", "validation_split: 1.5")}, [], "s.yaml",
                             "training.validation_split must be a number in [0, 1), got 1.5"),
    "no data": ({"s.yaml": variant("  data: train.npz\n", "")}, [], "s.yaml", "training.data is required"),
    "unknown data set": ({"s.yaml": variant("data: train.npz", "data: digitz")}, [], "s.yaml",
                         "training.data: Unknown dataset"),
    "spec file missing": ({}, [], "s.yaml", "spec file not found"),
    "input shape does not fit": ({"s.yaml": variant("input_shape: [4]", "input_shape: [5]")}, [], "train.npz",
                                 "x has samples of shape (4,), but the model's input takes (5,)"),
    "too few classes": ({"s.yaml": variant("units: 3", "units: 2")}, [], "train.npz",
                        "y holds class labels from 0 to 2, but the model's output has 2 classes (labels 0 to 1)"),
    "one-hot too wide": ({"s.yaml": variant("sparse_categorical_crossentropy", "categorical_crossentropy"),
                          "wide.npz": npz(x=X, y=np.eye(4)[Y % 4])}, ["--data", "wide.npz"], "wide.npz",
                         "y has targets of shape (4,), but the model's output gives (3,)"),
    "graph with an undefined tensor": ({"s.yaml": "model:\n  inputs: {a: [4]}\n  layers:\n    - Dense: {units: 3}\n"
                                                  "      name: out\n      inputs: b\n  outputs: [out]\n"}, [],
                                       "s.yaml", "input 'b' is not defined above"),
}

DATA_CASES = {
    "npz without y": ({"d.npz": npz(x=X)}, "no array 'y' in the file; it holds ['x']"),
    "npz of strings": ({"d.npz": npz(x=np.array([["a"] * 4] * 60), y=Y)}, "array 'x' is not numeric"),
    "npz with NaN": ({"d.npz": npz(x=np.where(np.eye(60, 4) > 0, np.nan, X), y=Y)}, "contains 4 NaN or infinite"),
    "npz sample counts differ": ({"d.npz": npz(x=X, y=Y[:50])}, "x has 60 samples but y has 50; they must match"),
    "npz with pickled objects": ({"d.npz": npz(x=np.array([{}, 1] * 30, dtype=object), y=Y)}, "never loads"),
    "npz that is not a zip": ({"d.npz": b"PK but not a zip"}, "not a .npz archive (no zip signature)"),
    "truncated npz": ({"d.npz": truncated_npz}, "not a readable .npz file"),
    "empty file": ({"d.npz": b""}, "file is empty"),
    "csv with a word": ({"d.csv": "a,b,c,d,y\n1,2,3,4,0\n1,2,three,4,1\n"},
                        "line 3, column 'c': 'three' is not a number"),
    "csv with NaN": ({"d.csv": "a,b,c,d,y\n1,2,3,nan,0\n"}, "1 NaN or infinite value(s), the first in column 'd'"),
    "ragged csv": ({"d.csv": "a,b,c,d,y\n1,2,3,4,0\n1,2,3,0\n"}, "line 3 has 4 values but the header names 5"),
    "csv header only": ({"d.csv": "a,b,c,d,y\n"}, "has a header row but no data rows"),
    "npy has no targets": ({"d.npy": lambda p: np.save(p, X)}, "holds inputs only (.npy)"),
    "unknown extension": ({"d.txt": "1,2\n"}, "unsupported data file type '.txt'"),
    "npz with x and x_a": ({"d.npz": npz(x=X, x_a=X, y=Y)}, "holds both 'x' and 'x_a'"),
    "named inputs the model lacks": ({"d.npz": npz(x_pixels=X, y=Y)}, "the model's inputs are"),
    "fractional class labels": ({"d.npz": npz(x=X, y=Y + 0.5)}, "y holds non-integer values"),
    "data file missing": ({}, "file not found"),
}


@pytest.fixture(scope="module")
def checkpoints():
    """Checkpoint bytes of the GOOD model (48 samples) and of a model with other layer sizes."""
    import tempfile
    from pathlib import Path

    from corelib.callbacks.backup import BackupAndRestore

    class Stop(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.interrupted = self.model.stop_training = True

    out = {}
    with use_registry(Registry(entry_points=False)), tempfile.TemporaryDirectory() as tmp:
        for name, units in (("good", 8), ("other", 5)):
            config.set_seed(0)
            model = models.Sequential([layers.Dense(units, activation="relu", input_shape=(4,)),
                                       layers.Dense(3, activation="softmax")])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(X, Y, batch_size=16, validation_split=0.2, verbose=0,
                      callbacks=[BackupAndRestore(Path(tmp) / name, save_freq=False), Stop()])
            out[name] = (Path(tmp) / name / "checkpoint.dl").read_bytes()
    return out


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(tmp_path, monkeypatch, checkpoints, files, args, spec="s.yaml"):
    """Lay out the run's existing outputs and inputs, run `dl train`, return (result, before, after)."""
    np.savez(tmp_path / "train.npz", x=X, y=Y)
    (tmp_path / "s.yaml").write_text(GOOD)
    for name, content in files.items():
        path = tmp_path / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    (tmp_path / "out.dl").write_bytes(b"the model of an earlier run")
    (tmp_path / "log.csv").write_text("epoch,loss\n0,1.5\n1,1.2\n")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG an earlier plot")
    for name, raw in checkpoints.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "checkpoint.dl").write_bytes(raw)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    with use_registry(Registry(entry_points=False)):
        result = CliRunner().invoke(cli, ["train", spec, "--output", "out.dl", "--log", "log.csv",
                                          "--plot", "plot.png", "--checkpoint-dir", "good", "--resume", *args])
    return result, before, snapshot(tmp_path)


def check_refused(result, before, after, names, expected):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert expected in lines[0] and names in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert after == before  # nothing written, nothing changed, nothing removed


@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_malformed_specs(tmp_path, monkeypatch, checkpoints, case):
    files, args, names, expected = SPEC_CASES[case]
    spec = next((n for n in files if n.startswith("s.")), "s.yaml")
    if case == "spec file missing":
        spec = "missing/s.yaml"
    result, before, after = refused(tmp_path, monkeypatch, checkpoints, files, args, spec=spec)
    check_refused(result, before, after, names, expected)


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_malformed_data_files(tmp_path, monkeypatch, checkpoints, case):
    files, expected = DATA_CASES[case]
    name = next(iter(files), "missing.npz")
    result, before, after = refused(tmp_path, monkeypatch, checkpoints, files, ["--data", name])
    check_refused(result, before, after, name, expected)


OTHER_CASES = {
    "csv target column missing": ({"d.csv": "a,b,c,d,y\n1,2,3,4,0\n"}, ["--data", "d.csv", "--target", "label"],
                                  "d.csv", "no column 'label'; the columns are ['a', 'b', 'c', 'd', 'y']"),
    "checkpoint of another model": ({}, ["--checkpoint-dir", "other"], "other/checkpoint.dl",
                                    "the checkpoint was written for another model: weight 0"),
    "checkpoint of other data": ({"small.npz": npz(x=X[:40], y=Y[:40])}, ["--data", "small.npz"],
                                 "good/checkpoint.dl", "written for 48 training samples in batches of 16"),
    "log in a missing directory": ({}, ["--log", "logs/run.csv"], "logs/run.csv", "the directory"),
    "plot of an unknown type": ({}, ["--plot", "curves.jpg"], "curves.jpg", "--plot writes a .png, .svg or .pdf"),
    "output in a missing directory": ({}, ["--output", "models/out.dl"], "models/out.dl", "the directory"),
    "learning rate for a bad optimizer": ({}, ["--optimizer", "adamm", "--learning-rate", "0.1"], "s.yaml",
                                          "training.optimizer: Unknown optimizer: 'adamm'"),
}


@pytest.mark.parametrize("case", list(OTHER_CASES))
def test_other_refusals(tmp_path, monkeypatch, checkpoints, case):
    files, args, names, expected = OTHER_CASES[case]
    result, before, after = refused(tmp_path, monkeypatch, checkpoints, files, args)
    check_refused(result, before, after, names, expected)


def test_there_are_at_least_30_malformed_files():
    assert len(SPEC_CASES) + len(DATA_CASES) + len(OTHER_CASES) >= 40


def test_the_good_run_does_train(tmp_path, monkeypatch, checkpoints):
    """The control: with nothing malformed, the same command resumes, writes and cleans up."""
    result, before, after = refused(tmp_path, monkeypatch, {"good": checkpoints["good"]}, {}, [])
    assert result.exit_code == 0, result.output
    assert "Resuming from good/checkpoint.dl at epoch 1, step 1" in result.stdout
    assert after["out.dl"] != before["out.dl"] and after["plot.png"] != before["plot.png"]
    assert after["log.csv"].decode().splitlines()[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert "good/checkpoint.dl" not in after
    json.loads(json.dumps(sorted(after)))  # every path is plain text


def test_an_error_line_is_cut_to_a_readable_length():
    """A message that quotes a huge value (a plugin's, say) still ends the command with one line
    of bounded length, saying how much was cut; a short one is printed whole."""
    from corelib.errors import ConfigError
    from dl_cli.main import _MAX_ERROR_CHARS, _error_line

    line, code = _error_line(ConfigError("bad value: " + "x" * 50_000))
    assert code == 2 and "\n" not in line and len(line) < _MAX_ERROR_CHARS + 100
    assert line.endswith(f"... ({len('bad value: ') + 50_000 - _MAX_ERROR_CHARS} more characters)")
    assert _error_line(ConfigError("short"))[0] == "Error: short"
