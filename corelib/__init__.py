"""dl: a deep-learning framework in the Keras tradition.

    from corelib import models, layers
    model = models.Sequential()
    model.add(layers.Dense(32, activation="relu", input_shape=(784,)))

Submodules load on first use, and plugins load on the first registry lookup:
importing corelib does no plugin work.
"""

from __future__ import annotations

import importlib
from typing import Any

from corelib.config import floatx, set_floatx, set_seed
from corelib.errors import (
    ConfigError,
    DataError,
    DLError,
    ModelFileError,
    PluginConflictError,
    PluginError,
    ShapeError,
    UnknownComponentError,
)
from corelib.layers import Input, Layer, Parameter
from corelib.registry.hookspecs import hookimpl, hookspec
from corelib.version import __version__  # noqa: F401 - re-exported



_SUBMODULES = frozenset(
    {
        "activations",
        "callbacks",
        "config",
        "data",
        "datasets",
        "distribute",
        "initializers",
        "kernels",
        "layers",
        "losses",
        "metrics",
        "models",
        "optimizers",
        "plotting",
        "preprocessing",
        "regularizers",
        "registry",
        "saving",
        "spec",
        "testing",
        "trainers",
        "utils",
    }
)

__all__ = [
    "ConfigError",
    "DataError",
    "DLError",
    "Input",
    "Layer",
    "Model",
    "ModelFileError",
    "Parameter",
    "PluginConflictError",
    "PluginError",
    "Sequential",
    "ShapeError",
    "UnknownComponentError",
    "clone_model",
    "floatx",
    "hookimpl",
    "hookspec",
    "load_model",
    "model_from_json",
    "set_floatx",
    "set_seed",
    *sorted(_SUBMODULES),
]


# Public names whose module moved into a package: corelib.data reads a user's data files.
_ALIASES = {"data": "corelib.spec.files"}

# Keras 3's top-level names for models: keras.Sequential, keras.Model, keras.load_model ...
_MODEL_NAMES = frozenset({"Sequential", "Model", "load_model", "clone_model", "model_from_json"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_ALIASES.get(name, f"corelib.{name}"))
    if name in _MODEL_NAMES:
        return getattr(importlib.import_module("corelib.models"), name)
    raise AttributeError(f"module 'corelib' has no attribute {name!r}")
