"""Pieces shared by the built-in layers (private to `corelib.builtin.layers`): the
input-rank check, the identity's backprop, and the output activation, bias and
weight options of the layers with a kernel (Dense, Conv1D, Conv2D, Conv2DTranspose)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import activations
from corelib.activations import Activation
from corelib.errors import ShapeError
from corelib.layers.base import Layer
from corelib.saving.archive import physical_memory
from corelib.validation import MAX_SIZE
from corelib.layers.weight_options import set_weight_options, weight_options_config


def check_rank(layer: Layer, input_shape: Any, rank: int, layout: str, *, at_least: bool = False) -> tuple:
    """The input shape as a tuple, or ShapeError when it does not have `rank` axes.

    Args:
        layer: the layer checking its input, named in the message.
        input_shape: the full input shape (batch axis first).
        rank: the number of axes expected.
        layout: the axes in words, for the message: "(batch, timesteps, features)".
        at_least: accept more than `rank` axes too ("rank >= 2").
    """
    input_shape = tuple(input_shape)
    n = len(input_shape)
    if n < rank or (n > rank and not at_least):
        raise ShapeError(
            f"{type(layer).__name__} '{layer.name}' expects an input of rank {'>= ' if at_least else ''}{rank} "
            f"{layout}, received shape {input_shape}"
        )
    return input_shape


def check_output_size(layer: Layer, output_shape: Any) -> tuple:
    """The output shape as a tuple, or ShapeError when one sample of it holds more than `MAX_SIZE`
    values or more bytes than this machine's memory: a layer whose arguments enlarge its input
    (RepeatVector's n, RandomCrop's height) could never compute it."""
    output_shape = tuple(output_shape)
    values = 1
    for d in output_shape[1:]:
        values *= 1 if d is None else int(d)
    nbytes = values * np.dtype(layer.dtype).itemsize
    if values > MAX_SIZE or nbytes > physical_memory():
        raise ShapeError(
            f"{type(layer).__name__} '{layer.name}': its output {output_shape} holds {values} values "
            f"({nbytes} bytes) per sample, more than {MAX_SIZE} values or this machine's memory"
        )
    return output_shape


def identity_backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
    """The backprop of a layer that returns its input unchanged (Dropout at inference)."""
    return dy if need_input_grad else None


def output_activation(identifier: Any) -> tuple[Activation, Activation | None]:
    """The activation a layer applies to its output, and the one its forward calls.

    None means "linear", as in Keras. Linear needs no work at all, so the
    second is None for it and forward skips the calls.
    """
    activation = activations.get(identifier if identifier is not None else "linear")
    return activation, (None if activation.name == "linear" else activation)


def set_kernel_options(layer: Layer, activation: Any, use_bias: Any, **weight_options: Any) -> None:
    """Set the arguments Dense and Conv share on `layer`.

    `activation` and `_act` (see `output_activation`), `use_bias`, and the
    kernel's and bias's initializers and regularizers (see
    `set_weight_options`); `kernel` and `bias` are None until `build`.
    """
    layer.activation, layer._act = output_activation(activation)
    layer.use_bias = bool(use_bias)
    set_weight_options(layer, **weight_options)
    layer.kernel = None
    layer.bias = None


def add_kernel_weights(layer: Layer, kernel_shape: tuple, units: int) -> None:
    """In `build`: the `kernel` of `kernel_shape` and, with `use_bias`, the (units,) `bias`,
    from the options `set_kernel_options` set."""
    layer.kernel = layer.add_weight("kernel", kernel_shape, layer.kernel_initializer, layer.kernel_regularizer)
    if layer.use_bias:
        layer.bias = layer.add_weight("bias", (units,), layer.bias_initializer, layer.bias_regularizer)


def kernel_options_config(layer: Layer) -> dict:
    """The config of what `set_kernel_options` set, in Keras's order."""
    return {
        "activation": activations.serialize(layer.activation),
        "use_bias": layer.use_bias,
        **weight_options_config(layer),
    }


def _workspace(layer: Layer, tag: str, slot: int, shape: tuple, dtype: Any) -> np.ndarray:
    # slot -1 is inference, where the caller may keep the array: a fresh one
    return layer.buffer((tag, slot), shape, dtype) if slot >= 0 else np.empty(shape, dtype)


def activate(layer: Layer, act: Activation | None, z: np.ndarray, slot: int) -> np.ndarray:
    """The output activation `act` (the second of `output_activation`) of the pre-activation `z`.

    Linear (None) is z itself. An activation whose backward reads only its
    output overwrites z; one that reads its input too writes into the
    workspace "y" of `slot` (-1: a fresh array).
    """
    if act is None:
        return z
    if not act.needs_input:
        return act.forward(z, z)  # in place: backward reads only y
    y = _workspace(layer, "y", slot, z.shape, z.dtype)
    act.forward(z, y)
    return y


def activation_grad(layer: Layer, act: Activation | None, z: np.ndarray, y: np.ndarray, dy: np.ndarray,
                    slot: int) -> np.ndarray:
    """The gradient at `z` from the gradient `dy` at y = `activate(layer, act, z, slot)`.

    Linear (None) is dy itself; otherwise it is written into the workspace
    "g" of `slot` (-1: a fresh array).
    """
    if act is None:
        return dy
    return act.backward(z, y, dy, _workspace(layer, "g", slot, z.shape, z.dtype))
