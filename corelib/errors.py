"""The DLError family: every error dl raises for a user's mistake.

Each derives from the built-in exception a Python user would catch
(`ValueError`, `TypeError`, `KeyError`), so ``except ValueError`` keeps
working, and from `DLError`, so ``except DLError`` catches them all.
Messages say what is wrong, where, what was expected and what was received.
"""

from __future__ import annotations

__all__ = [
    "DLError",
    "ShapeError",
    "ConfigError",
    "DataError",
    "UnknownComponentError",
    "PluginError",
    "PluginConflictError",
    "ModelFileError",
    "one_line",
    "short_repr",
]


class DLError(Exception):
    """Base class of every error dl raises on purpose."""


class ShapeError(DLError, ValueError):
    """A tensor's shape does not fit the layer, loss or model it meets."""


class ConfigError(DLError, ValueError):
    """An argument, config dict or spec field has a bad value."""


class DataError(DLError, ValueError):
    """Input data or targets are malformed (sample counts, dtypes, NaN...)."""


class UnknownComponentError(DLError, KeyError, AttributeError):
    """A name that no installed plugin registered.

    Also an AttributeError, so ``corelib.layers.Nope``, ``hasattr`` and
    ``from corelib.layers import Nope`` behave as for any module.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(DLError, RuntimeError):
    """A plugin failed to load or broke the plugin contract."""


class PluginConflictError(PluginError):
    """Two plugins registered the same component name."""


class ModelFileError(DLError, ValueError):
    """A model file is missing, corrupt, unsafe or from an unknown format."""


def one_line(message: object) -> str:
    """An exception's (or any text's) message folded onto one line, for an error that wraps it."""
    return " ".join(str(message).split())


def short_repr(value: object, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters, for an error message that shows a received value."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
