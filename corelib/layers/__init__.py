"""Layers: the layer protocol, symbolic tensors, and the registry view of every layer.

`base` holds `Layer` and `Parameter` (the protocol every layer follows),
`symbolic` the tensors a layer returns when called on `Input`s, `input_layer`
`Input` / `InputLayer`, `workspace` the buffer sets a layer reuses across
training steps, and `weight_options` a layer's initializer and regularizer
arguments, resolved and written back to its config (both public for plugin
authors). Every other name is looked up in the registry, so a plugin's layer
is reached exactly like a built-in one:

    from corelib import layers
    dense = layers.Dense(32, activation="relu")     # any registered layer, built-in or a plugin's
    layers.get("dense")                             # the class, by name or snake_case alias
    layers.deserialize(layers.serialize(dense))     # a new layer with the same config

The lowercase merge helpers of Keras's functional API (`concatenate`, `add`,
`subtract`, `multiply`, `average`, `maximum`, `minimum`, `dot`; in `merging`)
build the merge layer and call it: ``layers.concatenate([a, b], axis=-1)``.
They shadow only the module attribute; ``layers.get("concatenate")`` and
specs still find the Concatenate class by its snake_case name.
"""

from __future__ import annotations

from typing import Any

from corelib.errors import ConfigError
from corelib.layers.base import Layer, Parameter
from corelib.layers.input_layer import Input, InputLayer
from corelib.layers.merging import add, average, concatenate, dot, maximum, minimum, multiply, subtract
from corelib.layers.workspace import Workspaces
from corelib.registry import view as _view

__all__ = ["Input", "InputLayer", "Layer", "Parameter", "Workspaces", "get", "serialize", "deserialize",
           "concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum", "dot"]

KIND = "layers"


def get(identifier: Any) -> Any:
    """A layer class from a registered name; a new layer from a {"class_name", "config"}
    dict; a Layer instance as it is."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, str):
        return _view.lookup(KIND, identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ConfigError(
        "Could not interpret layer identifier: expected a registered name, a "
        f"{{'class_name': ..., 'config': ...}} dict or a Layer. Received: {identifier!r}"
    )


def serialize(layer: Layer) -> dict:
    """{"class_name": registered name, "config": layer.get_config()}."""
    return _view.serialize(KIND, layer)


def deserialize(config: dict) -> Layer:
    """A new layer from `serialize`'s output."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ConfigError(
            f"A layer config needs the keys 'class_name' (str) and 'config' (dict). Received: {config!r}"
        )
    cls = _view.lookup(KIND, config["class_name"])
    return cls.from_config(dict(config.get("config") or {}))


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
