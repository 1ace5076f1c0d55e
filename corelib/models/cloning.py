"""`clone_model`: the same architecture with new layers (fresh weights), as Keras's."""

from __future__ import annotations

from typing import Any, Callable

from corelib.errors import ConfigError
from corelib.layers.base import Layer
from corelib.layers.input_layer import Input, InputLayer, input_tensor, is_input_node
from corelib.layers.symbolic import SymbolicTensor, call_symbolic
from corelib.models.functional import Model
from corelib.models.sequential import Sequential

__all__ = ["clone_model"]


def _default_clone(layer: Layer) -> Layer:
    if isinstance(layer, (Model, Sequential)):
        return clone_model(layer)
    return type(layer).from_config(layer.get_config())


def clone_model(model: Any, input_tensors: Any = None, clone_function: Callable[[Layer], Layer] | None = None) -> Any:
    """A new model of the same architecture whose layers are new (freshly initialised weights).

    Args:
        model: a Sequential or functional Model (a subclassed one is cloned as the graph its
            call() traced, and comes back as a functional Model).
        input_tensors: optional `Input` tensor(s) to build the clone on, in place of new ones.
        clone_function: maps each layer to its clone (default: ``cls.from_config(layer.get_config())``;
            nested models are cloned recursively). Return the layer itself to share it.
    """
    clone = clone_function or _default_clone
    if isinstance(model, Sequential) and type(model) is Sequential:
        layers = [clone(layer) for layer in model.layers]
        if input_tensors is not None:
            return Sequential([_one(input_tensors)] + layers, name=model.name)
        if model._input is not None:
            first = model._input.node.layer
            layers.insert(0, input_tensor(InputLayer.from_config(first.get_config())))
        return Sequential(layers, name=model.name)
    if not isinstance(model, Model) or not model.built:
        raise ConfigError(f"clone_model needs a built Sequential or functional Model, received {model!r}")
    plan = model.plan
    clones: dict[int, Layer] = {}
    tensors: dict[int, SymbolicTensor] = {}
    given = _several(input_tensors) if input_tensors is not None else None
    if given is not None and len(given) != len(plan.inputs):
        raise ConfigError(f"clone_model: model '{model.name}' has {len(plan.inputs)} inputs, "
                          f"input_tensors gives {len(given)}")
    for i, t in enumerate(plan.inputs):
        if given is not None:
            tensors[id(t)] = given[i]
        else:
            layer = t.node.layer
            tensors[id(t)] = Input(batch_shape=layer.batch_input_shape, name=layer.name, dtype=layer.dtype)
    for node in plan.nodes:
        if is_input_node(node):
            continue
        layer = clones.get(id(node.layer))
        if layer is None:
            layer = clones[id(node.layer)] = clone(node.layer)
        args = [tensors[id(t)] for t in node.inputs]
        out = call_symbolic(layer, args if node.multi_input else args[0])
        for t, new in zip(node.outputs, out if isinstance(out, list) else [out]):
            tensors[id(t)] = new

    def pack(keys: list[str] | None, ts: list[SymbolicTensor], single: bool) -> Any:
        mapped = [tensors[id(t)] for t in ts]
        if keys:
            return dict(zip(keys, mapped))
        return mapped[0] if single and len(mapped) == 1 else mapped

    inputs = pack(model._in_keys, plan.inputs, True)
    outputs = pack(model._out_keys, plan.outputs, model._out_single)
    return Model(inputs, outputs, name=model.name)


def _several(value: Any) -> list[SymbolicTensor]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _one(value: Any) -> SymbolicTensor:
    values = _several(value)
    if len(values) != 1:
        raise ConfigError("clone_model: a Sequential takes one input tensor")
    return values[0]
