"""Layers to and from the JSON a model file stores: the registered name, the providing plugin, the config.

Reading looks names up in the registry (or in `custom_objects`) only: it
never imports a module named in a file and never runs code from it.
"""

from __future__ import annotations

from typing import Any

from corelib.errors import ConfigError, DLError, PluginConflictError, UnknownComponentError, one_line, short_repr
from corelib.layers.base import Layer
from corelib.registry import get_registry

__all__ = ["MODEL_CLASSES", "provider", "serialize_layer", "deserialize_layer"]

_LAYER_KEYS = {"class_name", "config", "plugin", "plugin_version", "inbound", "call_training"}


def provider(obj: Any) -> tuple[str, str | None, str | None]:
    """(registered name, plugin, plugin version) of a component or its class; (class name, None, None)
    for one no plugin registered."""
    entry = get_registry().provider_of(obj)
    if entry is None:
        return type(obj).__name__ if not isinstance(obj, type) else obj.__name__, None, None
    return entry.name, entry.plugin, entry.version


# The model classes a layer entry may name ("Sequential", "Model", "Functional"): a model can be a
# layer of another. corelib.models fills this in (it sits above this package in the import order).
MODEL_CLASSES: dict[str, type] = {}
MAX_MODEL_NESTING = 32  # a config nesting models deeper is refused, not a RecursionError
_NESTING: list[str] = []


def serialize_layer(layer: Layer) -> dict:
    """{"class_name", "config", "plugin", "plugin_version"} for one layer (a nested model too)."""
    name, plugin, version = provider(type(layer))
    saved_as = getattr(layer, "saved_class_name", None)
    if plugin is None and saved_as in MODEL_CLASSES:  # a model that no plugin registered: by its kind
        name = saved_as
    return {"class_name": name, "plugin": plugin, "plugin_version": version, "config": layer.get_config()}


def deserialize_layer(item: Any, where: str, custom_objects: dict | None = None) -> Layer:
    """A layer from `serialize_layer`'s dict, looked up in the registry (or custom_objects)."""
    if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
        raise ConfigError(f"{where}: expected {{'class_name': str, 'config': dict}}, got {short_repr(item)}")
    unknown = sorted(set(item) - _LAYER_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unexpected key {unknown[0]!r} in a layer entry "
                          "(dl never imports modules or calls functions named in a file)")
    name = item["class_name"]
    cfg = item.get("config", {})
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: 'config' of {name} must be a mapping, got {short_repr(cfg)}")
    if custom_objects and name in custom_objects:
        cls = custom_objects[name]
    elif name in MODEL_CLASSES:
        if len(_NESTING) >= MAX_MODEL_NESTING:
            raise ConfigError(f"{where}: models nested more than {MAX_MODEL_NESTING} deep")
        _NESTING.append(name)
        try:
            return MODEL_CLASSES[name].from_config(dict(cfg), custom_objects)
        except DLError as exc:
            inner = one_line(exc)
            # an inner model's error already names its layer: join the paths (layers[0].layers[2]: ...)
            raise ConfigError(f"{where}.{inner}" if inner.startswith("layers[") else f"{where} ({name}): {inner}"
                              ) from None
        finally:
            _NESTING.pop()
    else:
        try:
            try:
                cls = get_registry().get("layers", name)
            except PluginConflictError:
                # Two plugins claim the name: the file says which one it was saved with.
                plugin = item.get("plugin")
                if not isinstance(plugin, str) or not plugin:
                    raise
                cls = get_registry().get("layers", f"{plugin}:{name}")
        except UnknownComponentError:
            plugin = item.get("plugin")
            need = f" from plugin '{plugin}' {item.get('plugin_version') or ''}".rstrip() if plugin else ""
            raise UnknownComponentError(
                f"{where}: layer '{name}'{need} is not installed; install the plugin that provides it "
                f"or pass custom_objects={{'{name}': ...}}"
            ) from None
    try:
        return cls.from_config(dict(cfg))
    except DLError as exc:
        raise ConfigError(f"{where} ({name}): {exc}") from None
    except (TypeError, ValueError, OverflowError, MemoryError) as exc:
        raise ConfigError(f"{where} ({name}): bad config: {type(exc).__name__}: {one_line(exc)}") from None

