"""Which installed plugins the registry loads: the ``dl`` entry points, the
``DL_LOAD_PLUGINS`` allow-list and the ``DL_STRICT_PLUGINS`` switch.
Private: use `corelib.registry`.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from typing import Iterable, Mapping

from corelib.registry import hookspecs
from corelib.version import __version__

__all__ = ["ENV_LOAD", "ENV_STRICT", "dl_version", "entry_points", "normalize_dist", "allow_list_from_env",
           "strict_from_env", "distribution_of"]

ENV_LOAD = "DL_LOAD_PLUGINS"
ENV_STRICT = "DL_STRICT_PLUGINS"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def normalize_dist(name: str) -> str:
    """A distribution name as packaging compares them: "DL_Foo.bar" -> "dl-foo-bar"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def allow_list_from_env(environ: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """The distributions ``DL_LOAD_PLUGINS`` allows (normalized), or None when it is unset.

    The value is a comma- or space-separated list of distribution names
    ("dl-datasets, dl-transformer"); an empty value allows none.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_LOAD)
    if value is None:
        return None
    return frozenset(normalize_dist(n) for n in re.split(r"[\s,]+", value) if n)


def strict_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``DL_STRICT_PLUGINS`` asks for strict loading ("1", "true", "yes", "on")."""
    from corelib.errors import ConfigError

    environ = os.environ if environ is None else environ
    value = environ.get(ENV_STRICT, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{ENV_STRICT} must be 1 or 0 (or true/false). Received: {ENV_STRICT}={environ[ENV_STRICT]!r}")


def dl_version() -> str:
    """The installed dl distribution's version (corelib.__version__ when not installed)."""
    try:
        return importlib.metadata.version("dl")
    except importlib.metadata.PackageNotFoundError:
        return __version__


def distribution_of(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str]:
    """(distribution name, version) of an entry point; (None, "") when unknown."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, ""
    return dist.name, dist.version or ""


def entry_points(group: str = hookspecs.PROJECT) -> list[importlib.metadata.EntryPoint]:
    """Entry points of the ``dl`` group, once each (a package on sys.path twice is seen once)."""
    seen: set[tuple] = set()
    found = []
    for ep in importlib.metadata.entry_points(group=group):
        key = (distribution_of(ep)[0], ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            found.append(ep)
    return found


def unmatched(allowed: Iterable[str], eps: Iterable[importlib.metadata.EntryPoint]) -> list[str]:
    """Names in the allow-list that no installed ``dl`` plugin distribution has."""
    present = {normalize_dist(distribution_of(ep)[0] or ep.name) for ep in eps}
    return sorted(set(allowed) - present)
