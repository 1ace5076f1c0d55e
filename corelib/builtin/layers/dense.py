"""Dense: the fully connected layer, y = activation(x @ kernel + bias)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import activations
from corelib.layers.workspace import Workspaces
from corelib.errors import ShapeError
from corelib.builtin.layers._common import output_activation
from corelib.kernels import dense as _k
from corelib.layers.base import Layer, Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import positive_int

__all__ = ["Dense"]


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
        self.activation, self._act = output_activation(activation)
        self.use_bias = bool(use_bias)
        set_weight_options(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                           kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
        self.kernel = None
        self.bias = None
        self._ws = Workspaces()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ShapeError(
                f"Dense '{self.name}' expects an input of rank >= 2 (batch, ..., features), "
                f"received shape {input_shape}"
            )
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
        in_dim = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)

    def forward(self, x: np.ndarray, training: bool = False):
        kernel, bias, act = self.kernel, self.bias, self._act
        w = kernel.value
        dtype = w.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(-1, shape[-1])
        out_shape = (x2.shape[0], self.units)
        if training:
            slot = self._ws.acquire()
            z = self.buffer(("z", slot), out_shape, dtype)
        else:
            slot = -1
            z = np.empty(out_shape, dtype)
        _k.linear_forward(x2, w, None if bias is None else bias.value, z)
        if act is None:
            y = z
        elif act.needs_input:
            y = self.buffer(("y", slot), out_shape, dtype) if training else np.empty(out_shape, dtype)
            act.forward(z, y)
        else:
            y = act.forward(z, z)  # in place: backward reads only y

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            dy2 = dy if dy.ndim == 2 else dy.reshape(out_shape)
            if act is not None:
                g = self.buffer(("g", slot), out_shape, dtype) if training else np.empty(out_shape, dtype)
                dy2 = act.backward(z, y, dy2, g)
            dx = None
            if need_input_grad:
                dx = self.buffer(("dx", slot), x2.shape, dtype) if training else np.empty(x2.shape, dtype)
            _k.linear_backward(x2, w, dy2, dx, kernel.grad, None if bias is None else bias.grad)
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
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_options_config(self),
        }
