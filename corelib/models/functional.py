"""Model(inputs, outputs): a directed acyclic graph of layers, as in Keras.

    inputs = Input(shape=(13,))
    x = layers.Dense(16, activation="relu")(inputs)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = Model(inputs, outputs)

Inputs and outputs may each be one tensor, a list or a dict (keyed by the
names that fit / predict then use). A layer called twice shares its weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError
from corelib.layers.symbolic import SymbolicTensor
from corelib.layers.base import Layer
from corelib.models.base import BaseModel
from corelib.models.functional_config import rebuild_graph
from corelib.models.plan import Plan
from corelib.saving.serialization import serialize_layer

__all__ = ["Model"]


def _flatten(value: Any, what: str) -> tuple[list[SymbolicTensor], list[str] | None, bool]:
    """(tensors, dict keys or None, whether given as a single tensor)."""
    if isinstance(value, SymbolicTensor):
        return [value], None, True
    if isinstance(value, dict):
        keys = list(value)
        tensors = [value[k] for k in keys]
    elif isinstance(value, (list, tuple)) and value:
        keys, tensors = None, list(value)
    else:
        raise ConfigError(f"Model {what} must be a symbolic tensor (from Input or a layer call), a list or a dict. "
                          f"Received: {value!r}")
    for t in tensors:
        if not isinstance(t, SymbolicTensor):
            raise ConfigError(f"Model {what} must be symbolic tensors; received {type(t).__name__}: {t!r}")
    return tensors, keys, False


class Model(BaseModel):
    """A model built from `Input` tensors and the layer calls leading to `outputs`.

    Args:
        inputs: the `Input` tensor(s): one, a list, or a dict.
        outputs: the output tensor(s): one, a list, or a dict.
        name: the model's name.
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None) -> None:
        super().__init__(name=name or "functional")
        if inputs is None or outputs is None:
            raise ConfigError("Model needs inputs and outputs: Model(inputs=Input(...), outputs=...). "
                              "Subclassing Model with a call() method is not supported; use layers.")
        self._set_graph(inputs, outputs)

    def _set_graph(self, inputs: Any, outputs: Any) -> None:
        ins, in_keys, in_single = _flatten(inputs, "inputs")
        outs, out_keys, out_single = _flatten(outputs, "outputs")
        self._plan = Plan(ins, outs)
        self._graph_layers = self._plan.layers()
        names = [layer.name for layer in self._graph_layers]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ConfigError(f"Model '{self.name}' has two different layers named '{duplicate}'; layer names must be unique")
        self.inputs, self.outputs = ins, outs
        self._in_keys, self._out_keys = in_keys, out_keys
        self._out_single = out_single and not out_keys
        self.input_names = in_keys or [t.node.layer.name for t in ins]
        self.output_names = out_keys or self._output_tensor_names(outs)

    @staticmethod
    def _output_tensor_names(outs: list[SymbolicTensor]) -> list[str]:
        names = [t.name for t in outs]
        if len(set(names)) != len(names):
            names = [f"{n}_{i}" for i, n in enumerate(names)]
        return names

    @property
    def layers(self) -> list[Layer]:
        return self._graph_layers

    def _forward(self, xs: list[np.ndarray], training: bool):
        return self._plan.forward(xs, training)

    def _build_for(self, input_shapes: list[tuple]) -> None:  # a graph is built when it is made
        return None

    def _input_shapes(self) -> list[tuple]:
        return [t.shape for t in self.inputs]

    def _pack_outputs(self, ys: list[np.ndarray]) -> Any:
        if self._out_keys:
            return dict(zip(self._out_keys, ys))
        return ys[0] if self._out_single else list(ys)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if self._out_single else shapes

    # -- config ---------------------------------------------------------------------

    def _call_refs(self) -> dict[int, tuple[str, int]]:
        """Node id -> (layer name, index of this call among the layer's calls)."""
        refs: dict[int, tuple[str, int]] = {}
        counts: dict[str, int] = {}
        for t in self.inputs:
            refs[id(t.node)] = (t.node.layer.name, 0)
        for node in self._plan.nodes:
            name = node.layer.name
            refs[id(node)] = (name, counts.get(name, 0))
            counts[name] = counts.get(name, 0) + 1
        return refs

    @property
    def plan(self) -> Plan | None:
        """The compiled graph: its layer calls (`plan.nodes`) in the order they run; None
        until the model's input shape is known."""
        return self._plan

    def connections(self) -> dict[str, list[list[str]]]:
        """For each layer, the tensors each of its calls reads ("dense[0][0]")."""
        refs = self._call_refs()
        out: dict[str, list[list[str]]] = {layer.name: [] for layer in self.layers}
        for node in self._plan.nodes:
            out[node.layer.name].append(
                [f"{refs[id(t.node)][0]}[{refs[id(t.node)][1]}][{t.index}]" for t in node.inputs])
        return out

    def get_config(self) -> dict:
        """Layers by registered name, each call's inbound tensors, and the inputs and outputs."""
        refs = self._call_refs()

        def ref(t: SymbolicTensor) -> list:
            name, call = refs[id(t.node)]
            return [name, call, t.index]

        calls: dict[str, list] = {layer.name: [] for layer in self.layers}
        for node in self._plan.nodes:
            calls[node.layer.name].append([ref(t) for t in node.inputs])
        return {
            "name": self.name,
            "layers": [{**serialize_layer(layer), "inbound": calls[layer.name]} for layer in self.layers],
            "inputs": [ref(t) for t in self.inputs],
            "outputs": [ref(t) for t in self.outputs],
            "input_keys": self._in_keys,
            "output_keys": self._out_keys,
            "single_output": self._out_single,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        inputs, outputs = rebuild_graph(config, custom_objects)
        return cls(inputs, outputs, name=config.get("name"))
