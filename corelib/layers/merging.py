"""Keras's functional merge helpers: ``layers.concatenate([a, b])`` builds a Concatenate and calls it.

Each function makes the registered merge layer (looked up in the registry at
call time, as every other name of `corelib.layers` is: the engine never
imports the built-in plugin) and applies it to `inputs`, which are the
symbolic tensors of `corelib.Input` (the result is a symbolic tensor of the
graph) or arrays (the result is an array). The registry's own snake_case
names are untouched: ``"concatenate"`` in a spec or a model file still names
the Concatenate layer.
"""

from __future__ import annotations

from typing import Any, Sequence

from corelib.registry import view as _view

__all__ = ["concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum", "dot"]


def _merge(class_name: str, inputs: Sequence[Any], **kwargs: Any) -> Any:
    return _view.lookup("layers", class_name)(**kwargs)(inputs)


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """`Concatenate(axis=axis, **kwargs)(inputs)`: the inputs joined along `axis`.

    Args:
        inputs: a list of tensors (or arrays) that agree on every axis but `axis`.
        axis: the axis to join along (not the batch axis).
        **kwargs: the layer's other arguments (name, dtype, trainable).
    """
    return _merge("Concatenate", inputs, axis=axis, **kwargs)


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`: the elementwise sum of inputs of one shape."""
    return _merge("Add", inputs, **kwargs)


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`: inputs[0] - inputs[1] (exactly two inputs of one shape)."""
    return _merge("Subtract", inputs, **kwargs)


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`: the elementwise product of inputs of one shape."""
    return _merge("Multiply", inputs, **kwargs)


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`: the elementwise mean of inputs of one shape."""
    return _merge("Average", inputs, **kwargs)


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`: the elementwise maximum of inputs of one shape."""
    return _merge("Maximum", inputs, **kwargs)


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`: the elementwise minimum of inputs of one shape."""
    return _merge("Minimum", inputs, **kwargs)


def dot(inputs: Sequence[Any], axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> Any:
    """`Dot(axes=axes, normalize=normalize, **kwargs)(inputs)`: batched dot products of two inputs.

    Args:
        inputs: two tensors (or arrays).
        axes: one axis for both inputs, or a pair (never the batch axis).
        normalize: L2-normalise each input along its axis first (cosine similarity).
        **kwargs: the layer's other arguments (name, dtype, trainable).
    """
    return _merge("Dot", inputs, axes=axes, normalize=normalize, **kwargs)
