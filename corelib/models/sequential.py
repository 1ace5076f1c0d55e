"""Sequential: a linear stack of layers, the one-chain case of Model."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, DLError, ShapeError
from corelib.layers.base import Layer
from corelib.layers.input_layer import Input, InputLayer, is_input_node
from corelib.layers.symbolic import Node, SymbolicTensor, call_symbolic
from corelib.models.base import BaseModel
from corelib.models.functional import Model
from corelib.models.plan import Plan
from corelib.saving.serialization import deserialize_layer, serialize_layer

__all__ = ["Sequential"]


class Sequential(Model):
    """A model whose layers run one after another.

    Each layer after the first infers its input shape from the layer before;
    a layer that cannot take that shape is refused by `add`, with both
    layers and both shapes named. Once its input shape is known the stack is
    a graph like any `Model`'s and runs through the same code.

    Args:
        layers: layers to `add`, in order (an `Input(...)` may come first).
        name: the model's name.
    """

    saved_class_name = "Sequential"

    def __init__(self, layers: Sequence[Any] | None = None, name: str | None = None) -> None:
        BaseModel.__init__(self, name=name, default_name="sequential")
        self._stack: list[Layer] = []
        self._names: set[str] = set()  # of the stack's layers and of an Input given first
        self._input: SymbolicTensor | None = None  # an Input given first
        # The chain: its input (the given Input, or one made for the first layer) and the last layer's
        # output, extended by one call per `add`; None until every layer knows its input shape.
        self._head: SymbolicTensor | None = None
        self._tail: Any = None
        self._own_nodes: list[Node] = []
        self._weight_owners: dict[str, Layer] = {}  # weight path -> its layer, over the chain
        self._plan: Plan | None = None  # compiled from the chain on first use (see `plan`)
        self._in_keys = self._out_keys = None
        self._out_single = True
        for layer in layers or []:
            self.add(layer)

    # -- building -------------------------------------------------------------------
    # Adding a layer extends the chain by one call and compiles nothing, so a stack of n layers
    # is built in O(n); the plan is compiled once, when the model first runs or is inspected.

    def add(self, layer: Any) -> None:
        """Append `layer`, checking that it accepts the previous layer's output."""
        if isinstance(layer, SymbolicTensor) and is_input_node(layer.node):
            if self._stack or self._input is not None:
                raise ConfigError(f"Sequential '{self.name}': an Input can only come first")
            self._input = layer
            self._names.add(layer.node.layer.name)
            return
        if isinstance(layer, InputLayer):
            self.add(Input(batch_shape=layer.batch_input_shape, name=layer.name, dtype=layer.dtype))
            return
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"Sequential.add expects a Layer instance. Received: {layer!r} of type {type(layer).__name__}"
            )
        if layer.name in self._names:
            raise ConfigError(f"Sequential '{self.name}' already has a layer named '{layer.name}'")
        if not self._stack:
            if self._input is not None:
                self._check_first(layer, self._input.shape)
            elif layer.batch_input_shape is not None:
                layer.ensure_built(layer.batch_input_shape)
        elif self._stack[-1].built:
            self._connect(self._stack[-1], layer)
        chained = self._tail is not None
        if chained:
            self._check_weights(layer)
        self._stack.append(layer)
        self._names.add(layer.name)
        try:
            if chained:
                self._call(layer)
            elif self._stack[0].built:
                self._make_graph()
        except DLError:  # a layer the chain cannot take (integer ids into Dense) is not added
            self._stack.pop()
            self._names.discard(layer.name)
            raise

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise ConfigError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._stack.pop()
        self._names.discard(layer.name)
        if self._tail is None or len(self._own_nodes) < 2:
            self._make_graph()
            return layer
        node = self._own_nodes.pop()
        if node in layer._inbound_nodes:
            layer._inbound_nodes.remove(node)
        for p in layer.weights:
            if self._weight_owners.get(p.path) is p.layer:
                del self._weight_owners[p.path]
        last = self._own_nodes[-1]
        self._set_tail(list(last.outputs) if last.multi_output else last.outputs[0])
        return layer

    @staticmethod
    def _check_first(layer: Layer, shape: tuple) -> None:
        try:
            layer.ensure_built(shape)
        except ShapeError as exc:
            raise ShapeError(f"The input of shape {shape} does not fit the first layer: {exc}") from None

    @staticmethod
    def _connect(prev: Layer, layer: Layer) -> None:
        shape = prev.output_shape
        if isinstance(shape, list):
            raise ConfigError(
                f"Layer '{layer.name}' ({type(layer).__name__}) cannot follow layer '{prev.name}' "
                f"({type(prev).__name__}) in a Sequential: '{prev.name}' has {len(shape)} outputs {shape}, "
                "and a Sequential passes one tensor from layer to layer (use the functional API)"
            )
        if layer.batch_input_shape is not None and layer.input_shape is None:
            declared = (None,) + tuple(layer.batch_input_shape[1:])
            if declared != (None,) + tuple(shape[1:]):
                raise ShapeError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) declares input_shape "
                    f"{declared[1:]}, but the layer before it, '{prev.name}' ({type(prev).__name__}), "
                    f"outputs shape {shape}"
                )
        try:
            layer.ensure_built(shape)
        except ShapeError as exc:
            raise ShapeError(
                f"Layer '{layer.name}' ({type(layer).__name__}) cannot follow layer '{prev.name}' "
                f"({type(prev).__name__}): '{prev.name}' outputs shape {shape}, but {exc}"
            ) from None

    def _check_weights(self, layer: Layer) -> None:
        """Refuse a layer whose weights' paths the chain's weights already have (a layer inside
        a nested model named as one outside)."""
        for p in layer.weights:
            if self._weight_owners.get(p.path, p.layer) is not p.layer:
                raise ConfigError(
                    f"Model '{self.name}': two different layers named '{p.layer.name}' (one inside a nested "
                    "model) both have weights; give them distinct names")

    def _call(self, layer: Layer) -> None:
        """Extend the chain with one call of `layer` (already built for the tail's shape)."""
        out = call_symbolic(layer, self._tail)
        self._own_nodes.append((out[0] if isinstance(out, list) else out).node)
        self._weight_owners.update((p.path, p.layer) for p in layer.weights)
        self._set_tail(out)

    def _set_tail(self, tail: Any) -> None:
        self._tail = tail
        self._out_single = not isinstance(tail, list)
        self._plan = None

    def _discard_chain(self) -> None:
        for node in self._own_nodes:  # the calls of a discarded chain are no layer's calls any more
            if node in node.layer._inbound_nodes:
                node.layer._inbound_nodes.remove(node)
        self._own_nodes = []
        self._head = self._input
        self._set_tail(None)

    def _make_graph(self) -> None:
        """Chain the whole stack afresh, once every layer knows its input shape."""
        self._discard_chain()
        if not self._stack or not all(layer.built for layer in self._stack):
            return
        first = self._stack[0]
        if self._input is None:  # integer ids stay exact into a first layer that takes them (Embedding)
            in_shape = first.input_shape[0] if isinstance(first.input_shape, list) else first.input_shape
            head = Input(batch_shape=in_shape, dtype="int64" if first.accepts_integer_input else first.dtype)
            if head.node.layer.name in self._names:
                raise ConfigError(f"Model '{self.name}' has two different layers named "
                                  f"'{head.node.layer.name}'; layer names must be unique")
            self._head = head
        self._weight_owners = {}
        self._set_tail(self._head)
        try:
            for layer in self._stack:
                self._check_weights(layer)
                self._call(layer)
        except DLError:
            self._discard_chain()
            raise

    def _build_for(self, input_shapes: list[tuple], dtypes: list[str | None] | None = None) -> None:
        if not self._stack:
            raise ConfigError(f"Sequential '{self.name}' has no layers")
        self._check_first(self._stack[0], input_shapes[0])
        for prev, layer in zip(self._stack, self._stack[1:]):
            self._connect(prev, layer)
        self._make_graph()

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Build every layer for `input_shape` (batch axis included), as Keras does."""
        if input_shape is None:
            if not self._stack or self._stack[0].batch_input_shape is None:
                raise ConfigError("Sequential.build needs an input_shape when the first layer has none")
            input_shape = self._stack[0].batch_input_shape
        self._build_for([tuple(input_shape)])

    # -- what Model reads -------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def built(self) -> bool:
        return self._tail is not None

    @property
    def plan(self) -> Plan | None:
        """The compiled chain (`Model.plan`), compiled here on first use after a change."""
        if self._plan is None and self._tail is not None:
            self._plan = Plan([self._head], self.outputs)
        return self._plan

    @property
    def inputs(self) -> list[SymbolicTensor] | None:
        return [self._head] if self._tail is not None else None

    @property
    def outputs(self) -> list[SymbolicTensor] | None:
        if self._tail is None:
            return None
        return list(self._tail) if isinstance(self._tail, list) else [self._tail]

    @property
    def input_names(self) -> list[str]:
        return [self._head.node.layer.name] if self._tail is not None else ["input"]

    @input_names.setter
    def input_names(self, value: list[str]) -> None:  # derived here
        pass

    @property
    def output_names(self) -> list[str]:
        return [self._stack[-1].name] if self._stack else ["output"]

    @output_names.setter
    def output_names(self, value: list[str]) -> None:
        pass

    def _forward(self, xs: list[np.ndarray], training: bool):
        plan = self.plan
        if plan is None:
            raise ConfigError(f"Sequential '{self.name}' is not built: give the first layer an input_shape")
        return plan.forward(xs, training)

    def _input_shapes(self) -> list[tuple] | None:
        return [self._head.shape] if self._tail is not None else None

    @property
    def input_shape(self) -> tuple | None:
        return self._head.shape if self._tail is not None else None

    @property
    def output_shape(self) -> tuple | None:
        return self.outputs[0].shape if self._tail is not None else None

    # -- config ---------------------------------------------------------------------

    def connections(self) -> None:
        """None: each layer reads the one before, so a summary has no "Connected to" column."""
        return None

    def get_config(self) -> dict:
        """{"name", "layers": [{"class_name", "config", ...}, ...]} (registered names only)."""
        layers = [serialize_layer(layer) for layer in self._stack]
        if self._input is not None:
            layers.insert(0, serialize_layer(self._input.node.layer))
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ConfigError("A Sequential config needs a 'layers' list")
        return cls([deserialize_layer(item, f"layers[{i}]", custom_objects)
                    for i, item in enumerate(config["layers"])], name=config.get("name"))
