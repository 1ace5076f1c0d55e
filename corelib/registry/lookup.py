"""Looking components up in the registry: by name, alias or ``plugin:name``, with
suggestions; what is loaded, what failed, what clashed. Private: the methods
are `corelib.registry.Registry`'s.
"""

from __future__ import annotations

from typing import Any

from corelib.registry.loading import normalize_dist
from corelib.registry.entries import (
    KINDS,
    Conflict,
    Entry,
    PluginFailure,
    PluginInfo,
    kind_label,
    normalize_kind,
    split_namespace,
    suggest,
)
from corelib.errors import PluginConflictError, UnknownComponentError

__all__ = ["LookupMixin"]


class LookupMixin:
    """The read side of `Registry`: it fills ``_index``, ``_entries``, ``_by_id``,
    ``_infos``, ``_failures``, ``_conflicts`` and ``_skipped`` as plugins load."""

    _index: dict[str, dict[str, Entry | Conflict]]
    _entries: dict[str, list[Entry]]
    _by_id: dict[int, list[Entry]]
    _infos: dict[str, PluginInfo]
    _failures: list[PluginFailure]
    _conflicts: list[Conflict]
    _skipped: list[tuple[str, str]]

    def load(self) -> None:  # provided by Registry
        raise NotImplementedError

    def _check_strict(self) -> None:  # provided by Registry
        raise NotImplementedError

    def get(self, kind: str, name: str) -> Any:
        """The object registered as `name` (or an alias of it) under `kind`.

        Args:
            kind: "layers", "losses", ... (the singular "layer" works too).
            name: the registered name ("Dense") or an alias ("dense"); case-sensitive.
                ``"plugin:name"`` ("dl-foo:Dense", "dl:Dense") takes the one that
                plugin registered, for a name two plugins clash on.

        Raises:
            UnknownComponentError: nothing is registered under that name; the
                message suggests close matches.
            PluginConflictError: two plugins registered the name.
            PluginError: strict loading is on and a plugin failed to load.
        """
        return self.entry(kind, name).obj

    def entry(self, kind: str, name: str) -> Entry:
        """Like `get`, but the `Entry` (with plugin, version, description)."""
        kind = normalize_kind(kind)
        self._load_checked()
        held = self._index[kind].get(name) if isinstance(name, str) else None
        if isinstance(held, Entry):
            return held
        if isinstance(held, Conflict):
            raise PluginConflictError(held.message())
        namespaced = split_namespace(name) if isinstance(name, str) else None
        if namespaced is not None:
            return self._namespaced_entry(kind, *namespaced)
        raise UnknownComponentError(self._unknown_message(kind, name))

    def _load_checked(self) -> None:
        self.load()
        self._check_strict()

    def _namespaced_entry(self, kind: str, plugin: str, name: str) -> Entry:
        """``"dl-foo:Dense"``: the component `name` as plugin `plugin` registered it."""
        wanted = normalize_dist(plugin)
        mine = [e for e in self._entries[kind] if normalize_dist(e.plugin) == wanted]
        for entry in mine:
            if name == entry.name or name in entry.aliases:
                return entry
        label = kind_label(kind)
        if mine:
            index = {key: e for e in mine for key in (e.name, *e.aliases)}
            matches = suggest(name, index)
            hint = f" Did you mean {' or '.join(repr(f'{plugin}:{m}') for m in matches)}?" if matches else ""
            raise UnknownComponentError(
                f"Plugin {plugin!r} registers no {label} {name!r}.{hint} It registers: "
                f"{', '.join(sorted(e.name for e in mine))}."
            )
        providers = sorted({e.plugin for e in self._entries[kind]})
        raise UnknownComponentError(
            f"Unknown {label}: {plugin + ':' + name!r}: no loaded plugin named {plugin!r} registers {label}s. "
            f"Plugins with {kind}: {', '.join(providers) or 'none'}. Run `dl plugins` to see what is loaded."
        )

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
        try:
            self.entry(kind, name)
        except (UnknownComponentError, PluginConflictError):
            return False
        return True

    def names(self, kind: str) -> list[str]:
        """Registered names (not aliases) of one kind, sorted."""
        return [e.name for e in self.entries(kind)]

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Every registered component (of one kind), sorted by kind then name."""
        self._load_checked()
        kinds = KINDS if kind is None else (normalize_kind(kind),)
        return [e for k in kinds for e in sorted(self._entries[k], key=lambda e: (e.name.lower(), e.name))]

    def provider_of(self, obj: Any, kind: str | None = None) -> Entry | None:
        """The Entry of a registered object, or of an instance's class; None if unregistered.

        Args:
            obj: a registered class/function/object, or an instance of a registered class.
            kind: only look among this kind's entries.
        """
        self._load_checked()
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

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(distribution, version) of installed plugins left out by the allow-list."""
        self.load()
        return list(self._skipped)
