"""LayerContainer: what every model offers about its layers and their weights."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, DataError, ShapeError
from corelib.layers.base import Layer, Parameter

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

        weights = list(weights)
        params = self.weights
        if len(weights) != len(params):
            raise DataError(f"Model '{self.name}' has {len(params)} weight arrays, received {len(weights)}")
        arrays = []
        for i, (p, w) in enumerate(zip(params, weights)):
            where = f"Model '{self.name}': set_weights array {i} (weight '{p.path}')"
            try:
                arr = np.asarray(w)
            except (ValueError, TypeError) as exc:
                raise DataError(f"{where} is not an array: {exc}") from None
            if arr.shape != p.value.shape:
                raise ShapeError(f"{where} must have shape {p.value.shape}, received an array of shape {arr.shape}")
            if arr.dtype.kind not in "biuf" or not np.can_cast(arr.dtype, p.value.dtype, casting="same_kind"):
                raise DataError(f"{where} must be numeric and convertible to {p.value.dtype}, "
                                f"received dtype {arr.dtype}")
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise DataError(f"{where} contains NaN or infinite values")
            arrays.append(arr)
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
