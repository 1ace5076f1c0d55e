"""The plugin registry: one pluggy PluginManager, entry-point loading, and name lookup.

    from corelib.registry import get_registry
    get_registry().get("layers", "Dense")

`manager` holds the `Registry` (loading order, conflicts, failures),
`loading` the entry-point discovery, `lookup` the name resolution, `entries`
the records it keeps, `view` the per-kind modules' shared lookup
(`corelib.layers.Dense`, `losses.get("mse")`), and `hookspecs` the hooks a
plugin implements.
"""

from corelib.registry.entries import KINDS, Conflict, Entry, PluginFailure, PluginInfo, PluginWarning, normalize_kind
from corelib.registry.hookspecs import hookimpl, hookspec
from corelib.registry.manager import Registry, get_registry, use_registry

__all__ = [
    "KINDS",
    "Conflict",
    "Entry",
    "PluginFailure",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "get_registry",
    "hookimpl",
    "hookspec",
    "normalize_kind",
    "use_registry",
]
