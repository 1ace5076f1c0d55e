"""The first-party dl-transformer plugin (plugins/dl-transformer): its own test
suite (PyTorch checks, conformance kit, the digits example) run from here, so
`pytest` at the repository root covers it, and its layers seen through dl."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "dl-transformer"


def test_the_plugins_own_test_suite_passes():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DL_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
        capture_output=True, text=True, cwd=PLUGIN, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


def test_installed_it_is_a_plugin_like_any_other():
    try:
        version = importlib.metadata.version("dl-transformer")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("dl-transformer is not installed (the README's test command installs it)")
    from corelib import layers
    from corelib.registry import get_registry

    for name in ("MultiHeadAttention", "PositionalEmbedding", "TransformerEncoder"):
        entry = get_registry().entry("layers", name)
        assert (entry.plugin, entry.version) == ("dl-transformer", version)
    # LayerNormalization moved into the core library (issue 13); the plugin re-exports it
    assert get_registry().entry("layers", "LayerNormalization").plugin == "dl"
    assert layers.get("multi_head_attention") is layers.MultiHeadAttention
    assert layers.get("dl-transformer:TransformerEncoder") is layers.TransformerEncoder
