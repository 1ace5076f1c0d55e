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
from corelib.registry.entries import snake_case
from corelib.saving.serialization import serialize_layer
from corelib.models.subclassed import check_subclass, trace, tracked_layers

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

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any) -> None:
        subclassed = callable(getattr(type(self), "call", None))
        super().__init__(name=name, default_name=snake_case(type(self).__name__) if subclassed else "functional")
        if kwargs.pop("trainable", True) is False:
            self._trainable = False
        kwargs.pop("dtype", None)
        if kwargs:
            raise ConfigError(f"Model got unexpected keyword arguments {sorted(kwargs)}")
        if subclassed and inputs is None and outputs is None:
            check_subclass(type(self))
            self._plan = None
            self._graph_layers = []
            self.inputs = self.outputs = None
            self._in_keys = self._out_keys = None
            self._out_single = True
            self.input_names, self.output_names = ["input"], ["output"]
            return
        if inputs is None or outputs is None:
            raise ConfigError("Model needs inputs and outputs: Model(inputs=Input(...), outputs=...), "
                              "or a subclass that defines call()")
        self._set_graph(inputs, outputs)

    def _set_graph(self, inputs: Any, outputs: Any) -> None:
        ins, in_keys, in_single = _flatten(inputs, "inputs")
        outs, out_keys, out_single = _flatten(outputs, "outputs")
        self._plan = Plan(ins, outs)
        self._graph_layers = self._plan.layers()
        seen: set[str] = set()
        for layer in self._graph_layers:
            if layer.name in seen:
                raise ConfigError(f"Model '{self.name}' has two different layers named '{layer.name}'; "
                                  "layer names must be unique")
            seen.add(layer.name)
        owners: dict[str, Any] = {}
        for layer in self._graph_layers:
            for p in layer.weights:
                if owners.setdefault(p.path, p.layer) is not p.layer:
                    raise ConfigError(
                        f"Model '{self.name}': two different layers named '{p.layer.name}' (one inside a nested "
                        "model) both have weights; give them distinct names")
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
        if self._plan is None:  # a subclass not traced yet: the layers it holds
            return tracked_layers(self)
        return self._graph_layers

    @property
    def built(self) -> bool:
        return self._plan is not None

    def _forward(self, xs: list[np.ndarray], training: bool):
        if self._plan is None:
            raise ConfigError(f"Model '{self.name}' is not built: call build(input_shape), fit or predict first")
        return self._plan.forward(xs, training)

    def _build_for(self, input_shapes: list[tuple], dtypes: list[str | None] | None = None) -> None:
        """A graph is built when it is made; a subclass's call() is traced for these shapes."""
        if self._plan is None:
            trace(self, input_shapes, dtypes)

    def build(self, input_shape: Any = None) -> None:
        """Trace a subclass's call() for `input_shape` (batch axis included; a list for several
        inputs), as Keras's `build`. A functional model is built already."""
        if self._plan is not None:
            return
        if input_shape is None:
            raise ConfigError(f"Model '{self.name}'.build needs an input_shape, e.g. build((None, 784))")
        several = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple))
        shapes = [tuple(s) for s in input_shape] if several else [tuple(input_shape)]
        self._build_for(shapes)

    def _input_shapes(self) -> list[tuple] | None:
        return [t.shape for t in self.inputs] if self._plan is not None else None

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
        modes: dict[str, list] = {layer.name: [] for layer in self.layers}
        for node in self._plan.nodes:
            calls[node.layer.name].append([ref(t) for t in node.inputs])
            modes[node.layer.name].append(node.training)

        def entry(layer: Layer) -> dict:
            item = {**serialize_layer(layer), "inbound": calls[layer.name]}
            if any(m is not None for m in modes[layer.name]):  # calls made with training=True/False
                item["call_training"] = modes[layer.name]
            return item

        return {
            "name": self.name,
            "layers": [entry(layer) for layer in self.layers],
            "inputs": [ref(t) for t in self.inputs],
            "outputs": [ref(t) for t in self.outputs],
            "input_keys": self._in_keys,
            "output_keys": self._out_keys,
            "single_output": self._out_single,
            **self._names_config(),
        }

    def _names_config(self) -> dict:
        """The input and output names when they are not the graph's own (a subclassed model's)."""
        if self._in_keys or self._out_keys or self.output_names == self._output_tensor_names(self.outputs):
            return {}
        return {"input_names": list(self.input_names), "output_names": list(self.output_names)}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        inputs, outputs = rebuild_graph(config, custom_objects)
        model = Model(inputs, outputs, name=config.get("name"))
        for key in ("input_names", "output_names"):
            names = config.get(key)
            if names is not None:
                current = getattr(model, key)
                if (not isinstance(names, list) or len(names) != len(current)
                        or not all(isinstance(n, str) and n for n in names)):
                    raise ConfigError(f"A Model config's '{key}' must be {len(current)} names")
                setattr(model, key, names)
        return model
