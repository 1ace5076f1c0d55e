"""The plugin's tests run from a source checkout too: when dl-transformer is not
installed, its folder goes on sys.path and the plugin is registered in code
(installed, dl finds it through its ``dl`` entry point as users' installs do)."""

import importlib.metadata
import sys
from pathlib import Path

import pytest

from corelib import config
from corelib.layers.base import reset_name_counters

try:
    importlib.metadata.distribution("dl-transformer")
    INSTALLED = True
except importlib.metadata.PackageNotFoundError:
    INSTALLED = False
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(autouse=True, scope="session")
def _plugin_registered():
    if INSTALLED:
        yield
        return
    import dl_transformer.plugin
    from corelib.registry import Registry, use_registry

    registry = Registry()
    registry.register_plugin(dl_transformer.plugin, name="dl-transformer", version="0.1.0")
    with use_registry(registry):
        yield


@pytest.fixture(autouse=True)
def _fresh_state():
    config.set_seed(1234)
    config.set_floatx("float32")
    reset_name_counters()
    yield
    config.set_floatx("float32")
