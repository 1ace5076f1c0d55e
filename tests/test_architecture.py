"""The import contracts in .importlinter hold, and would catch a cycle (docs/architecture.md)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Checked without importing it: import-linter loads `rich`, which imports the standard-library
# modules test_model_file_safety.py watches.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("importlinter") is None,
                                reason="import-linter is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parent.parent


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", command, "--config", str(ROOT / ".importlinter"), "--no-cache"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def _copy_of_the_sources(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    ignore = shutil.ignore_patterns("*.so", "*.c", "*.html", "__pycache__", "*.pyx", "*.pxi")
    shutil.copytree(ROOT / "corelib", tree / "corelib", ignore=ignore)
    shutil.copytree(ROOT / "cli", tree / "dl_cli", ignore=ignore)
    return tree


def test_a_cycle_added_inside_a_function_breaks_the_contracts(tmp_path):
    tree = _copy_of_the_sources(tmp_path)
    base = tree / "corelib" / "layers" / "base.py"
    base.write_text(base.read_text() + "\n\ndef _sneaky():\n    from corelib.models import Model\n\n    return Model\n")
    result = _lint(tmp_path, pythonpath=tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "corelib.layers.base -> corelib.models" in result.stdout
    assert "BROKEN" in result.stdout


def test_the_engine_importing_the_builtin_plugin_breaks_the_contracts(tmp_path):
    tree = _copy_of_the_sources(tmp_path)
    trainer = tree / "corelib" / "trainers" / "trainer.py"
    trainer.write_text(trainer.read_text().replace(
        "from corelib.callbacks.history import History\n",
        "from corelib.callbacks.history import History\nfrom corelib.builtin.callbacks import early_stopping\n"))
    result = _lint(tmp_path, pythonpath=tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "corelib.trainers is not allowed to import corelib.builtin" in result.stdout
