"""Isolation and control of installed plugins, through real entry points.

Four distributions are "installed" into a temporary directory the way pip
lays them out (a package module plus a ``.dist-info`` with METADATA and
entry_points.txt, which importlib.metadata reads): a good one, one that
fails to import, one that raises inside a hook, and one whose layer name
clashes with the good one's. Each behaviour is checked through the `dl`
command line in a subprocess and through the registry in Python.
"""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

from corelib.errors import ConfigError, PluginConflictError, PluginError, UnknownComponentError
from corelib.registry import PluginWarning, Registry, use_registry

GOOD = """
from corelib import Layer, hookimpl


class GoodLayer(Layer):
    '''A layer from the good plugin.'''


class Twin(Layer):
    '''Twin, as the good plugin has it.'''


@hookimpl
def register_layers(register):
    register(GoodLayer)
    register(Twin)
"""

BROKEN = """
import a_dependency_that_is_not_installed
"""

RAISING = """
from corelib import Layer, hookimpl


class HalfLayer(Layer):
    '''Registered before the plugin raises: must not survive it.'''


@hookimpl
def register_layers(register):
    register(HalfLayer)


@hookimpl
def register_losses(register):
    raise RuntimeError("the hook is on fire")
"""

TWIN = """
from corelib import Layer, hookimpl


class Twin(Layer):
    '''Twin, as the other plugin has it.'''


@hookimpl
def register_layers(register):
    register(Twin)
"""

PLUGINS = {  # distribution -> (version, module, source)
    "dl-goodplug": ("1.0.0", "iso_good", GOOD),
    "dl-brokenplug": ("0.0.1", "iso_broken", BROKEN),
    "dl-raisingplug": ("0.2.0", "iso_raising", RAISING),
    "dl-twinplug": ("2.0.0", "iso_twin", TWIN),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A directory holding the four installed-looking distributions."""
    root = tmp_path_factory.mktemp("site")
    for dist, (version, module, source) in PLUGINS.items():
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[dl]\n{module.split('_')[1]} = {module}\n")
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def installed(site, monkeypatch):
    """The distributions on sys.path for this test (their modules forgotten after)."""
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    for module in [m for m in sys.modules if m.startswith("iso_")]:
        del sys.modules[module]


def dl(site, *args, **env):
    """Run the `dl` command line in a fresh interpreter that sees the distributions."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DL_")}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "dl_cli", *args], capture_output=True, text=True, env=environ,
                          timeout=120)


# -- through the command line ------------------------------------------------------------


def test_dl_list_keeps_working_and_reports_broken_and_conflicting_plugins(site):
    result = dl(site, "list", "layers", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["name"], r["plugin"], r["version"]) for r in json.loads(result.stdout)}
    assert ("GoodLayer", "dl-goodplug", "1.0.0") in rows
    assert {("Twin", "dl-goodplug", "1.0.0"), ("Twin", "dl-twinplug", "2.0.0")} <= rows
    assert any(name == "Dense" and plugin == "dl" for name, plugin, _ in rows)  # the built-ins still load
    assert not any(name == "HalfLayer" for name, _, _ in rows)  # all of the raising plugin or none of it
    err = result.stderr
    assert "Warning: dl plugin 'dl-brokenplug' failed to load (import)" in err
    assert "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'" in err
    assert "Warning: dl plugin 'dl-raisingplug' failed to load (register_losses): RuntimeError: the hook is on fire" in err
    assert "Layer name 'Twin' is registered by two plugins: 'dl-goodplug' 1.0.0 and 'dl-twinplug' 2.0.0" in err


def test_dl_plugins_lists_failures_with_reasons_and_conflicts_naming_both_distributions(site):
    result = dl(site, "plugins", "--json")
    assert result.returncode == 0 and result.stderr == ""
    payload = json.loads(result.stdout)
    loaded = {p["name"]: p["version"] for p in payload["plugins"]}
    assert loaded["dl-goodplug"] == "1.0.0" and loaded["dl-twinplug"] == "2.0.0" and "dl" in loaded
    failures = {f["plugin"]: (f["where"], f["reason"]) for f in payload["failures"]}
    assert failures["dl-brokenplug"][0] == "import" and "a_dependency_that_is_not_installed" in failures["dl-brokenplug"][1]
    assert failures["dl-raisingplug"] == ("register_losses", "RuntimeError: the hook is on fire")
    assert {"kind": "layers", "name": "Twin", "plugins": ["dl-goodplug", "dl-twinplug"]} in payload["conflicts"]


def test_the_allow_list_loads_only_the_named_distributions(site):
    result = dl(site, "plugins", "--json", DL_LOAD_PLUGINS="DL_GoodPlug")  # names compare as pip compares them
    assert result.returncode == 0 and result.stderr == ""
    payload = json.loads(result.stdout)
    assert [p["name"] for p in payload["plugins"]] == ["dl", "dl-goodplug"]
    assert payload["failures"] == [] and payload["conflicts"] == []


def test_an_empty_allow_list_loads_no_installed_plugin(site):
    result = dl(site, "list", "--json", DL_LOAD_PLUGINS="")
    assert result.returncode == 0 and result.stderr == ""
    rows = json.loads(result.stdout)
    assert rows and {r["plugin"] for r in rows} == {"dl"}  # not even dl-datasets


def test_strict_mode_turns_a_failed_plugin_into_an_error(site):
    result = dl(site, "list", "layers", DL_STRICT_PLUGINS="1")
    assert result.returncode == 2 and result.stdout == ""
    assert ("Error: DL_STRICT_PLUGINS=1 (strict plugin loading) and 2 plugins failed to load: 'dl-brokenplug' "
            "0.0.1 (import): entry point broken = iso_broken: ModuleNotFoundError") in result.stderr
    assert "; 'dl-raisingplug' 0.2.0 (register_losses): RuntimeError: the hook is on fire. Fix or uninstall" in result.stderr
    assert "Warning: dl plugin" not in result.stderr  # an error, not warnings
    shown = dl(site, "plugins", DL_STRICT_PLUGINS="1")  # the place to find out why still works
    assert shown.returncode == 0 and "Failed to load:" in shown.stdout and "dl-brokenplug 0.0.1  (import)" in shown.stdout
    allowed = dl(site, "list", "layers", DL_STRICT_PLUGINS="1", DL_LOAD_PLUGINS="dl-goodplug dl-twinplug")
    assert allowed.returncode == 0 and "GoodLayer" in allowed.stdout


# -- through Python -----------------------------------------------------------------


def test_a_broken_plugin_warns_in_python_and_the_rest_loads(installed):
    reg = Registry()
    with pytest.warns(PluginWarning) as caught:
        reg.load()
    text = "\n".join(str(w.message) for w in caught)
    assert "'dl-brokenplug' failed to load (import)" in text and "'dl-raisingplug' failed to load" in text
    assert reg.entry("layers", "GoodLayer").plugin == "dl-goodplug"
    assert reg.get("layers", "Dense").__module__ == "corelib.builtin.layers.dense"
    assert ("layers", "HalfLayer") not in reg


def test_a_clash_is_refused_and_resolved_by_naming_the_plugin(installed):
    reg = Registry(load_plugins=["dl-goodplug", "dl-twinplug"])
    with pytest.warns(PluginWarning, match="'Twin'"):
        reg.load()
    with pytest.raises(PluginConflictError, match=r"write 'dl-goodplug:Twin' or 'dl-twinplug:Twin' to choose"):
        reg.get("layers", "Twin")
    assert reg.get("layers", "dl-goodplug:Twin").__module__ == "iso_good"
    assert reg.get("layers", "dl_TwinPlug:twin").__module__ == "iso_twin"  # normalized plugin name, alias
    assert reg.get("layers", "dl:Dense") is reg.get("layers", "Dense")
    assert ("layers", "dl-twinplug:Twin") in reg and ("layers", "Twin") not in reg
    from corelib import layers

    with use_registry(reg):  # the views, and so specs and model files, take the namespaced names too
        assert layers.get("dl-twinplug:Twin").__module__ == "iso_twin"
        assert layers.deserialize({"class_name": "dl-goodplug:Twin", "config": {}}).__module__ == "iso_good"


def test_namespaced_names_that_do_not_resolve_say_why(installed):
    reg = Registry(load_plugins=["dl-goodplug"])
    with pytest.raises(UnknownComponentError, match=r"Plugin 'dl-goodplug' registers no layer 'GoodLayr'\. "
                                                    r"Did you mean 'dl-goodplug:GoodLayer'\?"):
        reg.get("layers", "dl-goodplug:GoodLayr")
    with pytest.raises(UnknownComponentError, match=r"no loaded plugin named 'dl-nope' registers layers\. "
                                                    r"Plugins with layers: dl, dl-goodplug"):
        reg.get("layers", "dl-nope:GoodLayer")


def test_the_allow_list_skips_other_distributions_and_warns_about_unknown_names(installed):
    reg = Registry(load_plugins=["dl-goodplug", "dl-typo"])
    with pytest.warns(PluginWarning, match=r"names 'dl-typo', but no installed dl plugin has that distribution name"):
        reg.load()
    assert [p.name for p in reg.plugins()] == ["dl", "dl-goodplug"]
    assert ("dl-brokenplug", "0.0.1") in reg.skipped and ("dl-twinplug", "2.0.0") in reg.skipped
    assert reg.failures == [] and reg.conflicts == []


def test_strict_lookups_raise_but_the_reports_stay_readable(installed):
    reg = Registry(strict=True)
    with pytest.warns(PluginWarning) as caught:  # loading raises nothing; the clash still warns
        reg.load()
    assert all("'Twin'" in str(w.message) for w in caught)  # failures are errors now, not warnings
    with pytest.raises(PluginError, match=r"2 plugins failed to load: 'dl-brokenplug' 0\.0\.1 \(import\)"):
        reg.get("layers", "Dense")
    with pytest.raises(PluginError):
        reg.entries()
    assert {f.plugin for f in reg.failures} == {"dl-brokenplug", "dl-raisingplug"}
    assert "dl-goodplug" in [p.name for p in reg.plugins()]


def test_the_environment_configures_the_process_registry(installed, monkeypatch):
    assert Registry.from_environment({}).allowed is None
    assert Registry.from_environment({"DL_LOAD_PLUGINS": ""}).allowed == frozenset()
    assert Registry.from_environment({"DL_LOAD_PLUGINS": " dl-a,DL_B  dl.c"}).allowed == {"dl-a", "dl-b", "dl-c"}
    assert Registry.from_environment({"DL_STRICT_PLUGINS": "true"}).strict
    assert not Registry.from_environment({"DL_STRICT_PLUGINS": "0"}).strict
    with pytest.raises(ConfigError, match=r"DL_STRICT_PLUGINS must be 1 or 0 .* Received: DL_STRICT_PLUGINS='maybe'"):
        Registry.from_environment({"DL_STRICT_PLUGINS": "maybe"})
    import corelib.registry.manager as registry_module

    monkeypatch.setattr(registry_module, "_REGISTRY", None)
    monkeypatch.setenv("DL_LOAD_PLUGINS", "dl-goodplug")
    reg = registry_module.get_registry()
    assert reg.allowed == {"dl-goodplug"} and reg.get("layers", "GoodLayer").__module__ == "iso_good"


def test_a_component_name_with_a_colon_is_refused():
    from corelib import hookimpl

    class Colon:
        @hookimpl
        def register_layers(self, register):
            register(object, name="a:b")

    reg = Registry(builtin=False, entry_points=False)
    reg.register_plugin(Colon(), name="colon")
    with pytest.warns(PluginWarning, match=r"component names may not contain ':'.*Received: 'a:b'"):
        reg.load()
    assert reg.entries() == []
