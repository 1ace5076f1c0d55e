"""LayerContainer: what every model offers about its layers and their weights."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError
from corelib.layers.base import Layer, Parameter
from corelib.layers.parameter import checked_weight_arrays

__all__ = ["LayerContainer"]


class LayerContainer:
    """Weights and layer lookup over `self.layers` (a subclass sets it)."""

    layers: list[Layer]
    name: str

    @property
    def weights(self) -> list[Parameter]:
        """Every weight once (a layer shared with a nested model counts once), in layer order."""
        return _unique(p for layer in self.layers for p in layer.weights)

    @property
    def trainable_weights(self) -> list[Parameter]:
        if not self.trainable:
            return []
        return _unique(p for layer in self.layers for p in layer.trainable_weights)

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        if not self.trainable:
            return self.weights
        trainable = {id(p) for p in self.trainable_weights}
        return [p for p in self.weights if id(p) not in trainable]

    def count_params(self) -> int:
        return int(sum(p.value.size for p in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """Every weight in order, as Keras gives them."""
        return [p.value.copy() for p in self.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace every weight, in `get_weights()` order; all or nothing: every array is
        checked (count, shape, a numeric dtype the weight can take, finite values) before
        any weight is written, so a bad array leaves the model as it was."""
        params = self.weights
        arrays = checked_weight_arrays(f"Model '{self.name}'", params, weights)
        for p, arr in zip(params, arrays):
            p.value[...] = arr

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError(f"No layer named '{name}' in model '{self.name}'. "
                          f"Layers: {', '.join(l.name for l in self.layers)}")


def _unique(params: Any) -> list[Parameter]:
    return list(dict.fromkeys(params))  # Parameters hash by identity
