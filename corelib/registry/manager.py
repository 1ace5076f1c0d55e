"""The component registry: a pluggy PluginManager plus name lookup.

Every layer, loss, optimizer, metric, activation, initializer, regularizer,
callback and data set reaches dl through this registry. Plugins are loaded
lazily, once, on the first lookup: first the built-in plugin
(`corelib.builtin.plugin`, registered directly as plugin "dl"), then every
entry point of the ``dl`` group, then plugin objects registered in code.

    reg = get_registry()
    reg.get("layers", "Dense")           # the class; "dense" works too
    reg.provider_of(Dense)               # Entry(..., plugin="dl", version="0.1.0")

Which installed plugins load is up to the user (read by `get_registry`):

    DL_LOAD_PLUGINS="dl-datasets,dl-transformer"   only these distributions ("" loads none)
    DL_STRICT_PLUGINS=1                            a plugin that fails to load is an error

and ``"dl-transformer:MultiHeadAttention"`` names one plugin's component
when two plugins registered the same name.

Tests use a registry of their own:

    reg = Registry(builtin=False, entry_points=False)
    reg.register_plugin(MyPlugin(), name="myplugin")
    with use_registry(reg):
        ...
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import threading
import warnings
from typing import Any, Iterable, Iterator, Mapping

import pluggy

from corelib.registry import hookspecs
from corelib.registry.loading import (
    ENV_LOAD,
    ENV_STRICT,
    allow_list_from_env,
    distribution_of,
    dl_version,
    entry_points,
    normalize_dist,
    strict_from_env,
    unmatched,
)
from corelib.registry.lookup import LookupMixin
from corelib.registry.entries import (
    KINDS,
    Conflict,
    Entry,
    PluginFailure,
    PluginInfo,
    PluginWarning,
    Staging,
)
from corelib.errors import PluginError

__all__ = ["Registry", "get_registry", "use_registry"]

BUILTIN_MODULE = "corelib.builtin.plugin"
BUILTIN_NAME = "dl"


class Registry(LookupMixin):
    """Plugins and the components they registered, looked up by kind and name.

    Args:
        builtin: load the built-in plugin (`corelib.builtin.plugin`) as "dl".
        entry_points: load the plugins installed under the ``dl`` entry-point group.
        load_plugins: the distributions whose entry points load (names as pip
            shows them; case, "-", "_" and "." do not matter); None loads
            every one, an empty list none. The built-in plugin always loads.
        strict: a plugin that fails to load makes every lookup raise
            `PluginError` naming it, instead of a warning and its absence.

    `get_registry()` builds the process-wide registry with `from_environment`,
    which reads ``DL_LOAD_PLUGINS`` and ``DL_STRICT_PLUGINS``.
    """

    def __init__(self, *, builtin: bool = True, entry_points: bool = True,
                 load_plugins: Iterable[str] | None = None, strict: bool = False) -> None:
        if isinstance(load_plugins, str):
            load_plugins = [load_plugins]
        self._builtin = builtin
        self._entry_points = entry_points
        self._allow = None if load_plugins is None else frozenset(normalize_dist(n) for n in load_plugins)
        self._strict = bool(strict)
        self._skipped: list[tuple[str, str]] = []
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._loaded = False
        self._pending: list[tuple[Any, str, str]] = []
        self._index: dict[str, dict[str, Entry | Conflict]] = {k: {} for k in KINDS}
        self._entries: dict[str, list[Entry]] = {k: [] for k in KINDS}
        self._by_id: dict[int, list[Entry]] = {}
        self._infos: dict[str, PluginInfo] = {}
        self._failures: list[PluginFailure] = []
        self._conflicts: list[Conflict] = []

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "Registry":
        """A registry configured by ``DL_LOAD_PLUGINS`` and ``DL_STRICT_PLUGINS`` (os.environ by default)."""
        return cls(load_plugins=allow_list_from_env(environ), strict=strict_from_env(environ))

    @property
    def strict(self) -> bool:
        """Whether a plugin that fails to load makes lookups raise."""
        return self._strict

    @property
    def allowed(self) -> frozenset[str] | None:
        """The distributions allowed to load (normalized names), or None for all."""
        return self._allow

    # -- plugins -------------------------------------------------------------

    def register_plugin(self, plugin: Any, name: str | None = None, version: str = "") -> str:
        """Register a plugin object (module, class or instance with hookimpls).

        Before the first lookup the plugin is queued and loaded after the
        installed ones; afterwards its hooks run at once. A plugin that raises
        in a hook is reported with a `PluginWarning` and left out.

        Args:
            plugin: an object whose methods/functions carry `@corelib.hookimpl`.
            name: the plugin's name (shown in `dl list`); defaults to the
                module's or class's name.
            version: shown next to the name.

        Returns:
            The plugin's name.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        with self._lock:
            taken = {n for _, n, _ in self._pending} | set(self._infos)
            if name in taken or self._pm.is_registered(plugin):
                raise PluginError(f"A plugin named {name!r} (or this same plugin object) is already registered")
            if self._loaded:
                self._add_plugin(plugin, name, None, version, "registered in code")
            else:
                self._pending.append((plugin, name, version))
        return name

    @property
    def loaded(self) -> bool:
        """Whether plugins have been loaded (they are on the first lookup)."""
        return self._loaded

    def load(self) -> None:
        """Load every plugin now (lookups do this on first use).

        Failures are reported, never raised here: as a `PluginWarning` each, or
        in strict mode by every lookup that follows (`dl plugins` still lists them).
        """
        with self._lock:
            if self._loaded:
                return
            self._loaded = True  # set first: a plugin's hook may itself look names up
            if self._builtin:
                self._load_builtin()
            if self._entry_points:
                self._load_entry_points()
            pending, self._pending = self._pending, []
            for plugin, name, version in pending:
                self._add_plugin(plugin, name, None, version, "registered in code")

    def _load_entry_points(self) -> None:
        eps = entry_points()
        for ep in eps:
            dist, version = distribution_of(ep)
            if self._allow is not None and normalize_dist(dist or ep.name) not in self._allow:
                if (dist or ep.name, version) not in self._skipped:
                    self._skipped.append((dist or ep.name, version))
                continue
            self._load_entry_point(ep)
        missing = [n for n in unmatched(self._allow or (), eps) if n != BUILTIN_NAME]
        if missing:
            warnings.warn(
                f"{ENV_LOAD} (the plugin allow-list) names {', '.join(map(repr, missing))}, but no installed "
                f"dl plugin has that distribution name; installed: "
                f"{', '.join(sorted({distribution_of(ep)[0] or ep.name for ep in eps})) or 'none'}",
                PluginWarning,
                stacklevel=4,
            )

    def _load_builtin(self) -> None:
        version = dl_version()
        try:
            module = importlib.import_module(BUILTIN_MODULE)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            self._fail(BUILTIN_NAME, version, "import", f"{BUILTIN_MODULE}: {type(exc).__name__}: {exc}")
            return
        self._add_plugin(module, BUILTIN_NAME, "dl", version, f"built in ({BUILTIN_MODULE})")

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        dist_name, version = distribution_of(ep)
        name = dist_name or ep.name
        if name in self._infos:
            name = f"{name}:{ep.name}"
        source = f"entry point {ep.name} = {ep.value}"
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take dl down
            self._fail(name, version, "import", f"{source}: {type(exc).__name__}: {exc}")
            return
        if self._pm.is_registered(plugin):
            return  # e.g. a distribution that also lists the built-in plugin
        self._add_plugin(plugin, name, dist_name, version, source)

    def _add_plugin(self, plugin: Any, name: str, dist: str | None, version: str, source: str) -> None:
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy's validation errors name the hook and argument
            self._fail(name, version, "register", f"{type(exc).__name__}: {exc}")
            return
        callers = self._pm.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown:
            self._pm.unregister(plugin)
            known = ", ".join(sorted(s for s in dir(hookspecs) if s.startswith("register_")))
            self._fail(name, version, "register", f"implements unknown hook(s) {unknown}; known hooks: {known}")
            return
        display = dist or name
        staging = Staging(display, version)
        for kind in KINDS:
            try:
                self._call_impls(plugin, f"register_{kind}", register=staging.register_fn(kind))
            except Exception as exc:  # noqa: BLE001 - isolate the plugin, keep the rest
                self._pm.unregister(plugin)
                self._fail(name, version, f"register_{kind}", f"{type(exc).__name__}: {exc}")
                return
        info = PluginInfo(
            name=name,
            distribution=dist,
            version=version,
            source=source,
            hooks=tuple(sorted(c.name for c in callers)),
            provides={},
        )
        self._infos[name] = info
        for entry, keys in staging.items():
            self._commit(entry, keys)
            info.provides.setdefault(entry.kind, []).append(entry.name)

    def _call_impls(self, plugin: Any, hook: str, **kwargs: Any) -> None:
        """Call `plugin`'s implementation of `hook` alone, so its registrations are attributed to it."""
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            if impl.plugin is plugin:
                impl.function(*[kwargs[a] for a in impl.argnames])

    def _commit(self, entry: Entry, keys: list[str]) -> None:
        index = self._index[entry.kind]
        self._entries[entry.kind].append(entry)
        self._by_id.setdefault(id(entry.obj), []).append(entry)
        new: list[Conflict] = []
        for key in keys:
            held = index.get(key)
            if held is None:
                index[key] = entry
            elif isinstance(held, Conflict):
                if all(e.obj is not entry.obj for e in held.entries):
                    held.entries.append(entry)
            elif held.obj is not entry.obj:
                index[key] = Conflict(entry.kind, key, [held, entry])
                self._conflicts.append(index[key])
                new.append(index[key])
        if new:  # one warning per clashing component, not per alias
            also = [c.name for c in new[1:]]
            extra = f" (also its other names: {', '.join(map(repr, also))})" if also else ""
            warnings.warn(new[0].message() + extra, PluginWarning, stacklevel=4)

    def _fail(self, plugin: str, version: str, where: str, reason: str) -> None:
        failure = PluginFailure(plugin, version, where, reason)
        self._failures.append(failure)
        if not self._strict:  # strict: the lookups raise instead
            warnings.warn(failure.message(), PluginWarning, stacklevel=4)

    def _check_strict(self) -> None:
        if self._strict and self._failures:
            count = len(self._failures)
            reasons = "; ".join(
                f"{f.plugin!r}{' ' + f.version if f.version else ''} ({f.where}): {f.reason}"
                for f in sorted(self._failures, key=lambda f: f.plugin)
            )
            them = "them" if count > 1 else "it"
            raise PluginError(
                f"{ENV_STRICT}=1 (strict plugin loading) and {count} plugin{'s' if count > 1 else ''} "
                f"failed to load: {reasons}. Fix or uninstall {them}, or leave {them} out with {ENV_LOAD}."
            )

    def add_commands(self, group: Any) -> None:
        """Let every plugin add its commands to the click `group`.

        Call it once per group. A plugin whose `register_commands` raises, or
        that replaces a command already there, is reported and its commands
        are left out.
        """
        self.load()
        with self._lock:
            for name, info in list(self._infos.items()):
                plugin = self._pm.get_plugin(name)
                if plugin is None:
                    continue
                after = getattr(group, "commands", {})
                before = dict(after)
                try:
                    self._call_impls(plugin, "register_commands", cli=group)
                    replaced = sorted(k for k, cmd in before.items() if after.get(k) is not cmd)
                    if replaced:  # nothing is silently overridden, commands included
                        raise PluginError(f"tried to replace the command(s) {replaced}")
                except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
                    after.clear()
                    after.update(before)
                    self._fail(name, info.version, "register_commands", f"{type(exc).__name__}: {exc}")
                    continue
                added = sorted(set(after) - set(before))
                if added:
                    info.provides["commands"] = added

_REGISTRY: Registry | None = None
_GLOBAL_LOCK = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry (created on first call; plugins load on first lookup).

    It is configured by the environment when first created: ``DL_LOAD_PLUGINS``
    (an allow-list of plugin distributions; empty loads none) and
    ``DL_STRICT_PLUGINS=1`` (a plugin that fails to load is an error).
    """
    global _REGISTRY
    if _REGISTRY is None:
        with _GLOBAL_LOCK:
            if _REGISTRY is None:
                _REGISTRY = Registry.from_environment()
    return _REGISTRY


@contextlib.contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make `registry` the one `get_registry()` returns inside the block.

        with use_registry(Registry(entry_points=False)) as reg:
            reg.register_plugin(MyPlugin(), name="myplugin")
            ...
    """
    global _REGISTRY
    previous = _REGISTRY
    _REGISTRY = registry
    try:
        yield registry
    finally:
        _REGISTRY = previous
