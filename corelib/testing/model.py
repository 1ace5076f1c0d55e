"""Round trips of a component through a saved model file, with the public API only:
`models.Sequential`, `model.save`, `models.load_model`, `predict`, `evaluate`."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any, Callable, Iterator

from corelib.layers.base import Layer
from corelib.testing.common import Report

__all__ = ["identity_model", "save_and_load", "recorded_plugins", "check_evaluate_round_trip"]


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


def check_evaluate_round_trip(report: Report, sample_shape: tuple, compile: Callable[[Any], Any],
                              evaluate: Callable[[Any], float], expected: float, *, compiled_with: str,
                              gives: str, loaded_gives: str, loaded_atol: float) -> None:
    """The "model round trip" check of a loss or metric: compiled into an `identity_model`,
    `evaluate` gives `expected`, and the same again after `model.save` / `models.load_model`.

    Args:
        report: where failures go.
        sample_shape: the shape of one y_pred sample.
        compile: compiles the model it is given with the component.
        evaluate: the component's value as a model's `evaluate` reports it.
        expected: the component's own value.
        compiled_with: the component in the compile check's name ("the loss").
        gives: what `evaluate` should do, in the check's name ("gives the loss's value").
        loaded_gives: what the loaded model should do ("evaluates to the same loss").
        loaded_atol: the absolute tolerance of the comparison after loading.
    """
    check = "model round trip"

    def compiled() -> Any:
        model = identity_model(sample_shape)
        compile(model)
        return model

    ok, model = report.attempt(f"{check}: compile a model with {compiled_with}", compiled)
    if not ok:
        return
    ok, before = report.attempt(f"{check}: model.evaluate", lambda: evaluate(model))
    if not ok:
        return
    report.close(f"{check}: model.evaluate {gives}", before, expected, 1e-10, 1e-12)
    ok, result = report.attempt(f"{check}: model.save then models.load_model", lambda: save_and_load(model))
    if not ok:
        return
    ok, after = report.attempt(f"{check}: evaluate of the loaded model", lambda: evaluate(result[0]))
    if ok:
        report.close(f"{check}: the loaded model {loaded_gives}", after, before, 1e-12, loaded_atol)


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
