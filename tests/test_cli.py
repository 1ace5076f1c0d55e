"""The `dl` command line, through click's CliRunner."""

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from corelib import hookimpl
from corelib.errors import ConfigError
from corelib.registry import Registry, use_registry

from dl_cli.main import cli


class Tiny:
    """A layer from the test plugin."""


def tiny_loss(y_true, y_pred):
    """A loss from the test plugin."""


@click.command("hello")
def hello():
    """Say hello (a command from a plugin)."""
    click.echo("hello from a plugin")


@click.command("bad-config")
def bad_config():
    raise ConfigError("the flux capacitor must be a positive int. Received: flux=-1")


@click.command("crash")
def crash():
    raise RuntimeError("unexpected")


class TestPlugin:
    @hookimpl
    def register_layers(self, register):
        register(Tiny)

    @hookimpl
    def register_losses(self, register):
        register(tiny_loss)

    @hookimpl
    def register_commands(self, cli):
        for command in (hello, bad_config, crash):
            cli.add_command(command)


class BrokenPlugin:
    @hookimpl
    def register_layers(self, register):
        raise ImportError("needs a missing library")


@pytest.fixture
def reg():
    r = Registry(builtin=False, entry_points=False)
    r.register_plugin(TestPlugin(), name="testplugin", version="9.9")
    with use_registry(r):
        yield r


@pytest.fixture
def runner():
    return CliRunner()


def _error_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("dl ")


def test_list_shows_kind_name_plugin_version_description(runner, reg):
    result = runner.invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "PLUGIN", "VERSION", "DESCRIPTION"]
    assert lines[1].split() == ["layers", "Tiny", "testplugin", "9.9", "A", "layer", "from", "the", "test", "plugin."]
    assert lines[2].split()[:4] == ["losses", "tiny_loss", "testplugin", "9.9"]


def test_list_one_kind_as_json(runner, reg):
    result = runner.invoke(cli, ["list", "layers", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "kind": "layers",
            "name": "Tiny",
            "aliases": ["tiny"],
            "plugin": "testplugin",
            "version": "9.9",
            "description": "A layer from the test plugin.",
        }
    ]
    singular = runner.invoke(cli, ["list", "layer", "--json"])
    assert json.loads(singular.stdout) == json.loads(result.stdout)


def test_list_of_an_empty_kind(runner, reg):
    result = runner.invoke(cli, ["list", "optimizers"])
    assert result.exit_code == 0 and "No optimizers installed." in result.stdout


def test_list_unknown_kind_exits_2_with_one_line(runner, reg):
    result = runner.invoke(cli, ["list", "layerz"])
    assert result.exit_code == 2
    assert _error_line(result) == (
        "Error: Unknown component kind: 'layerz'. Did you mean 'layers'? Kinds: layers, losses, optimizers, schedules, "
        "metrics, activations, initializers, regularizers, callbacks, datasets, strategies, onnx_exporters"
    )


def test_a_broken_plugin_warns_but_list_works(runner, reg):
    reg.register_plugin(BrokenPlugin(), name="broken", version="0.1")
    result = runner.invoke(cli, ["list"])
    assert result.exit_code == 0
    assert "Tiny" in result.stdout
    assert "Warning: dl plugin 'broken' failed to load (register_layers): ImportError: needs a missing library" in result.stderr


def test_plugins_lists_versions_hooks_provides_and_failures(runner, reg):
    reg.register_plugin(BrokenPlugin(), name="broken", version="0.1")
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "testplugin 9.9  (registered in code)" in out
    assert "hooks:    register_commands, register_layers, register_losses" in out
    assert "layers: Tiny" in out and "losses: tiny_loss" in out and "commands: bad-config, crash, hello" in out
    assert "Failed to load:\n  broken 0.1  (register_layers): ImportError: needs a missing library" in out
    assert result.stderr == ""  # reported once, in the listing, not as a warning too
    data = json.loads(runner.invoke(cli, ["plugins", "--json"]).stdout)
    assert data["plugins"][0]["provides"]["layers"] == ["Tiny"]
    assert data["failures"] == [
        {"plugin": "broken", "version": "0.1", "where": "register_layers", "reason": "ImportError: needs a missing library"}
    ]


def test_plugin_commands_are_added_lazily(runner, reg):
    result = runner.invoke(cli, ["hello"])
    assert result.exit_code == 0 and result.stdout == "hello from a plugin\n"
    assert "hello" in runner.invoke(cli, ["--help"]).stdout


def test_plugin_commands_follow_the_registry_in_use(runner, reg):
    assert runner.invoke(cli, ["hello"]).exit_code == 0
    with use_registry(Registry(builtin=False, entry_points=False)):
        result = runner.invoke(cli, ["hello"])
        assert result.exit_code == 2 and "No such command 'hello'" in result.stderr
    assert runner.invoke(cli, ["hello"]).exit_code == 0


def test_dl_errors_exit_2_other_errors_exit_1(runner, reg):
    result = runner.invoke(cli, ["bad-config"])
    assert result.exit_code == 2
    assert _error_line(result) == "Error: the flux capacitor must be a positive int. Received: flux=-1"
    result = runner.invoke(cli, ["crash"])
    assert result.exit_code == 1
    assert _error_line(result) == "Error: RuntimeError: unexpected (run `dl --debug ...` for the traceback)"


def test_debug_shows_the_traceback(runner, reg):
    result = runner.invoke(cli, ["--debug", "crash"])
    assert isinstance(result.exception, RuntimeError) and "Error:" not in result.stderr


def test_bad_spec_exits_2_with_one_line(runner, reg, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("model: [Tiny]\ntraining: {epochs: ten}\n")
    result = runner.invoke(cli, ["train", str(spec)])
    assert result.exit_code == 2
    assert _error_line(result) == "Error: spec.yaml: training.epochs must be a positive int, got 'ten'"
    missing = runner.invoke(cli, ["train", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and _error_line(missing).endswith("nope.yaml: spec file not found")


def test_bad_data_exits_2_with_one_line(runner, reg, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("model: [Tiny]\ntraining: {loss: tiny_loss, data: missing.npz}\n")
    result = runner.invoke(cli, ["train", str(spec)])
    assert result.exit_code == 2
    assert _error_line(result) == f"Error: {tmp_path / 'missing.npz'}: file not found"


# -- training end to end (needs the lead's models and C's built-in components) ----------------

TRAIN_SPEC = """
model:
  - Dense: {units: 8, activation: relu, input_shape: [4]}
  - Dense: {units: 3, activation: softmax}
training:
  loss: categorical_crossentropy
  optimizer: {name: adam, learning_rate: 0.05}
  metrics: [accuracy]
  epochs: 2
  batch_size: 16
  validation_split: 0.25
  data: blobs.npz
"""


@pytest.fixture
def builtin_registry():
    pytest.importorskip("corelib.models")
    pytest.importorskip("corelib.builtin.plugin")
    with use_registry(Registry()) as reg:
        yield reg


def test_train_on_a_file(runner, builtin_registry, tmp_path, monkeypatch, blobs):
    from corelib import models

    x, y = blobs
    np.savez(tmp_path / "blobs.npz", x=x[:80], y=y[:80])
    (tmp_path / "tiny.yaml").write_text(TRAIN_SPEC)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["train", "tiny.yaml"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Training on" in out and "80 samples" in out
    assert "\nvalidation: loss: " in out and "accuracy: " in out
    assert f"Saved model to {tmp_path / 'tiny.dl'}" in out
    model = models.load_model(str(tmp_path / "tiny.dl"))
    assert model.predict(x[:5]).shape == (5, 3)


def test_train_flags_override_the_spec(runner, builtin_registry, tmp_path, monkeypatch, blobs):
    x, y = blobs
    np.savez(tmp_path / "other.npz", x=x[:40], y=y[:40])
    (tmp_path / "tiny.yaml").write_text(TRAIN_SPEC)
    monkeypatch.chdir(tmp_path)
    args = ["train", "tiny.yaml", "--data", "other.npz", "--epochs", "1", "--batch-size", "8", "--seed", "3"]
    result = runner.invoke(cli, [*args, "--output", "m.dl", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("validation: loss: ") and lines[1].endswith("m.dl")
    assert (tmp_path / "m.dl").exists()
    again = runner.invoke(cli, [*args, "--output", "m2.dl", "--quiet"])
    assert again.stdout.splitlines()[0] == lines[0]  # --seed makes the run repeatable


def test_train_on_a_data_set_reports_the_test_split(runner, builtin_registry, tmp_path, monkeypatch):
    pytest.importorskip("dl_datasets")
    spec = TRAIN_SPEC.replace("data: blobs.npz", "data: {name: iris, normalize: true}")
    (tmp_path / "iris.yaml").write_text(spec)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["train", "iris.yaml", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "test (30 samples): loss: " in result.stdout
