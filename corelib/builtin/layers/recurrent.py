"""SimpleRNN, and the base class the recurrent layers share.

The base class `RNNBase` holds what SimpleRNN, LSTM and GRU have in common:
Keras's arguments, the input and recurrent dropout masks (one per sequence,
the same at every step, as Keras draws them), go_backwards, masking, and
the assembling of outputs (return_sequences, return_state) and of their
gradients. A subclass creates its weights and runs its kernel
(`corelib.kernels.recurrent`) over the whole sequence at once.

Masked (padded) steps keep the previous state and get no gradient; with
return_sequences their outputs are zeros (as PyTorch's packed sequences give).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from corelib import activations, config
from corelib.builtin.layers._common import check_rank
from corelib.layers.workspace import Workspaces
from corelib.errors import ConfigError, ShapeError
from corelib.kernels import recurrent as _k
from corelib.layers.base import Layer, Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import fraction, positive_int

__all__ = ["RNNBase", "SimpleRNN"]


def _kernel_activation(cls: str, name: str, arg: str, value: Any):
    act = activations.get(value if value is not None else "linear")
    if act.name not in _k.ACTIVATION_CODES:
        raise ConfigError(
            f"{cls} '{name}': {arg} must be one of {sorted(_k.ACTIVATION_CODES)} (the recurrent kernels "
            f"fuse them). Received: {arg}={value!r}"
        )
    return act


class RNNBase(Layer):
    """Shared arguments and sequence handling of SimpleRNN, LSTM and GRU.

    Args:
        units: size of the state (a positive int).
        activation: "tanh" (default), "relu", "sigmoid", "hard_sigmoid" or "linear".
        use_bias: whether to add bias vectors.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers
            of the input kernel ("glorot_uniform"), recurrent kernel ("orthogonal")
            and bias ("zeros").
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties or None.
        dropout: fraction of the input features dropped (one mask per sequence).
        recurrent_dropout: fraction of the state dropped in the recurrent product.
        return_sequences: return the state after every step, not only the last.
        return_state: also return the final state(s) (a list of outputs).
        go_backwards: process the sequence in reverse (outputs in processing order).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).
    """

    accepts_mask = True
    n_gates = 1
    n_states = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        where = f"{cls} '{self.name}'"
        self.units = positive_int(units, "units", where)
        self.activation = _kernel_activation(cls, self.name, "activation", activation)
        self.use_bias = bool(use_bias)
        set_weight_options(self, kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                           bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                           recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer)
        self.dropout = fraction(dropout, "dropout", where)
        self.recurrent_dropout = fraction(recurrent_dropout, "recurrent_dropout", where)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        # The output mask is the input's only when the output is the sequence in input order.
        self.supports_masking = self.return_sequences and not self.return_state and not self.go_backwards
        self.kernel = self.recurrent_kernel = self.bias = None
        self._ws = Workspaces()

    # -- shapes and weights ----------------------------------------------------

    def compute_output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        input_shape = check_rank(self, input_shape, 3, "(batch, timesteps, features)")
        cls = type(self).__name__
        if input_shape[-1] is None:
            raise ShapeError(f"{cls} '{self.name}' expects a known features axis, received shape {input_shape}")
        if self.kernel is not None and input_shape[-1] != self.kernel.value.shape[0]:
            raise ShapeError(
                f"{cls} '{self.name}' expects {self.kernel.value.shape[0]} features, received shape {input_shape}"
            )
        out = (input_shape[0], input_shape[1], self.units) if self.return_sequences else (input_shape[0], self.units)
        if self.return_state:
            return [out] + [(input_shape[0], self.units)] * self.n_states
        return out

    def build(self, input_shape: Shape) -> None:
        width = self.n_gates * self.units
        self.kernel = self.add_weight("kernel", (int(input_shape[-1]), width), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer, self.recurrent_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), self.bias_regularizer)

    def _bias_shape(self) -> tuple:
        return (self.n_gates * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    # -- what subclasses run ---------------------------------------------------

    def _run(self, x: np.ndarray, mask: np.ndarray | None, rdrop: np.ndarray | None,
             ws: Callable) -> tuple[np.ndarray, list[np.ndarray], Callable]:
        """Run the kernel over x, time-major (T, B, F), with the mask (T, B) or None.

        Returns the states (T+1, B, U), the other final states ([c] for the
        LSTM), and ``backward(d_states, d_other_finals, need_dx) -> dx``
        with d_states and dx time-major too. `ws(tag, shape)` gives a workspace.
        """
        raise NotImplementedError

    # -- forward and backward --------------------------------------------------

    def _dropout_mask(self, rate: float, shape: tuple, dtype: np.dtype) -> np.ndarray:
        keep = config.rng().random(shape) >= rate
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - rate))

    def forward(self, x: np.ndarray, training: bool = False, mask: Any = None):
        dtype = np.dtype(self.dtype)
        if x.dtype != dtype:
            x = x.astype(dtype)
        B, T, F = x.shape
        U = self.units
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (B, T):
                raise ShapeError(
                    f"{type(self).__name__} '{self.name}' expects a mask of shape {(B, T)}, received {mask.shape}"
                )
        # The kernels run time-major (T, B, .): each step's rows are one block
        # of memory, and products over all steps are single gemms.
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        xmask = rdrop = None
        if training and self.dropout > 0:
            xmask = self._dropout_mask(self.dropout, (B, 1, F), dtype)
        if training and self.recurrent_dropout > 0:
            rdrop = self._dropout_mask(self.recurrent_dropout, (B, U), dtype)
        slot = self._ws.acquire() if training else -1

        def ws(tag: str, shape: tuple) -> np.ndarray:
            return self.buffer((tag, slot), shape, dtype) if training else np.empty(shape, dtype)

        xt = ws("x", (T, B, F))
        if xmask is None:
            np.copyto(xt, x.transpose(1, 0, 2))
        else:
            np.multiply(x.transpose(1, 0, 2), xmask.transpose(1, 0, 2), out=xt)
        S, finals, backward = self._run(xt, None if mask is None else mask.T, rdrop, ws)
        last = S[T].copy()
        if self.return_sequences:
            y = np.ascontiguousarray(S[1:].transpose(1, 0, 2))
            if mask is not None:
                y *= mask[:, :, None]
        else:
            y = last
        outputs = [y, last.copy(), *[f.copy() for f in finals]] if self.return_state else y

        def backprop(dy: Any, need_input_grad: bool = True):
            dys = list(dy) if self.return_state else [dy]
            if self.return_sequences:
                dS = ws("d_states", (T, B, U))
                np.copyto(dS, np.asarray(dys[0]).transpose(1, 0, 2))
                if mask is not None:
                    dS *= mask.T[:, :, None]
                d_last = dS[T - 1]
            else:  # only the last state has a gradient: the kernels take it alone
                dS = d_last = ws("d_last_state", (B, U))
                np.copyto(dS, dys[0])
            d_finals = []
            if self.return_state:
                if dys[1] is not None:
                    d_last += dys[1]
                d_finals = [None if g is None else np.ascontiguousarray(g, dtype=dtype) for g in dys[2:]]
            dxt = backward(dS, d_finals, need_input_grad)
            if dxt is None:
                return None
            dx = ws("dx", (B, T, F))
            if xmask is None:
                np.copyto(dx, dxt.transpose(1, 0, 2))
            else:
                np.multiply(dxt.transpose(1, 0, 2), xmask, out=dx)
            return dx[:, ::-1] if self.go_backwards else dx

        if training:
            self._ws.bind(slot, backprop)
        return outputs, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_options_config(self),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
        }


class SimpleRNN(RNNBase):
    """Fully connected recurrent layer: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args: those of `RNNBase` (units, activation, use_bias, initializers,
        regularizers, dropout, recurrent_dropout, return_sequences,
        return_state, go_backwards).

    Input shape:
        (batch_size, timesteps, features); an optional mask (batch_size, timesteps).

    Output shape:
        (batch_size, timesteps, units) with return_sequences, else (batch_size, units);
        with return_state a list [output, final state (batch_size, units)].
    """

    def _run(self, x, mask, rdrop, ws):
        T, B, F = x.shape
        U = self.units
        act = self.activation.name
        kernel, rec, bias = self.kernel, self.recurrent_kernel, self.bias
        gates = ws("gates", (T, B, U))
        states = ws("states", (T + 1, B, U))
        _k.rnn_forward(x, kernel.value, rec.value, None if bias is None else bias.value, 0.0, mask, rdrop,
                       act, gates, states, time_major=True)

        def backward(dS, d_finals, need_dx):
            dx = ws("dx_time_major", (T, B, F)) if need_dx else None
            _k.rnn_backward(x, kernel.value, rec.value, mask, rdrop, act, states, dS, ws("d_gates", (T, B, U)),
                            dx, kernel.grad, rec.grad, None if bias is None else bias.grad, None, time_major=True)
            return dx

        return states, [], backward
