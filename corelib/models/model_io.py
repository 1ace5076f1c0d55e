"""What every model offers for inspection and files: summary, save, weights, JSON."""

from __future__ import annotations

import json
import os
from typing import Any

from corelib.errors import ConfigError
from corelib.models.summary import print_summary
from corelib.saving.model_file import architecture, load_weights, save_model, save_weights

__all__ = ["ModelIO"]


class ModelIO:
    """Mixin of `BaseModel`: the methods that read or write a model's description."""

    def summary(self, line_length: int | None = None, positions: Any = None, print_fn: Any = None,
                expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None) -> None:
        """Print each layer's type, output shape, parameters and providing plugin
        (and, for graphs, the tensors each layer is connected to).

        Args:
            expand_nested: also list the layers of nested models, indented under them.
            show_trainable: add a "Trainable" column (Y / N).
            positions, layer_range: accepted for Keras compatibility; positions is ignored,
                layer_range must be None.
        """
        if layer_range is not None:
            raise ConfigError("summary(layer_range=...) is not supported; use expand_nested or get_layer")
        print_summary(self, line_length=line_length, print_fn=print_fn, expand_nested=expand_nested,
                      show_trainable=show_trainable)

    def save(self, filepath: str | os.PathLike, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write the model (config, weights, optimizer state) to one zip file."""
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: str | os.PathLike, overwrite: bool = True) -> None:
        """Write only the weights, as an .npz keyed "layer/weight" (atomically)."""
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str | os.PathLike) -> None:
        """Read weights written by `save_weights` (or a model file) into this model."""
        load_weights(self, filepath)

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture (no weights) as JSON; see `models.model_from_json`."""
        return json.dumps(architecture(self), **kwargs)
