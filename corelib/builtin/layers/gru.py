"""GRU: the gated recurrent unit layer on the fused recurrent kernel."""

from __future__ import annotations

from typing import Any

from corelib import activations
from corelib.builtin.layers.recurrent import RNNBase, _kernel_activation
from corelib.kernels import recurrent as _k

__all__ = ["GRU"]


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014), Keras's weights and gate order (z, r, h).

    ``z, r = recurrent_activation(...)``; with reset_after (the default, as
    Keras 3, cuDNN and PyTorch compute it) ``h~ = activation(x W_h + b_h +
    r * (h_{t-1} R_h + b'_h))``, otherwise ``h~ = activation(x W_h + (r * h_{t-1}) R_h + b_h)``;
    ``h_t = z * h_{t-1} + (1 - z) * h~``.

    Args:
        units: size of the state.
        activation: "tanh" (default) or another kernel activation.
        recurrent_activation: gate activation, "sigmoid" (default) or "hard_sigmoid", ...
        reset_after: where the reset gate applies (see above); the bias is then
            (2, 3*units): input bias and recurrent bias.
        **others: those of `RNNBase`.

    Weights: kernel (features, 3*units), recurrent_kernel (units, 3*units),
    bias (2, 3*units) with reset_after, else (3*units,).

    Input shape:
        (batch_size, timesteps, features); an optional mask (batch_size, timesteps).

    Output shape:
        (batch_size, timesteps, units) with return_sequences, else (batch_size, units);
        with return_state a list [output, final state].
    """

    n_gates = 3

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = _kernel_activation("GRU", self.name, "recurrent_activation",
                                                       recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, x, mask, rdrop, ws):
        T, B, F = x.shape
        U = self.units
        act, ract, after = self.activation.name, self.recurrent_activation.name, self.reset_after
        kernel, rec, bias = self.kernel, self.recurrent_kernel, self.bias
        if bias is None:
            b_in = b_rec = db_in = db_rec = None
        elif after:
            b_in, b_rec, db_in, db_rec = bias.value[0], bias.value[1], bias.grad[0], bias.grad[1]
        else:
            b_in, b_rec, db_in, db_rec = bias.value, None, bias.grad, None
        gates = ws("gates", (T, B, 3 * U))
        rgates = ws("recurrent_gates", (T, B, 3 * U))
        resets = ws("reset_states", (T, B, U))
        states = ws("states", (T + 1, B, U))
        _k.gru_forward(x, kernel.value, rec.value, b_in, b_rec, 0.0, mask, rdrop, act, ract, after, gates, rgates,
                       resets, states, time_major=True)

        def backward(dS, d_finals, need_dx):
            dx = ws("dx_time_major", (T, B, F)) if need_dx else None
            _k.gru_backward(x, kernel.value, rec.value, mask, rdrop, act, ract, after, gates, rgates, resets,
                            states, dS, ws("d_gates", (T, B, 3 * U)), ws("d_recurrent_gates", (T, B, 3 * U)), dx,
                            kernel.grad, rec.grad, db_in, db_rec, None, time_major=True)
            return dx

        return states, [], backward

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }
