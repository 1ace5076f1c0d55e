"""The registry: lazy loading, lookup by name and alias, suggestions, attribution."""

import subprocess
import sys
import textwrap

import pytest

from corelib import hookimpl
from corelib.errors import ConfigError, PluginError, UnknownComponentError
from corelib.registry import Entry, Registry, get_registry, use_registry


class Dense:
    """A fully connected layer.

    More text that is not part of the description.
    """


class Conv2D:
    """A 2D convolution."""


class MeanSquaredError:
    """Mean squared error, as a class."""


def mean_squared_error(y_true, y_pred):
    """Mean squared error, as a function."""


class Counting:
    """A plugin object that counts how often its hooks run."""

    def __init__(self):
        self.calls = 0

    @hookimpl
    def register_layers(self, register):
        self.calls += 1
        register(Dense)
        register(Conv2D, aliases=["Convolution2D"])

    @hookimpl
    def register_losses(self, register):
        register(MeanSquaredError)
        register(mean_squared_error, aliases=("mse",))

    @hookimpl
    def register_datasets(self, register):
        register("toy", lambda: (([1], [2]), ([3], [4])), "A toy data set")


@pytest.fixture
def plugin():
    return Counting()


@pytest.fixture
def reg(plugin):
    r = Registry(builtin=False, entry_points=False)
    r.register_plugin(plugin, name="myplugin", version="1.2")
    return r


def test_importing_corelib_and_the_cli_loads_no_plugins():
    code = textwrap.dedent(
        """
        import importlib, sys
        import corelib, corelib.registry, corelib.datasets, corelib.spec.files, corelib.spec
        for optional in ("corelib.layers", "corelib.losses", "corelib.models", "dl_cli.main"):
            try:
                importlib.import_module(optional)
            except ImportError:
                pass
        assert not corelib.registry.get_registry().loaded
        loaded = [m for m in sys.modules if m.startswith(("corelib.builtin", "dl_datasets"))]
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plugins_load_lazily_and_once(plugin):
    r = Registry(builtin=False, entry_points=False)
    r.register_plugin(plugin, name="myplugin")
    assert plugin.calls == 0 and not r.loaded
    assert r.get("layers", "Dense") is Dense
    r.get("layers", "Conv2D")
    r.entries()
    assert plugin.calls == 1 and r.loaded


def test_register_plugin_after_load_runs_its_hooks_at_once(reg):
    reg.load()

    class Late:
        @hookimpl
        def register_layers(self, register):
            register(type("LateLayer", (), {"__doc__": "Late."}))

    reg.register_plugin(Late(), name="late")
    assert reg.get("layers", "late_layer").__name__ == "LateLayer"
    assert reg.entry("layers", "LateLayer").plugin == "late"


def test_lookup_by_name_snake_case_alias_and_explicit_alias(reg):
    assert reg.get("layers", "Dense") is Dense
    assert reg.get("layers", "dense") is Dense
    assert reg.get("layers", "conv2d") is Conv2D
    assert reg.get("layers", "Convolution2D") is Conv2D
    assert reg.get("losses", "mse") is mean_squared_error


def test_lookup_is_case_sensitive(reg):
    with pytest.raises(UnknownComponentError):
        reg.get("layers", "DENSE")


def test_singular_kind_names_work(reg):
    assert reg.get("layer", "Dense") is Dense
    assert [e.name for e in reg.entries("dataset")] == ["toy"]


def test_unknown_kind_suggests_the_right_one(reg):
    with pytest.raises(ConfigError, match=r"Unknown component kind: 'layerz'\. Did you mean 'layers'\?"):
        reg.get("layerz", "Dense")


def test_unknown_name_suggests_close_matches(reg):
    with pytest.raises(UnknownComponentError) as info:
        reg.get("layers", "Dense2")
    assert str(info.value) == (
        "Unknown layer: 'Dense2'. Did you mean 'Dense'? Run `dl list layers` to see what is installed."
    )
    assert isinstance(info.value, KeyError)


def test_unknown_name_without_close_match(reg):
    with pytest.raises(UnknownComponentError) as info:
        reg.get("losses", "zzz")
    assert str(info.value) == "Unknown loss: 'zzz'. Run `dl list losses` to see what is installed."


def test_explicit_name_wins_over_auto_alias_within_one_plugin(reg):
    # The class MeanSquaredError would get the alias "mean_squared_error", but
    # the same plugin registers a function under that exact name.
    assert reg.get("losses", "mean_squared_error") is mean_squared_error
    assert reg.get("losses", "MeanSquaredError") is MeanSquaredError
    assert "mean_squared_error" not in reg.entry("losses", "MeanSquaredError").aliases
    assert not reg.conflicts


def test_entry_records_plugin_version_and_first_doc_line(reg):
    entry = reg.entry("layers", "dense")
    assert entry == Entry("layers", "Dense", Dense, ("dense",), "myplugin", "1.2", "A fully connected layer.")
    assert reg.entry("datasets", "toy").description == "A toy data set"


def test_entries_are_sorted_by_kind_then_name(reg):
    kinds = [(e.kind, e.name) for e in reg.entries()]
    assert kinds == [
        ("layers", "Conv2D"),
        ("layers", "Dense"),
        ("losses", "mean_squared_error"),
        ("losses", "MeanSquaredError"),
        ("datasets", "toy"),
    ]
    assert reg.names("layers") == ["Conv2D", "Dense"]


def test_provider_of_classes_instances_and_strangers(reg):
    assert reg.provider_of(Dense).plugin == "myplugin"
    assert reg.provider_of(Dense()).name == "Dense"
    assert reg.provider_of(mean_squared_error, kind="losses").name == "mean_squared_error"
    assert reg.provider_of(Dense, kind="losses") is None
    assert reg.provider_of(object()) is None


def test_contains(reg):
    assert ("layers", "dense") in reg
    assert ("layers", "Nope") not in reg


def test_plugins_report_hooks_and_what_they_provide(reg):
    (info,) = reg.plugins()
    assert info.name == "myplugin" and info.version == "1.2"
    assert info.hooks == ("register_datasets", "register_layers", "register_losses")
    assert info.provides == {
        "layers": ["Dense", "Conv2D"],
        "losses": ["MeanSquaredError", "mean_squared_error"],
        "datasets": ["toy"],
    }


def test_registering_the_same_plugin_name_twice_is_refused(reg):
    with pytest.raises(PluginError, match="myplugin"):
        reg.register_plugin(Counting(), name="myplugin")


def test_the_same_object_registered_twice_is_harmless():
    class Twice:
        @hookimpl
        def register_layers(self, register):
            register(Dense)
            register(Dense)

    r = Registry(builtin=False, entry_points=False)
    r.register_plugin(Twice(), name="twice")
    r.register_plugin(Counting(), name="other")  # registers the same Dense object
    assert r.get("layers", "Dense") is Dense
    assert not r.conflicts and not r.failures


def test_use_registry_swaps_and_restores_the_global_one(reg):
    before = get_registry()
    assert get_registry() is before
    with use_registry(reg) as active:
        assert active is reg and get_registry() is reg
    assert get_registry() is before


def test_builtin_plugin_is_registered_as_dl():
    pytest.importorskip("corelib.builtin.plugin")
    r = Registry(entry_points=False)
    dense = r.entry("layers", "Dense")
    assert dense.plugin == "dl" and dense.version
    assert [p.name for p in r.plugins()] == ["dl"]
    assert r.plugins()[0].distribution == "dl"
