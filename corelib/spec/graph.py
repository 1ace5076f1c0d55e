"""Graph models in specs, and the per-output fields of a spec's training section.

A graph spec names its inputs, gives each layer the names of the tensors it
reads, and lists the outputs:

    model:
      inputs: {chemistry: [7], color: [6]}
      layers:
        - Dense: {units: 16, activation: relu}
          name: chem
          inputs: chemistry
        - Dense: {units: 8, activation: relu}
          name: col
          inputs: color
        - Concatenate: {}
          name: merged
          inputs: [chem, col]
        - Dense: {units: 3, activation: softmax}
          name: wine
          inputs: merged
      outputs: [wine]

``- {layer: chem, inputs: other, name: chem_again}`` calls a layer defined
above once more (shared weights). Keras's ``{class_name: Model, config:
{...}}`` (what `Model.get_config` gives) is read too. Names are looked up in
the registry; nothing is evaluated.
"""

from __future__ import annotations

import math

from typing import Any, Callable

import numpy as np

import corelib.spec.fields as F
from corelib.spec.fields import SpecError
from corelib.errors import DLError, one_line

__all__ = ["parse_graph", "build_graph", "per_output", "loss_weights", "column_groups", "split_columns"]

_ITEM_KEYS = ("name", "inputs", "layer")


def _names(value: Any, field: str, source: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise F.fail(source, field, "a tensor name or a non-empty list of names", value)
    return [F.text(v, f"{field}[{i}]", source) for i, v in enumerate(value)]


def parse_graph(value: dict, source: str) -> dict:
    """Validate a graph spec; returns {"name", "inputs", "layers", "outputs"} or {"architecture"}."""
    if "class_name" in value:
        if not isinstance(value.get("config"), dict):
            raise F.fail(source, "model.config", "a mapping (Model.get_config())", value.get("config"))
        return {"architecture": value, "name": value["config"].get("name")}
    F.unknown_keys(source, "model", value, ("name", "inputs", "layers", "outputs"))
    raw_inputs = value.get("inputs")
    if isinstance(raw_inputs, dict) and raw_inputs:
        inputs = []
        for name, shape in raw_inputs.items():
            if not isinstance(shape, list) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
                raise F.fail(source, f"model.inputs.{name}", "a shape: a list of positive ints", shape)
            inputs.append((F.text(name, "model.inputs", source), shape))
    else:
        raise F.fail(source, "model.inputs", "a mapping of input names to shapes, e.g. {pixels: [64]}", raw_inputs)
    items = value.get("layers")
    if not isinstance(items, list) or not items:
        raise F.fail(source, "model.layers", "a non-empty list of layers", items)
    known = {name for name, _ in inputs}
    layers = []
    for i, raw in enumerate(items):
        where = f"model.layers[{i}]"
        if not isinstance(raw, dict):
            raise F.fail(source, where, "a mapping like {Dense: {units: 8}, name: h, inputs: x}", raw)
        extra = {k: v for k, v in raw.items() if k not in _ITEM_KEYS}
        reuse = raw.get("layer")
        if reuse is not None:
            if extra:
                raise F.fail(source, where, "either {layer: NAME} or a new layer, not both", raw)
            reuse = F.text(reuse, f"{where}.layer", source)
            if reuse not in {l["name"] for l in layers if not l["reuse"]}:
                raise SpecError(f"{source}: {where}: layer '{reuse}' is not defined above")
            entry = {"class_name": None, "config": {}}
        else:
            if len(extra) != 1:
                raise F.fail(source, where, "exactly one layer, like {Dense: {units: 8}}", raw)
            entry = F.layer_item(extra, where, source)
        name = F.text(raw.get("name") or (reuse and f"{reuse}_call_{i}") or entry["config"].get("name")
                      or f"layer_{i}", f"{where}.name", source)
        if name in known:
            raise SpecError(f"{source}: {where}: the name '{name}' is already used")
        if "inputs" not in raw:
            raise SpecError(f"{source}: {where} ({name}): missing 'inputs' (the tensors this layer reads)")
        ins = _names(raw["inputs"], f"{where}.inputs", source)
        for t in ins:
            if t not in known:
                raise SpecError(f"{source}: {where} ({name}): input '{t}' is not defined above "
                                f"(known: {', '.join(sorted(known))})")
        known.add(name)
        if reuse is None:
            entry["config"]["name"] = name
        layers.append({**entry, "name": name, "inputs": ins, "reuse": reuse})
    outputs = _names(value.get("outputs"), "model.outputs", source)
    for t in outputs:
        if t not in known:
            raise SpecError(f"{source}: model.outputs: '{t}' is not a layer or input defined in the spec")
    name = F.text(value["name"], "model.name", source) if value.get("name") is not None else None
    return {"name": name, "inputs": inputs, "layers": layers, "outputs": outputs}


def build_graph(graph: dict, source: str, name: str | None) -> Any:
    """The `corelib.models.Model` a parsed graph spec describes."""
    from corelib.layers.input_layer import Input
    from corelib.models import Model
    from corelib.registry import get_registry

    if "architecture" in graph:
        from corelib.models.loading import model_from_config

        try:
            return model_from_config(graph["architecture"])
        except DLError as exc:
            raise SpecError(f"{source}: model: {one_line(exc)}") from exc
    tensors = {n: Input(shape=tuple(shape), name=n) for n, shape in graph["inputs"]}
    made: dict[str, Any] = {}
    registry = get_registry()
    for i, item in enumerate(graph["layers"]):
        where = f"model.layers[{i}] ({item['name']})"
        try:
            if item["reuse"] is not None:
                layer = made[item["reuse"]]
            else:
                cls = registry.get("layers", item["class_name"])
                layer = cls.from_config(dict(item["config"]))
                made[item["name"]] = layer
            x = [tensors[t] for t in item["inputs"]]
            tensors[item["name"]] = layer(x if len(x) > 1 else x[0])
        except (DLError, TypeError, ValueError, OverflowError) as exc:  # a layer's own checks may miss a value
            raise SpecError(f"{source}: {where}: {one_line(exc)}") from exc
    inputs = {n: tensors[n] for n, _ in graph["inputs"]}
    outs = graph["outputs"]
    outputs = tensors[outs[0]] if len(outs) == 1 else {n: tensors[n] for n in outs}
    try:
        return Model(inputs if len(inputs) > 1 else next(iter(inputs.values())), outputs, name=name or graph["name"])
    except DLError as exc:
        raise SpecError(f"{source}: model: {one_line(exc)}") from exc


def per_output(value: Any, field: str, source: str, check: Callable[[Any, str, str], Any]) -> Any:
    """One value, or {output name: value} when the keys are not a component config."""
    if isinstance(value, dict) and value and not ({"name", "class_name"} & set(value)):
        return {F.text(k, field, source): check(v, f"{field}.{k}", source) for k, v in value.items()}
    return check(value, field, source)


def loss_weights(value: Any, field: str, source: str) -> dict | list:
    def number(v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise F.fail(source, where, "a finite, non-negative number", v)
        return float(v)

    if isinstance(value, dict):
        return {F.text(k, field, source): number(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [number(v, f"{field}[{i}]") for i, v in enumerate(value)]
    raise F.fail(source, field, "a list or a mapping of output name to weight", value)


def column_groups(value: Any, field: str, source: str) -> dict:
    """{input name: [start, stop]}: which columns (last axis) of x feed each input."""
    if not isinstance(value, dict) or not value:
        raise F.fail(source, field, "a mapping of input name to [start, stop] columns", value)
    out = {}
    for name, span in value.items():
        if (not isinstance(span, list) or len(span) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                                    for v in span) or not 0 <= span[0] < span[1]):
            raise F.fail(source, f"{field}.{name}", "[start, stop] with 0 <= start < stop", span)
        out[F.text(name, field, source)] = (span[0], span[1])
    return out


def split_columns(x: np.ndarray, groups: dict, input_names: list[str], source: str) -> dict:
    """x's last-axis column groups as {input name: array}."""
    missing = [n for n in input_names if n not in groups]
    if missing:
        raise SpecError(f"{source}: training.inputs has no columns for the model input '{missing[0]}'")
    width = x.shape[-1]
    out = {}
    for name in input_names:
        start, stop = groups[name]
        if stop > width:
            raise SpecError(f"{source}: training.inputs.{name}: columns [{start}, {stop}) but x has {width} columns")
        out[name] = np.ascontiguousarray(x[..., start:stop])
    return out
