"""LSTM: the long short-term memory layer on the fused recurrent kernel."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import activations, initializers
from corelib.builtin.layers.recurrent import RNNBase, _kernel_activation
from corelib.kernels import recurrent as _k

__all__ = ["LSTM"]


class _UnitForgetBias(initializers.Initializer):
    """The bias initializer with unit_forget_bias: ones for the forget gate."""

    def __init__(self, base: Any, units: int) -> None:
        super().__init__()
        self.base, self.units = base, units

    def __call__(self, shape: tuple, dtype: Any) -> np.ndarray:
        u = self.units
        b = np.asarray(self.base((4 * u,), dtype), dtype=dtype)
        b[u:2 * u] = 1
        return b


class LSTM(RNNBase):
    """Long short-term memory layer (Hochreiter 1997), Keras's weights and gate order (i, f, c, o).

    ``i, f, o = recurrent_activation(...)``, ``c~ = activation(...)``,
    ``c_t = f * c_{t-1} + i * c~``, ``h_t = o * activation(c_t)``.

    Args:
        units: size of the state.
        activation: "tanh" (default) or another kernel activation ("relu", ...).
        recurrent_activation: gate activation, "sigmoid" (default) or "hard_sigmoid", ...
        unit_forget_bias: initialize the forget gate's bias to 1 (Keras's default True).
        **others: those of `RNNBase` (use_bias, initializers, regularizers, dropout,
            recurrent_dropout, return_sequences, return_state, go_backwards, name, dtype...).

    Weights: kernel (features, 4*units), recurrent_kernel (units, 4*units), bias (4*units,).

    Input shape:
        (batch_size, timesteps, features); an optional mask (batch_size, timesteps).

    Output shape:
        (batch_size, timesteps, units) with return_sequences, else (batch_size, units);
        with return_state a list [output, final h, final c].
    """

    n_gates = 4
    n_states = 2

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = _kernel_activation("LSTM", self.name, "recurrent_activation",
                                                       recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self) -> Any:
        if self.unit_forget_bias:
            return _UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _run(self, x, mask, rdrop, ws):
        T, B, F = x.shape
        U = self.units
        act, ract = self.activation.name, self.recurrent_activation.name
        kernel, rec, bias = self.kernel, self.recurrent_kernel, self.bias
        gates = ws("gates", (T, B, 4 * U))
        states = ws("states", (T + 1, B, U))
        cells = ws("cells", (T + 1, B, U))
        _k.lstm_forward(x, kernel.value, rec.value, None if bias is None else bias.value, 0.0, 0.0, mask,
                        rdrop, act, ract, gates, states, cells, time_major=True)

        def backward(dS, d_finals, need_dx):
            dx = ws("dx_time_major", (T, B, F)) if need_dx else None
            dc = d_finals[0] if d_finals else None
            _k.lstm_backward(x, kernel.value, rec.value, mask, rdrop, act, ract, gates, states, cells, dS, dc,
                             ws("d_gates", (T, B, 4 * U)), dx, kernel.grad, rec.grad,
                             None if bias is None else bias.grad, None, None, time_major=True)
            return dx

        return states, [cells[T]], backward

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }
