"""Round trips of a component through a saved model file, with the public API only:
`models.Sequential`, `model.save`, `models.load_model`, `predict`, `evaluate`."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any, Iterator

from corelib.layers.base import Layer

__all__ = ["identity_model", "save_and_load", "recorded_plugins"]


def identity_model(sample_shape: tuple) -> Any:
    """A float64 Sequential whose output is its input (one linear Activation layer),
    so a loss or metric compiled into it sees exactly the y_pred it is given."""
    from corelib import models
    from corelib.builtin.layers.activation import Activation

    return models.Sequential([Activation("linear", input_shape=tuple(sample_shape), dtype="float64",
                                         name="identity")])


def save_and_load(model: Any, custom_objects: dict | None = None, compile: bool = True) -> tuple[Any, dict]:
    """Save `model` to a temporary file, load it back; returns (loaded model, config.json)."""
    from corelib import models
    from corelib.builtin.layers.activation import Activation

    objects = {"Activation": Activation, **(custom_objects or {})}
    with tempfile.TemporaryDirectory(prefix="dl-conformance-") as tmp:
        path = os.path.join(tmp, "model.dl")
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            doc = json.loads(zf.read("config.json").decode("utf-8"))
        loaded = models.load_model(path, custom_objects=objects, compile=compile)
    return loaded, doc


def _dicts(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts(value)


def recorded_plugins(doc: dict, class_name: str) -> list[set]:
    """For each record of `class_name` in a model's config.json, the set of its string values
    (the plugin name and version live there, whatever the keys are called)."""
    return [{v for v in d.values() if isinstance(v, str)} for d in _dicts(doc) if d.get("class_name") == class_name]


def layer_class_name(layer: Layer) -> str:
    """The name a model file records for `layer`: its registered name, else its class name."""
    from corelib.registry import get_registry

    entry = get_registry().provider_of(type(layer), "layers")
    return entry.name if entry is not None else type(layer).__name__
