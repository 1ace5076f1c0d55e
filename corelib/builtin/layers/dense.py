"""Dense: the fully connected layer, y = activation(x @ kernel + bias)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.layers.workspace import Workspaces
from corelib.errors import ShapeError
from corelib.builtin.layers._common import (
    activate,
    activation_grad,
    add_kernel_weights,
    check_rank,
    kernel_options_config,
    set_kernel_options,
)
from corelib.builtin.activations import ReLU
from corelib.kernels import dense as _k
from corelib.layers.base import Layer, Shape
from corelib.validation import positive_int

__all__ = ["Dense"]


def _grads_for_write(kernel, bias) -> tuple:
    """(dw, db, accumulate) for `linear_backward`: a step's first backward
    overwrites the zeroed gradients instead of zeroing and adding (see
    `Parameter.grad_for_write`)."""
    dw, add_w = kernel.grad_for_write()
    if bias is None:
        return dw, None, add_w
    db, add_b = bias.grad_for_write()
    if add_w != add_b:  # only one was written before (a shared weight): add into both
        if not add_w:
            dw[...] = 0
        if not add_b:
            db[...] = 0
        return dw, db, True
    return dw, db, add_w


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)`` on the last axis.

    Args:
        units: size of the output's last axis (a positive int).
        activation: name or Activation; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of the (in, units) kernel ("glorot_uniform").
        bias_initializer: initializer of the bias ("zeros").
        kernel_regularizer: penalty on the kernel (e.g. "l2"), or None.
        bias_regularizer: penalty on the bias, or None.
        **kwargs: name, input_shape, input_dim, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, ..., input_dim); rank 2 or more.

    Output shape:
        (batch_size, ..., units).
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", f"Dense '{self.name}'")
        set_kernel_options(self, activation, use_bias, kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                           bias_regularizer=bias_regularizer)
        self._ws = Workspaces()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = check_rank(self, input_shape, 2, "(batch, ..., features)", at_least=True)
        last = input_shape[-1]
        if last is None:
            raise ShapeError(
                f"Dense '{self.name}' expects an input whose last axis is known, received shape {input_shape}"
            )
        if self.kernel is not None:
            expected = self.kernel.value.shape[0]
        elif self.batch_input_shape is not None:
            expected = self.batch_input_shape[-1]
        else:
            expected = None
        if expected is not None and last != expected:
            raise ShapeError(
                f"Dense '{self.name}' expects an input whose last axis is {expected}, received shape {input_shape}"
            )
        return input_shape[:-1] + (self.units,)

    def build(self, input_shape: Shape) -> None:
        add_kernel_weights(self, (int(input_shape[-1]), self.units), self.units)

    def forward(self, x: np.ndarray, training: bool = False):
        kernel, bias, act = self.kernel, self.bias, self._act
        w = kernel.value
        dtype = w.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(-1, shape[-1])
        out_shape = (x2.shape[0], self.units)
        slot = self._ws.acquire() if training else -1
        z = self.buffer(("z", slot), out_shape, dtype) if training else np.empty(out_shape, dtype)
        if type(act) is ReLU:  # bias and ReLU in one pass after the product; y is z, as in place
            y = _k.linear_forward(x2, w, None if bias is None else bias.value, z, relu=True)
        else:
            _k.linear_forward(x2, w, None if bias is None else bias.value, z)
            y = activate(self, act, z, slot)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            dy2 = activation_grad(self, act, z, y, dy if dy.ndim == 2 else dy.reshape(out_shape), slot)
            dx = None
            if need_input_grad:
                dx = self.buffer(("dx", slot), x2.shape, dtype) if training else np.empty(x2.shape, dtype)
            _k.linear_backward(x2, w, dy2, dx, *_grads_for_write(kernel, bias))
            if dx is None or x.ndim == 2:
                return dx
            return dx.reshape(shape)

        if training:
            self._ws.bind(slot, backprop)
        return (y if x.ndim == 2 else y.reshape(shape[:-1] + (self.units,))), backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            **kernel_options_config(self),
        }
