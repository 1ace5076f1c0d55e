"""Sequential: a linear stack of layers."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layer import Layer
from corelib.training import Model, accepts_keyword

__all__ = ["Sequential"]


class Sequential(Model):
    """A model whose layers run one after another.

    Each layer after the first infers its input shape from the layer before;
    a layer that cannot take that shape is refused by `add`, with both
    layers and both shapes named.

    Args:
        layers: layers to `add`, in order.
        name: the model's name.
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        super().__init__(name=name or "sequential")
        self.layers: list[Layer] = []
        self._skips_first_dx: bool | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append `layer`, checking that it accepts the previous layer's output."""
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"Sequential.add expects a Layer instance. Received: {layer!r} of type {type(layer).__name__}"
            )
        if any(existing is layer or existing.name == layer.name for existing in self.layers):
            raise ConfigError(f"Sequential '{self.name}' already has a layer named '{layer.name}'")
        if not self.layers:
            if layer.batch_input_shape is not None:
                layer.ensure_built(layer.batch_input_shape)
        elif self.layers[-1].built:
            self._connect(self.layers[-1], layer)
        self.layers.append(layer)
        self._skips_first_dx = None

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise ConfigError(f"Sequential '{self.name}' has no layers to pop")
        self._skips_first_dx = None
        return self.layers.pop()

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

    def _build_for(self, input_shape: tuple) -> None:
        if not self.layers:
            raise ConfigError(f"Sequential '{self.name}' has no layers")
        first = self.layers[0]
        try:
            first.ensure_built(input_shape)
        except ShapeError as exc:
            raise ShapeError(f"The input of shape {input_shape} does not fit the first layer: {exc}") from None
        for prev, layer in zip(self.layers, self.layers[1:]):
            self._connect(prev, layer)

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Build every layer for `input_shape` (batch axis included), as Keras does."""
        if input_shape is None:
            if not self.layers or self.layers[0].batch_input_shape is None:
                raise ConfigError("Sequential.build needs an input_shape when the first layer has none")
            input_shape = self.layers[0].batch_input_shape
        self._build_for(tuple(input_shape))

    def _forward(self, x: np.ndarray, training: bool):
        layers = self.layers
        if not layers:
            raise ConfigError(f"Sequential '{self.name}' has no layers")
        backprops = []
        for layer in layers:
            x, bp = layer.forward(x, training)
            backprops.append(bp)

        def backprop(dy: np.ndarray) -> None:
            for bp in reversed(backprops[1:]):
                dy = bp(dy)
            if self._skips_first_dx is None:
                self._skips_first_dx = accepts_keyword(backprops[0], "need_input_grad")
            if self._skips_first_dx:
                backprops[0](dy, need_input_grad=False)
            else:
                backprops[0](dy)

        return x, backprop

    def get_config(self) -> dict:
        """{"name", "layers": [{"class_name", "config"}, ...]} (registered names only)."""
        from corelib.saving import serialize_layer

        return {"name": self.name, "layers": [serialize_layer(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        from corelib.saving import deserialize_layer

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ConfigError("A Sequential config needs a 'layers' list")
        return cls([deserialize_layer(item, f"layers[{i}]") for i, item in enumerate(config["layers"])],
                   name=config.get("name"))
