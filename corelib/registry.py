"""The component registry: a pluggy PluginManager plus name lookup.

Every layer, loss, optimizer, metric, activation, initializer, regularizer,
callback and data set reaches dl through this registry. Plugins are loaded
lazily, once, on the first lookup: first the built-in plugin
(`corelib.builtin.plugin`, registered directly as plugin "dl"), then every
entry point of the ``dl`` group, then plugin objects registered in code.

    reg = get_registry()
    reg.get("layers", "Dense")           # the class; "dense" works too
    reg.provider_of(Dense)               # Entry(..., plugin="dl", version="0.1.0")

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
from typing import Any, Iterator

import pluggy

from corelib import hookspecs
from corelib._registry_types import (
    KINDS,
    Conflict,
    Entry,
    PluginFailure,
    PluginInfo,
    PluginWarning,
    Staging,
    kind_label,
    normalize_kind,
    suggest,
)
from corelib.errors import PluginConflictError, PluginError, UnknownComponentError

__all__ = [
    "KINDS",
    "Conflict",
    "Entry",
    "PluginFailure",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "get_registry",
    "normalize_kind",
    "use_registry",
]

BUILTIN_MODULE = "corelib.builtin.plugin"
BUILTIN_NAME = "dl"


def _dl_version() -> str:
    try:
        return importlib.metadata.version("dl")
    except importlib.metadata.PackageNotFoundError:
        import corelib

        return corelib.__version__


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """Entry points of the ``dl`` group, once each (a package on sys.path twice is seen once)."""
    seen: set[tuple] = set()
    found = []
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        dist = getattr(ep, "dist", None)
        key = (dist.name if dist is not None else None, ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            found.append(ep)
    return found


class Registry:
    """Plugins and the components they registered, looked up by kind and name.

    Args:
        builtin: load the built-in plugin (`corelib.builtin.plugin`) as "dl".
        entry_points: load the plugins installed under the ``dl`` entry-point group.
    """

    def __init__(self, *, builtin: bool = True, entry_points: bool = True) -> None:
        self._builtin = builtin
        self._entry_points = entry_points
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
        """Load every plugin now (lookups do this on first use)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True  # set first: a plugin's hook may itself look names up
            if self._builtin:
                self._load_builtin()
            if self._entry_points:
                for ep in _entry_points():
                    self._load_entry_point(ep)
            pending, self._pending = self._pending, []
            for plugin, name, version in pending:
                self._add_plugin(plugin, name, None, version, "registered in code")

    def _load_builtin(self) -> None:
        version = _dl_version()
        try:
            module = importlib.import_module(BUILTIN_MODULE)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            self._fail(BUILTIN_NAME, version, "import", f"{BUILTIN_MODULE}: {type(exc).__name__}: {exc}")
            return
        self._add_plugin(module, BUILTIN_NAME, "dl", version, f"built in ({BUILTIN_MODULE})")

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        dist_name = dist.name if dist is not None else None
        version = (dist.version if dist is not None else "") or ""
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
        warnings.warn(failure.message(), PluginWarning, stacklevel=4)

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

    # -- lookup --------------------------------------------------------------

    def get(self, kind: str, name: str) -> Any:
        """The object registered as `name` (or an alias of it) under `kind`.

        Args:
            kind: "layers", "losses", ... (the singular "layer" works too).
            name: the registered name ("Dense") or an alias ("dense"); case-sensitive.

        Raises:
            UnknownComponentError: nothing is registered under that name; the
                message suggests close matches.
            PluginConflictError: two plugins registered the name.
        """
        return self.entry(kind, name).obj

    def entry(self, kind: str, name: str) -> Entry:
        """Like `get`, but the `Entry` (with plugin, version, description)."""
        kind = normalize_kind(kind)
        self.load()
        held = self._index[kind].get(name) if isinstance(name, str) else None
        if isinstance(held, Entry):
            return held
        if isinstance(held, Conflict):
            raise PluginConflictError(held.message())
        raise UnknownComponentError(self._unknown_message(kind, name))

    def _unknown_message(self, kind: str, name: Any) -> str:
        label = kind_label(kind)
        msg = f"Unknown {label}: {name!r}."
        matches = suggest(name, self._index[kind]) if isinstance(name, str) else []
        if matches:
            msg += " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
        msg += f" Run `dl list {kind}` to see what is installed."
        if self._failures:
            failed = ", ".join(sorted({f.plugin for f in self._failures}))
            msg += f" (Plugins that failed to load: {failed}; run `dl plugins`.)"
        return msg

    def __contains__(self, item: tuple[str, str]) -> bool:
        kind, name = item
        self.load()
        return isinstance(self._index[normalize_kind(kind)].get(name), Entry)

    def names(self, kind: str) -> list[str]:
        """Registered names (not aliases) of one kind, sorted."""
        return [e.name for e in self.entries(kind)]

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Every registered component (of one kind), sorted by kind then name."""
        self.load()
        kinds = KINDS if kind is None else (normalize_kind(kind),)
        return [e for k in kinds for e in sorted(self._entries[k], key=lambda e: (e.name.lower(), e.name))]

    def provider_of(self, obj: Any, kind: str | None = None) -> Entry | None:
        """The Entry of a registered object, or of an instance's class; None if unregistered.

        Args:
            obj: a registered class/function/object, or an instance of a registered class.
            kind: only look among this kind's entries.
        """
        self.load()
        kind = None if kind is None else normalize_kind(kind)
        candidates = [obj] if isinstance(obj, type) else [obj, type(obj)]
        for candidate in candidates:
            for entry in self._by_id.get(id(candidate), ()):
                if kind is None or entry.kind == kind:
                    return entry
        return None

    def plugins(self) -> list[PluginInfo]:
        """The loaded plugins, in load order."""
        self.load()
        return list(self._infos.values())

    @property
    def failures(self) -> list[PluginFailure]:
        """Plugins that failed to import or raised in a hook, with the reason."""
        self.load()
        return list(self._failures)

    @property
    def conflicts(self) -> list[Conflict]:
        """Names that two plugins both registered (looking them up raises)."""
        self.load()
        return list(self._conflicts)


_REGISTRY: Registry | None = None
_GLOBAL_LOCK = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry (created on first call; plugins load on first lookup)."""
    global _REGISTRY
    if _REGISTRY is None:
        with _GLOBAL_LOCK:
            if _REGISTRY is None:
                _REGISTRY = Registry()
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
