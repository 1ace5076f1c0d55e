"""Sequential: a linear stack of layers, the one-chain case of Model."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layers.base import Layer
from corelib.layers.input_layer import Input, InputLayer, is_input_node
from corelib.layers.symbolic import SymbolicTensor, call_symbolic
from corelib.models.base import BaseModel
from corelib.models.functional import Model
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
        self._input: SymbolicTensor | None = None
        self._own_nodes: list = []
        self._plan = None
        for layer in layers or []:
            self.add(layer)

    # -- building -------------------------------------------------------------------

    def add(self, layer: Any) -> None:
        """Append `layer`, checking that it accepts the previous layer's output."""
        if isinstance(layer, SymbolicTensor) and is_input_node(layer.node):
            if self._stack or self._input is not None:
                raise ConfigError(f"Sequential '{self.name}': an Input can only come first")
            self._input = layer
            return
        if isinstance(layer, InputLayer):
            self.add(Input(batch_shape=layer.batch_input_shape, name=layer.name, dtype=layer.dtype))
            return
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"Sequential.add expects a Layer instance. Received: {layer!r} of type {type(layer).__name__}"
            )
        if any(existing is layer or existing.name == layer.name for existing in self._stack):
            raise ConfigError(f"Sequential '{self.name}' already has a layer named '{layer.name}'")
        if not self._stack:
            if self._input is not None:
                self._check_first(layer, self._input.shape)
            elif layer.batch_input_shape is not None:
                layer.ensure_built(layer.batch_input_shape)
        elif self._stack[-1].built:
            self._connect(self._stack[-1], layer)
        self._stack.append(layer)
        self._make_graph()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise ConfigError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._stack.pop()
        self._make_graph()
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

    def _make_graph(self) -> None:
        """Chain the stack into a graph once every layer knows its input shape."""
        self._plan = None
        if not self._stack or not all(layer.built for layer in self._stack):
            return
        first = self._stack[0]
        if self._input is not None:
            x = self._input
        else:  # integer ids stay exact into a first layer that takes them (Embedding)
            in_shape = first.input_shape[0] if isinstance(first.input_shape, list) else first.input_shape
            x = Input(batch_shape=in_shape, dtype="int64" if first.accepts_integer_input else first.dtype)
        inputs = x
        for node in self._own_nodes:  # the calls of the previous build belong to a discarded graph
            if node in node.layer._inbound_nodes:
                node.layer._inbound_nodes.remove(node)
        self._own_nodes = []
        for layer in self._stack:
            x = call_symbolic(layer, x)
            self._own_nodes.append(x.node)
        self._set_graph(inputs, x)

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
        return self._plan is not None

    @property
    def input_names(self) -> list[str]:
        return [self.inputs[0].node.layer.name] if self._plan is not None else ["input"]

    @input_names.setter
    def input_names(self, value: list[str]) -> None:  # set by Model._set_graph; derived here
        pass

    @property
    def output_names(self) -> list[str]:
        return [self._stack[-1].name] if self._stack else ["output"]

    @output_names.setter
    def output_names(self, value: list[str]) -> None:
        pass

    def _forward(self, xs: list[np.ndarray], training: bool):
        if self._plan is None:
            raise ConfigError(f"Sequential '{self.name}' is not built: give the first layer an input_shape")
        return self._plan.forward(xs, training)

    def _input_shapes(self) -> list[tuple] | None:
        return [self.inputs[0].shape] if self._plan is not None else None

    @property
    def input_shape(self) -> tuple | None:
        return self.inputs[0].shape if self._plan is not None else None

    @property
    def output_shape(self) -> tuple | None:
        return self.outputs[0].shape if self._plan is not None else None

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
