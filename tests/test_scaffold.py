"""`dl plugin new`: the package it writes installs with pip, passes its own
tests as written, and shows up in `dl list` — checked for real in a temporary
virtual environment, so nothing is installed into the one running the tests."""

import json
import os
import site
import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner

from corelib.errors import ConfigError
from corelib.testing import check_layer
from dl_cli.main import cli
from dl_cli.scaffold import plugin_names, write_plugin


def test_names_are_derived_from_the_distribution_name():
    names = plugin_names("dl-Token.Mixer")
    assert (names.distribution, names.package, names.entry_point) == ("dl-token-mixer", "dl_token_mixer", "token_mixer")
    assert (names.layer, names.layer_module) == ("TokenMixer", "token_mixer")
    assert plugin_names("dl-foo", layer="GatedScale").layer_module == "gated_scale"
    assert plugin_names("dl-2d-tools").layer == "Example2dTools"


@pytest.mark.parametrize(
    "name, layer, message",
    [
        ("dl foo", None, r"NAME must be a distribution name.*Received: NAME='dl foo'"),
        ("-dl", None, r"NAME must be a distribution name"),
        ("3d", None, r"import package '3d'.*not a valid Python name"),
        ("numpy", None, r"import package 'numpy' of NAME='numpy' is already taken"),
        ("dl-foo", "lower", r"--layer must be a class name in CamelCase.*Received: --layer='lower'"),
    ],
)
def test_bad_names_are_refused(name, layer, message):
    with pytest.raises(ConfigError, match=message):
        plugin_names(name, layer)


def test_a_layer_name_that_is_already_registered_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"a layer named 'Dense' is already registered.*--layer"):
        write_plugin("dl-dense", tmp_path)
    assert not (tmp_path / "dl-dense").exists()


def test_the_written_files_and_their_entry_point(tmp_path, monkeypatch):
    root = write_plugin("dl-gain", tmp_path)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "dl_gain/__init__.py", "dl_gain/gain.py", "dl_gain/plugin.py", "pyproject.toml",
                     "tests/test_gain.py"]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "dl-gain"
    assert project["project"]["entry-points"]["dl"] == {"gain": "dl_gain.plugin"}
    assert len((root / "dl_gain/gain.py").read_text().splitlines()) < 100  # one small file
    monkeypatch.syspath_prepend(str(root))
    from dl_gain import Gain

    check_layer(Gain, (3, 4), scale_initializer="random_normal")  # the same kit its own tests run
    with pytest.raises(ConfigError, match="already exists and is not an empty folder"):
        write_plugin("dl-gain", tmp_path)
    for module in [m for m in sys.modules if m.startswith("dl_gain")]:
        del sys.modules[module]


def test_the_command_writes_the_package_and_says_what_next(tmp_path):
    result = CliRunner().invoke(cli, ["plugin", "new", "dl-shift", "--dir", str(tmp_path), "--layer", "Shift"])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'dl-shift' / 'dl_shift' / 'shift.py'}" in result.output
    assert "The plugin dl-shift provides the layer Shift. Next:" in result.output
    again = CliRunner().invoke(cli, ["plugin", "new", "dl-shift", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output


def _venv_seeing_this_environment(path):
    """A virtual environment whose own site-packages come first, then this interpreter's
    (a .pth file runs site.addsitedir on them, so dl's editable install works there too)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    lines = [f"import site; site.addsitedir({d!r})" for d in site.getsitepackages()]
    with open(os.path.join(purelib, "_dl_test_parent.pth"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return str(python)


def test_the_generated_plugin_installs_passes_its_tests_and_is_listed(tmp_path):
    root = write_plugin("dl-scaffold-check", tmp_path / "src")
    python = _venv_seeing_this_environment(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DL_", "PYTHONPATH"))}

    def run(*args):
        return subprocess.run([python, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    install = run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-input", "-e", str(root))
    assert install.returncode == 0, install.stdout + install.stderr
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(root))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    listed = run("-m", "dl_cli", "list", "layers", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: (r["plugin"], r["version"]) for r in json.loads(listed.stdout)}
    assert rows["ScaffoldCheck"] == ("dl-scaffold-check", "0.1.0")
    leaked = subprocess.run([sys.executable, "-c", "import dl_scaffold_check"], capture_output=True, env=env)
    assert leaked.returncode != 0  # installed in the temporary environment only
