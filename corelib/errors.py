"""The DLError family: every error dl raises for a user's mistake.

Each derives from the built-in exception a Python user would catch
(`ValueError`, `TypeError`, `KeyError`), so ``except ValueError`` keeps
working, and from `DLError`, so ``except DLError`` catches them all.
Messages say what is wrong, where, what was expected and what was received.
"""

from __future__ import annotations

from typing import Iterator

__all__ = [
    "DLError",
    "ShapeError",
    "ConfigError",
    "DataError",
    "UnknownComponentError",
    "PluginError",
    "PluginConflictError",
    "ModelFileError",
    "ExportError",
    "one_line",
    "exception_line",
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


class ExportError(ConfigError):
    """A model cannot be exported to another format (ONNX): a layer without an exporter,
    an option the format cannot express, or the format's library missing."""


def one_line(message: object) -> str:
    """An exception's (or any text's) message folded onto one line, for an error that wraps it."""
    return " ".join(str(message).split())


def exception_line(exc: BaseException) -> str:
    """'zlib.error: Error -3 while decompressing data...': a library's exception, named with its
    module unless it is a builtin, on one line, for the message of the error that wraps it."""
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"{name}: {one_line(exc)}"


def short_repr(value: object, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters, for an error message that shows a received value.

    Lists, tuples, dicts and sets are rendered piece by piece and the rendering
    stops once `limit` characters are out, so the work is bounded by `limit`,
    not by the value: a billion-element structure built from shared parts (a
    YAML alias bomb), a self-referencing list or a 10**5000 int cost no more
    than a short list. Up to the cut, the text is `repr(value)`'s.
    """
    text = ""
    for piece in _pieces(value, set(), limit):
        text += piece
        if len(text) > limit:
            return text[:limit - 3] + "..."
    return text


_MAX_DEPTH = 100  # containers nested deeper show as "...": rendering never nears the recursion limit
_MAX_LEAF = 1000  # characters of a leaf's own repr kept before cutting (a huge string, a custom repr)


def _pieces(value: object, active: set[int], limit: int) -> Iterator[str]:
    """repr(value) in pieces, lazily: a container yields its opening bracket before its items."""
    kind = type(value)
    if kind in (list, tuple, dict, set, frozenset) and len(active) >= min(limit, _MAX_DEPTH):
        yield "..."
        return
    if kind in (list, tuple, dict, set, frozenset):
        if id(value) in active:  # a container inside itself, as repr shows it
            yield "[...]" if kind is list else "{...}"
            return
        if kind in (set, frozenset) and not value:
            yield f"{kind.__name__}()"
            return
        opening, closing = {list: "[]", tuple: "()", dict: "{}", set: "{}", frozenset: "{}"}[kind]
        yield (f"{kind.__name__}(" if kind is frozenset else "") + opening
        active.add(id(value))
        for i, item in enumerate(value.items() if kind is dict else value):
            if i:
                yield ", "
            if kind is dict:
                yield from _pieces(item[0], active, limit)
                yield ": "
                item = item[1]
            yield from _pieces(item, active, limit)
        active.discard(id(value))
        yield ("," if kind is tuple and len(value) == 1 else "") + closing + (")" if kind is frozenset else "")
        return
    if kind is int and value.bit_length() > 3000:  # beyond ~900 digits; repr raises past 4300
        yield f"<an int of about {int(value.bit_length() * 0.30103) + 1} digits>"
        return
    try:
        text = repr(value[:_MAX_LEAF + 1] if kind is str else value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not hide the error being reported
        text = f"<{kind.__name__} object (repr failed: {type(exc).__name__})>"
    yield text if len(text) <= _MAX_LEAF else text[:_MAX_LEAF] + "..."
