"""A layer's initializer and regularizer arguments: resolved in the constructor, written back by `get_config`.

Keras names them after the weight they set up: ``kernel_initializer``,
``bias_regularizer``, ``embeddings_initializer``. A layer hands them to
`set_weight_options`, which resolves each through its registry view and keeps
the list; `weight_options_config` serializes that same list, so the config
always holds what the constructor took:

    set_weight_options(self, kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer)
    ...
    def get_config(self):
        return {**super().get_config(), "units": self.units, **weight_options_config(self)}
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from corelib import initializers, regularizers
from corelib.errors import ConfigError
from corelib.layers.base import Layer

__all__ = ["set_weight_options", "weight_options_config"]


def set_weight_options(layer: Layer, **options: Any) -> None:
    """Set each option on `layer`, under its own name, as `corelib.initializers.get` or
    `corelib.regularizers.get` resolves it (a name, a {"class_name", "config"} dict or an instance).

    Args:
        layer: the layer being constructed.
        **options: the arguments as received; each name ends in "initializer" or "regularizer".
    """
    for option, identifier in options.items():
        setattr(layer, option, _view(option).get(identifier))
    known = getattr(layer, "_weight_options", ())
    layer._weight_options = known + tuple(option for option in options if option not in known)


def weight_options_config(layer: Layer) -> dict:
    """{option: its serialized value} for every option `set_weight_options` set, in the order set."""
    return {option: _view(option).serialize(getattr(layer, option)) for option in getattr(layer, "_weight_options", ())}


def _view(option: str) -> ModuleType:
    if option.endswith("initializer"):
        return initializers
    if option.endswith("regularizer"):
        return regularizers
    raise ConfigError(f"set_weight_options: {option!r} is not a weight option; its name must end in "
                      f"'initializer' or 'regularizer'")
