"""Records the registry keeps (Entry, PluginInfo, failures, conflicts) and the
``register`` callbacks handed to plugin hooks. Private: use `corelib.registry`.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from corelib.errors import ConfigError, PluginError

KINDS = (
    "layers",
    "losses",
    "optimizers",
    "schedules",
    "metrics",
    "activations",
    "initializers",
    "regularizers",
    "callbacks",
    "datasets",
    "strategies",
    "onnx_exporters",
)
_SINGULAR = {
    "layers": "layer",
    "losses": "loss",
    "optimizers": "optimizer",
    "schedules": "schedule",
    "metrics": "metric",
    "activations": "activation",
    "initializers": "initializer",
    "regularizers": "regularizer",
    "callbacks": "callback",
    "datasets": "dataset",
    "strategies": "strategy",
    "onnx_exporters": "onnx_exporter",
}
_BY_SINGULAR = {v: k for k, v in _SINGULAR.items()}
# kinds found by the exact registered name only (an ONNX exporter by its layer's name): no snake_case alias
_EXACT_NAMES = frozenset({"onnx_exporters"})


def snake_case(name: str) -> str:
    """"Conv2D" -> "conv2d", "MeanSquaredError" -> "mean_squared_error"."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s)
    return s.lower()


class PluginWarning(UserWarning):
    """A plugin failed to load, or two plugins registered one name."""


def normalize_kind(kind: str) -> str:
    """"layer" or "layers" -> "layers"; anything else raises ConfigError with suggestions."""
    if kind in _SINGULAR:
        return kind
    if kind in _BY_SINGULAR:
        return _BY_SINGULAR[kind]
    close = difflib.get_close_matches(str(kind).lower(), list(KINDS) + list(_BY_SINGULAR), n=1)
    hint = f" Did you mean {_BY_SINGULAR.get(close[0], close[0])!r}?" if close else ""
    raise ConfigError(f"Unknown component kind: {kind!r}.{hint} Kinds: {', '.join(KINDS)}")


def kind_label(kind: str) -> str:
    """The singular word for a kind: "layers" -> "layer"."""
    return _SINGULAR[kind]


def first_doc_line(obj: Any) -> str:
    """The docstring's first paragraph (its summary) as one line."""
    doc = (inspect.getdoc(obj) or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split()) if doc else ""


@dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes:
        kind: "layers", "losses", ...
        name: the registered name ("Dense").
        obj: the class, function or loader.
        aliases: other names it is found by ("dense").
        plugin: the providing plugin (its distribution name; "dl" for built-ins).
        version: that plugin's version ("" when unknown).
        description: the first line of its docstring (or the given description).
    """

    kind: str
    name: str
    obj: Any = field(repr=False, compare=False)
    aliases: tuple[str, ...]
    plugin: str
    version: str
    description: str


@dataclass
class PluginInfo:
    """A loaded plugin: its name, version, where it came from and what it provides."""

    name: str
    distribution: str | None
    version: str
    source: str
    hooks: tuple[str, ...]
    provides: dict[str, list[str]]


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to load (`where`: "import", "register" or the hook that raised)."""

    plugin: str
    version: str
    where: str
    reason: str

    def message(self) -> str:
        return (
            f"dl plugin {self.plugin!r} failed to load ({self.where}): {self.reason}. "
            "Its components are not available; the rest of dl keeps working."
        )


@dataclass
class Conflict:
    """A name (or alias) that two or more plugins registered for different objects."""

    kind: str
    name: str
    entries: list[Entry]

    @property
    def plugins(self) -> list[str]:
        return [e.plugin for e in self.entries]

    def message(self) -> str:
        who = " and ".join(
            f"{e.plugin!r}{' ' + e.version if e.version else ''}"
            + (f" (as an alias of {e.name!r})" if e.name != self.name else "")
            for e in self.entries
        )
        count = "two" if len(self.entries) == 2 else str(len(self.entries))
        choices = " or ".join(repr(f"{e.plugin}:{self.name}") for e in self.entries)
        return (
            f"{kind_label(self.kind).capitalize()} name {self.name!r} is registered by {count} plugins: "
            f"{who}. dl will not pick one: write {choices} to choose, or uninstall one of them."
        )


def split_namespace(name: str) -> tuple[str, str] | None:
    """``"dl-foo:Dense"`` -> ``("dl-foo", "Dense")``; None for a plain name."""
    plugin, sep, short = name.rpartition(":")
    return (plugin, short) if sep and plugin and short else None


def suggest(name: str, index: dict[str, Any], n: int = 3) -> list[str]:
    """Close matches to `name` among the keys of `index`, one per component."""
    keys = list(index)
    ranked = [k for k in keys if k.lower() == name.lower()]
    ranked += difflib.get_close_matches(name, keys, n=n * 2, cutoff=0.6)
    out: list[str] = []
    seen: set[int] = set()
    for key in ranked:
        held = index[key]
        ident = id(getattr(held, "obj", held))
        if ident not in seen and key != name:
            seen.add(ident)
            out.append(key)
    return out[:n]


def _as_names(aliases: Any, what: str) -> tuple[str, ...]:
    if isinstance(aliases, str):
        aliases = (aliases,)
    try:
        names = tuple(aliases)
    except TypeError:
        raise PluginError(f"{what}: aliases must be a string or a list of strings. Received: aliases={aliases!r}") from None
    bad = [a for a in names if not isinstance(a, str) or not a]
    if bad:
        raise PluginError(f"{what}: aliases must be non-empty strings. Received: {bad!r}")
    return names


@dataclass
class _Staged:
    kind: str
    name: str
    obj: Any
    aliases: tuple[str, ...]
    description: str


class Staging:
    """Collects one plugin's registrations, so a failing plugin leaves nothing behind."""

    def __init__(self, plugin: str, version: str) -> None:
        self.plugin = plugin
        self.version = version
        self._staged: list[_Staged] = []
        self._explicit: dict[tuple[str, str], Any] = {}

    def register_fn(self, kind: str) -> Callable[..., None]:
        """The ``register`` callback passed to ``register_<kind>``."""
        hook = f"register_{kind}"
        if kind == "datasets":

            def register_dataset(name: str, loader: Callable, description: str = "", aliases: Iterable[str] = ()) -> None:
                if not callable(loader):
                    raise PluginError(f"{hook}: the loader of data set {name!r} is not callable. Received: {loader!r}")
                self._add(kind, hook, loader, name, aliases, description or first_doc_line(loader))

            return register_dataset

        if kind == "onnx_exporters":

            def register_onnx_exporter(layer: Any, exporter: Callable, description: str = "") -> None:
                name = layer if isinstance(layer, str) else getattr(layer, "__name__", None)
                if not isinstance(name, str) or not name:
                    raise PluginError(f"{hook}: the layer must be a layer class or its registered name. "
                                      f"Received: {layer!r}")
                if not callable(exporter):
                    raise PluginError(f"{hook}: the exporter of layer {name!r} is not callable. Received: {exporter!r}")
                self._add(kind, hook, exporter, name, (), description or first_doc_line(exporter))

            return register_onnx_exporter

        def register(obj: Any, name: str | None = None, aliases: Iterable[str] = (), description: str | None = None) -> None:
            if name is None:
                name = getattr(obj, "__name__", None)
                if name is None:
                    raise PluginError(f"{hook}: cannot tell the name of {obj!r}; pass name=...")
            self._add(kind, hook, obj, name, aliases, description if description is not None else first_doc_line(obj))

        return register

    def _add(self, kind: str, hook: str, obj: Any, name: Any, aliases: Any, description: str) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{hook}: a component name must be a non-empty string. Received: name={name!r}")
        aliases = tuple(a for a in _as_names(aliases, f"{hook} {name!r}") if a != name)
        colons = [key for key in (name, *aliases) if ":" in key]
        if colons:
            raise PluginError(f"{hook}: component names may not contain ':', which separates a plugin's name from "
                              f"the component's ('dl-foo:Dense'). Received: {colons[0]!r}")
        for key in (name, *aliases):
            held = self._explicit.get((kind, key))
            if held is not None and held is not obj:
                raise PluginError(f"{hook}: {kind_label(kind)} name {key!r} is registered twice for different objects")
        if any(s.kind == kind and s.name == name and s.obj is obj for s in self._staged):
            return  # the same registration twice is harmless
        for key in (name, *aliases):
            self._explicit[(kind, key)] = obj
        self._staged.append(_Staged(kind, name, obj, aliases, str(description or "")))

    def items(self) -> list[tuple[Entry, list[str]]]:
        """(Entry, [keys it is found by]) per registration; the snake_case alias is
        added unless another registration of this plugin claims that key."""
        autos: dict[tuple[str, str], int] = {}
        for s in self._staged:
            auto = snake_case(s.name)
            autos[(s.kind, auto)] = autos.get((s.kind, auto), 0) + 1
        out = []
        for s in self._staged:
            auto = snake_case(s.name)
            keys = [s.name, *s.aliases]
            aliases = s.aliases
            if (
                s.kind not in _EXACT_NAMES
                and auto not in (s.name, *s.aliases)
                and (s.kind, auto) not in self._explicit
                and autos[(s.kind, auto)] == 1
            ):
                keys.append(auto)
                aliases = aliases + (auto,)
            entry = Entry(s.kind, s.name, s.obj, aliases, self.plugin, self.version, s.description)
            out.append((entry, keys))
        return out
