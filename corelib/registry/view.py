"""Shared plumbing of the registry views (corelib.layers, corelib.losses, ...).

Each view module is a thin face over one kind of the registry: `get`,
`serialize`, `deserialize` and a module `__getattr__` that looks names up.
The registry loads its plugins on the first lookup, so importing a view does no plugin work.
"""

from __future__ import annotations

import inspect
from typing import Any

from corelib.errors import ConfigError
from corelib.registry.manager import get_registry

__all__ = ["lookup", "entry", "entries", "names", "module_getattr", "resolve", "serialize", "registered_name"]


def _registry() -> Any:
    return get_registry()


def lookup(kind: str, name: str) -> Any:
    """The object registered under `name` in `kind` (UnknownComponentError if none)."""
    return _registry().get(kind, name)


def entry(kind: str, name: str) -> Any:
    """The registry's record of `name` in `kind`: the object, its plugin, version and description."""
    return _registry().entry(kind, name)


def entries(kind: str) -> list:
    """Every record of `kind`, in registration order."""
    return list(_registry().entries(kind))


def names(kind: str) -> list[str]:
    """The names registered in `kind`, sorted."""
    return _registry().names(kind)


def module_getattr(kind: str, module: str, name: str) -> Any:
    """Module-level ``__getattr__``: ``corelib.layers.Dense`` -> the registered Dense."""
    if name.startswith("__"):  # probes by import machinery, pickle, inspect, pytest
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return lookup(kind, name)  # UnknownComponentError is also an AttributeError


def registered_name(kind: str, obj: Any) -> str:
    """The name `obj` (an instance or a registered class/object) is registered under."""
    entry = _registry().provider_of(obj, kind)
    if entry is not None:
        return entry.name
    name = getattr(obj, "name", None) if not inspect.isclass(obj) else None
    if kind == "activations" and isinstance(name, str):
        return name
    return type(obj).__name__ if not inspect.isclass(obj) else obj.__name__


def _instantiate(kind: str, obj: Any, config: dict | None, what: str) -> Any:
    if inspect.isclass(obj):
        if config is None:
            return obj()
        from_config = getattr(obj, "from_config", None)
        return from_config(config) if from_config is not None else obj(**config)
    if config is None:
        return obj
    from_config = getattr(type(obj), "from_config", None)
    if from_config is None:
        raise ConfigError(f"{what} {obj!r} takes no config. Received: config={config!r}")
    return from_config(config)


def resolve(kind: str, identifier: Any, base: type, what: str) -> Any:
    """Turn a name, a {"class_name", "config"} dict or an instance into an instance.

    Args:
        kind: registry kind ("losses", ...).
        identifier: the user's identifier.
        base: the view's base class; instances of it are returned as they are.
        what: the word used in error messages ("loss", "optimizer", ...).
    """
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        return _instantiate(kind, lookup(kind, identifier), None, what)
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ConfigError(
                f"Could not interpret {what} identifier: a dict needs the keys 'class_name' and "
                f"'config'. Received: {identifier!r}"
            )
        config = identifier.get("config") or {}
        if not isinstance(config, dict):
            raise ConfigError(
                f"Could not interpret {what} identifier: 'config' must be a dict. Received: {identifier!r}"
            )
        return _instantiate(kind, lookup(kind, identifier["class_name"]), dict(config), what)
    if inspect.isclass(identifier) and issubclass(identifier, base):
        return identifier()
    raise ConfigError(
        f"Could not interpret {what} identifier: expected a registered name, a "
        f"{{'class_name': ..., 'config': ...}} dict or a {base.__name__} instance. Received: {identifier!r}"
    )


def serialize(kind: str, obj: Any) -> dict:
    """{"class_name": registered name, "config": obj.get_config()} (JSON-safe)."""
    get_config = getattr(obj, "get_config", None)
    config = get_config() if get_config is not None else {}
    return {"class_name": registered_name(kind, obj), "config": config}
