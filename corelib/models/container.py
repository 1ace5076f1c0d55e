"""LayerContainer: what every model offers about its layers and their weights."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from corelib.errors import ConfigError, DataError
from corelib.layers.base import Layer, Parameter

__all__ = ["LayerContainer"]


class LayerContainer:
    """Weights and layer lookup over `self.layers` (a subclass sets it)."""

    layers: list[Layer]
    name: str

    @property
    def weights(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.weights]

    @property
    def trainable_weights(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.non_trainable_weights]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        """Every layer's weights in order, as Keras gives them."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise DataError(f"Model '{self.name}' has {expected} weight arrays, received {len(weights)}")
        start = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(weights[start:start + n])
            start += n

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError(f"No layer named '{name}' in model '{self.name}'. "
                          f"Layers: {', '.join(l.name for l in self.layers)}")
