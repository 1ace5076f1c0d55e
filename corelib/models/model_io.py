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
        """Write only the weights, keyed "layer/weight" (atomically): an .npz, or safetensors
        when the name ends in ".safetensors" (docs/interop.md)."""
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str | os.PathLike) -> None:
        """Read weights written by `save_weights` (.npz or .safetensors), a model file, or Keras 3's
        weights file (``w.weights.h5``) into this model, matched by structure."""
        load_weights(self, filepath)

    def export(self, filepath: str | os.PathLike, format: str = "onnx", verbose: bool | None = None,
               input_signature: Any = None, **kwargs: Any) -> None:
        """Write the model for inference in another framework's format, as Keras's ``Model.export``.

        Args:
            filepath: the file to write (atomically: a temporary file renamed into place).
            format: "onnx" (the one format dl writes): an ONNX graph with a dynamic batch
                dimension, float32 weights, checked by ``onnx.checker`` before it is written.
            verbose: print a line saying what was written.
            input_signature: None only: the inputs are the model's own (any batch size).
            **kwargs: for "onnx", ``opset_version`` (17 to 21; default 17).

        Raises:
            ExportError: onnx is missing (``pip install "dl[onnx]"``), or a layer cannot be
                exported (every such layer is named).
            ConfigError: an unknown format or argument.
        """
        if format != "onnx":
            raise ConfigError(f"export(format=...) supports 'onnx'. Received: format={format!r}")
        if input_signature is not None:
            raise ConfigError("export(input_signature=...) is not supported: the ONNX graph takes the model's own "
                              "inputs with any batch size; leave input_signature=None")
        unknown = sorted(set(kwargs) - {"opset_version"})
        if unknown:
            raise ConfigError(f"export(format='onnx') got unexpected arguments {unknown}; it takes opset_version")
        from corelib.saving.onnx_export import export_onnx

        export_onnx(self, filepath, opset_version=kwargs.get("opset_version"), verbose=bool(verbose))

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture (no weights) as JSON; see `models.model_from_json`."""
        return json.dumps(architecture(self), **kwargs)
