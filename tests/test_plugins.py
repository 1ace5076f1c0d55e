"""Plugins: conflicts name both plugins, broken plugins warn and are left out,
installed plugins are found through the ``dl`` entry-point group."""

import importlib
import sys
import textwrap

import click
import pytest

from corelib import hookimpl
from corelib.errors import PluginConflictError
from corelib.registry import PluginWarning, Registry


class Dense:
    """Dense from plugin one."""


class OtherDense:
    """Dense from plugin two."""


class Good:
    @hookimpl
    def register_layers(self, register):
        register(Dense)

    @hookimpl
    def register_losses(self, register):
        register(lambda y_true, y_pred: 0.0, name="zero")


def _plugin(hook: str, fn):
    """A plugin object implementing one hook with `fn`."""
    cls = type("P", (), {hook: hookimpl(fn)})
    return cls()


def _isolated(*plugins):
    reg = Registry(builtin=False, entry_points=False)
    for name, plugin in plugins:
        reg.register_plugin(plugin, name=name, version="1.0")
    return reg


def test_conflicting_names_raise_naming_both_plugins():
    two = _plugin("register_layers", lambda self, register: register(OtherDense, name="Dense"))
    reg = _isolated(("one", Good()), ("two", two))
    with pytest.warns(PluginWarning, match=r"'Dense'.*'one' 1\.0 and 'two' 1\.0"):
        reg.load()
    with pytest.raises(PluginConflictError, match=r"Layer name 'Dense' is registered by two plugins: 'one' 1\.0 and 'two' 1\.0"):
        reg.get("layers", "Dense")
    with pytest.raises(PluginConflictError, match="'one'.*'two'"):
        reg.get("layers", "dense")  # the alias clashes as well
    assert reg.get("losses", "zero")  # the rest keeps working
    (conflict, _alias) = reg.conflicts
    assert conflict.kind == "layers" and conflict.name == "Dense" and conflict.plugins == ["one", "two"]


def test_an_alias_clashing_with_another_plugins_name_is_a_conflict():
    two = _plugin("register_layers", lambda self, register: register(OtherDense, aliases=["Dense"]))
    reg = _isolated(("one", Good()), ("two", two))
    with pytest.warns(PluginWarning):
        reg.load()
    with pytest.raises(PluginConflictError, match=r"'two' 1\.0 \(as an alias of 'OtherDense'\)"):
        reg.get("layers", "Dense")
    assert reg.get("layers", "OtherDense") is OtherDense


def test_same_object_from_two_plugins_is_no_conflict():
    again = _plugin("register_layers", lambda self, register: register(Dense))
    reg = _isolated(("one", Good()), ("again", again))
    assert reg.get("layers", "Dense") is Dense
    assert not reg.conflicts


class Broken:
    @hookimpl
    def register_layers(self, register):
        register(OtherDense)  # registered before the failure, must not survive it

    @hookimpl
    def register_losses(self, register):
        raise RuntimeError("the GPU is on fire")


def test_a_plugin_raising_in_a_hook_warns_and_is_left_out():
    reg = _isolated(("good", Good()), ("broken", Broken()))
    with pytest.warns(PluginWarning, match=r"'broken' failed to load \(register_losses\): RuntimeError: the GPU is on fire"):
        reg.load()
    assert reg.get("layers", "Dense") is Dense
    assert ("layers", "OtherDense") not in reg
    (failure,) = reg.failures
    assert (failure.plugin, failure.where) == ("broken", "register_losses")
    assert "the GPU is on fire" in failure.reason
    assert [p.name for p in reg.plugins()] == ["good"]


def test_unknown_names_mention_failed_plugins():
    reg = _isolated(("broken", Broken()))
    with pytest.warns(PluginWarning):
        reg.load()
    with pytest.raises(KeyError, match=r"failed to load: broken; run `dl plugins`"):
        reg.get("layers", "OtherDense")


def test_a_plugin_with_a_misspelt_hook_is_reported():
    reg = _isolated(("typo", _plugin("register_layer", lambda self, register: None)))
    with pytest.warns(PluginWarning, match=r"unknown hook\(s\) \['register_layer'\]"):
        reg.load()
    assert reg.failures[0].where == "register"


def test_a_hook_with_a_wrong_argument_name_is_reported():
    reg = _isolated(("badarg", _plugin("register_layers", lambda self, add: None)))
    with pytest.warns(PluginWarning, match="badarg"):
        reg.load()
    assert "add" in reg.failures[0].reason


def test_bad_register_calls_fail_the_plugin():
    cases = {
        "noname": lambda self, register: register(object()),
        "badalias": lambda self, register: register(Dense, aliases=[3]),
        "twice": lambda self, register: (register(Dense, name="X"), register(OtherDense, name="X")),
    }
    for name, fn in cases.items():
        reg = _isolated((name, _plugin("register_layers", fn)))
        with pytest.warns(PluginWarning, match=name):
            reg.load()
        assert reg.entries() == []


def _fake_distribution(tmp_path, module_source: str, name="fakeplug", version="1.2.3"):
    """An installed-looking distribution on sys.path with a ``dl`` entry point."""
    info = tmp_path / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[dl]\nmain = {name}_mod\n")
    (tmp_path / f"{name}_mod.py").write_text(textwrap.dedent(module_source))


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for mod in [m for m in sys.modules if m.endswith("_mod") and m.startswith(("fakeplug", "brokenplug"))]:
        del sys.modules[mod]


def test_an_installed_plugin_is_found_through_its_entry_point(on_path):
    _fake_distribution(
        on_path,
        """
        from corelib import hookimpl

        class Swish2:
            '''A layer from an installed plugin.'''

        @hookimpl
        def register_layers(register):
            register(Swish2)
        """,
    )
    reg = Registry(builtin=False)
    entry = reg.entry("layers", "swish2")
    assert (entry.name, entry.plugin, entry.version) == ("Swish2", "fakeplug", "1.2.3")
    assert entry.description == "A layer from an installed plugin."
    info = next(p for p in reg.plugins() if p.name == "fakeplug")
    assert info.source == "entry point main = fakeplug_mod" and info.distribution == "fakeplug"


def test_a_plugin_that_fails_to_import_warns_and_the_rest_works(on_path):
    _fake_distribution(on_path, "import a_module_that_does_not_exist\n", name="brokenplug", version="0.0.1")
    reg = Registry(builtin=False)
    reg.register_plugin(Good(), name="good")
    with pytest.warns(PluginWarning, match=r"'brokenplug' failed to load \(import\).*a_module_that_does_not_exist"):
        reg.load()
    assert reg.get("layers", "Dense") is Dense
    failure = next(f for f in reg.failures if f.plugin == "brokenplug")
    assert (failure.where, failure.version) == ("import", "0.0.1")


def test_dl_datasets_is_installed_as_a_plugin():
    pytest.importorskip("dl_datasets")
    reg = Registry(builtin=False)
    entry = reg.entry("datasets", "digits")
    assert entry.plugin == "dl-datasets" and entry.version


def _boom(self, cli):
    cli.add_command(click.Command("half-added"))
    raise RuntimeError("no commands today")


def test_commands_from_plugins_and_broken_command_hooks():
    @click.command("hello")
    def hello():
        click.echo("hi")

    adds = _plugin("register_commands", lambda self, cli: cli.add_command(hello))
    raises = _plugin("register_commands", _boom)
    steals = _plugin("register_commands", lambda self, cli: cli.add_command(click.Command("list"), "list"))
    reg = _isolated(("adds", adds), ("raises", raises), ("steals", steals))
    group = click.Group(commands=[click.Command("list")])
    original = group.commands["list"]
    with pytest.warns(PluginWarning):
        reg.add_commands(group)
    assert set(group.commands) == {"list", "hello"} and group.commands["list"] is original
    assert {f.plugin: f.where for f in reg.failures} == {"raises": "register_commands", "steals": "register_commands"}
    assert "tried to replace the command(s) ['list']" in reg.failures[1].reason
    assert reg.plugins()[0].provides == {"commands": ["hello"]}
