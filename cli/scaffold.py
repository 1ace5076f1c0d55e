"""Writing a new plugin package: what `dl plugin new NAME` does.

    from dl_cli.scaffold import write_plugin
    root = write_plugin("dl-foo", "projects")       # projects/dl-foo/...

The package is ready to ``pip install -e`` and passes its own tests as
written: a pyproject with the ``dl`` entry point, one example layer in one
small file, tests that run the dl conformance kit on it, and a README.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from corelib.errors import ConfigError
from dl_cli import _plugin_template as template

__all__ = ["PluginNames", "plugin_names", "write_plugin"]

_DIST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_RESERVED = {"dl", "corelib", "dl_cli"}


@dataclass(frozen=True)
class PluginNames:
    """The names a plugin package uses.

    Attributes:
        distribution: what pip installs and `dl list` shows ("dl-foo").
        package: the import package ("dl_foo").
        entry_point: the name under the ``dl`` entry-point group ("foo").
        layer: the example layer's class ("Foo").
        layer_module: the module holding it ("foo").
    """

    distribution: str
    package: str
    entry_point: str
    layer: str
    layer_module: str


def _camel(words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[-_.]+", words) if w)


def _snake(name: str) -> str:
    from corelib.layers.base import snake_case

    return snake_case(name)


def plugin_names(name: str, layer: str | None = None) -> PluginNames:
    """Check a distribution name (and layer class name) and derive the others.

    Args:
        name: the distribution name, as on PyPI ("dl-foo").
        layer: the example layer's class name; by default the name without a
            leading "dl-", in CamelCase ("Foo").

    Raises:
        ConfigError: the name is not a valid distribution name, its import
            package would be a Python keyword or shadow an importable module,
            or the layer name is not a class name.
    """
    if not isinstance(name, str) or not _DIST.match(name):
        raise ConfigError(
            "dl plugin new: NAME must be a distribution name: letters, digits, '-', '_' and '.', starting and "
            f"ending with a letter or digit. Received: NAME={name!r}"
        )
    distribution = re.sub(r"[-_.]+", "-", name).lower()
    package = distribution.replace("-", "_")
    if not package.isidentifier() or keyword.iskeyword(package) or package[0].isdigit():
        raise ConfigError(f"dl plugin new: NAME={name!r} gives the import package {package!r}, which is not a valid "
                          "Python name; start it with a letter")
    if package in _RESERVED or distribution in _RESERVED or importlib.util.find_spec(package) is not None:
        raise ConfigError(f"dl plugin new: the import package {package!r} of NAME={name!r} is already taken by an "
                          "installed module; choose another NAME (e.g. 'dl-" + distribution.removeprefix("dl-") + "-layers')")
    short = distribution.removeprefix("dl-") or distribution
    if layer is None:
        layer = _camel(short)
        if not layer[:1].isalpha():
            layer = "Example" + layer
    if not layer.isidentifier() or keyword.iskeyword(layer) or not layer[:1].isupper():
        raise ConfigError(f"dl plugin new: --layer must be a class name in CamelCase (e.g. 'Scale'). Received: --layer={layer!r}")
    entry_point = short.replace("-", "_")
    return PluginNames(distribution, package, entry_point, layer, _snake(layer))


def _registered_layer_names() -> set[str]:
    from corelib.registry import get_registry

    keys: set[str] = set()
    for entry in get_registry().entries("layers"):
        keys.update((entry.name, *entry.aliases))
    return keys


def write_plugin(name: str, directory: str | Path = ".", layer: str | None = None) -> Path:
    """Write a new plugin package into ``directory/NAME`` and return that path.

    Args:
        name: the distribution name ("dl-foo").
        directory: where the package's folder goes (the current directory by default).
        layer: the example layer's class name (see `plugin_names`).

    Raises:
        ConfigError: a bad name, a layer name already registered by an
            installed plugin, or a target folder that exists and is not empty.
    """
    root = Path(directory) / name
    if isinstance(name, str) and _DIST.match(name) and root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"dl plugin new: {root} already exists and is not an empty folder")
    names = plugin_names(name, layer)
    if names.layer in _registered_layer_names():
        raise ConfigError(f"dl plugin new: a layer named {names.layer!r} is already registered by an installed plugin; "
                          "pick another class name with --layer")
    import corelib

    values = {
        "distribution": names.distribution,
        "package": names.package,
        "entry_point": names.entry_point,
        "layer": names.layer,
        "layer_module": names.layer_module,
        "dl_version": corelib.__version__,
    }
    files = {
        "pyproject.toml": template.PYPROJECT,
        "README.md": template.README,
        f"{names.package}/__init__.py": template.INIT,
        f"{names.package}/plugin.py": template.PLUGIN,
        f"{names.package}/{names.layer_module}.py": template.LAYER,
        f"tests/test_{names.layer_module}.py": template.TESTS,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
    return root
