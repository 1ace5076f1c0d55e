"""Bidirectional: runs a recurrent layer forwards and backwards and merges the two."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers.recurrent import RNNBase
from corelib.builtin.layers.time_distributed import _inner_layer
from corelib.errors import ConfigError
from corelib.layers.base import Layer, Shape

__all__ = ["Bidirectional"]

_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Bidirectional wrapper for SimpleRNN, LSTM and GRU.

    A copy of `layer` reads the sequence forwards, another (go_backwards
    flipped) reads it backwards; with return_sequences the backward outputs
    are put back in input order before the merge.

    Args:
        layer: the recurrent layer (instance or serialized dict).
        merge_mode: "concat" (default), "sum", "mul", "ave", or None for a list
            [forward output, backward output].
        backward_layer: optional recurrent layer for the backward direction
            (by default a copy of `layer`'s config with go_backwards flipped).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, timesteps, features); an optional mask (batch_size, timesteps).

    Output shape:
        the wrapped layer's, with the last axis doubled for "concat"; a list of
        two for merge_mode=None; with return_state, followed by the forward and
        the backward final states.
    """

    accepts_mask = True

    def __init__(self, layer: Any, merge_mode: str | None = "concat", backward_layer: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"Bidirectional '{self.name}'"
        layer = _inner_layer(where, layer)
        if not isinstance(layer, RNNBase):
            raise ConfigError(f"{where}: layer must be SimpleRNN, LSTM or GRU. Received: {type(layer).__name__}")
        if merge_mode not in _MODES:
            raise ConfigError(f"{where}: merge_mode must be one of {_MODES}. Received: merge_mode={merge_mode!r}")
        self.merge_mode = merge_mode
        cfg = layer.get_config()
        if self._dtype is not None:
            cfg["dtype"] = self._dtype
        self.forward_layer = type(layer).from_config({**cfg, "name": f"forward_{layer.name}"})
        self._explicit_backward = backward_layer is not None
        if backward_layer is None:
            bcfg = {**cfg, "name": f"backward_{layer.name}", "go_backwards": not layer.go_backwards}
            self.backward_layer = type(layer).from_config(bcfg)
        else:
            self.backward_layer = _inner_layer(where, backward_layer)
            if self._dtype is not None:
                self.backward_layer._dtype = self._dtype
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = self.return_sequences and not self.return_state and merge_mode is not None

    def _merged_shape(self, shape: Shape) -> Shape | list[Shape]:
        if self.merge_mode is None:
            return [shape, shape]
        if self.merge_mode == "concat":
            return tuple(shape[:-1]) + (2 * shape[-1],)
        return tuple(shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        if not self.return_state:
            return self._merged_shape(f)
        merged = self._merged_shape(f[0])
        return (merged if isinstance(merged, list) else [merged]) + list(f[1:]) + list(b[1:])

    def build(self, input_shape: Shape) -> None:
        self.forward_layer.ensure_built(input_shape)
        self.backward_layer.ensure_built(input_shape)
        self._params = self.forward_layer._params + self.backward_layer._params

    def forward(self, x: np.ndarray, training: bool = False, mask: Any = None):
        kw = {} if mask is None else {"mask": mask}
        yf, bpf = self.forward_layer.forward(x, training, **kw)
        yb, bpb = self.backward_layer.forward(x, training, **kw)
        of, ob = (yf[0], yb[0]) if self.return_state else (yf, yb)
        seq = self.return_sequences
        if seq:
            ob = ob[:, ::-1]
        mode = self.merge_mode
        if mode == "concat":
            merged = [np.concatenate([of, ob], axis=-1)]
        elif mode == "sum":
            merged = [of + ob]
        elif mode == "ave":
            merged = [(of + ob) * 0.5]
        elif mode == "mul":
            merged = [of * ob]
        else:
            merged = [of, np.ascontiguousarray(ob)]
        states_f = yf[1:] if self.return_state else []
        states_b = yb[1:] if self.return_state else []
        outputs = merged + list(states_f) + list(states_b)
        n_merged = len(merged)

        def backprop(dy: Any, need_input_grad: bool = True):
            dys = list(dy) if len(outputs) > 1 else [dy]
            g = dys[0]
            if mode == "concat":
                u = of.shape[-1]
                dof, dob = g[..., :u], g[..., u:]
            elif mode == "sum":
                dof = dob = g
            elif mode == "ave":
                dof = dob = g * 0.5
            elif mode == "mul":
                dof, dob = g * ob, g * of
            else:
                dof, dob = g, dys[1]
            if seq:
                dob = dob[:, ::-1]
            dof, dob = np.ascontiguousarray(dof), np.ascontiguousarray(dob)
            if self.return_state:
                ns = len(states_f)
                rest = dys[n_merged:]
                dof = [dof] + rest[:ns]
                dob = [dob] + rest[ns:]
            dxf = bpf(dof, need_input_grad=need_input_grad)
            dxb = bpb(dob, need_input_grad=need_input_grad)
            return dxf + dxb if need_input_grad else None

        return (outputs if len(outputs) > 1 else outputs[0]), backprop

    def get_config(self) -> dict:
        from corelib import layers

        inner = layers.serialize(self.forward_layer)
        inner["config"]["name"] = inner["config"]["name"].removeprefix("forward_")
        cfg = {**super().get_config(), "layer": inner, "merge_mode": self.merge_mode}
        if self._explicit_backward:
            cfg["backward_layer"] = layers.serialize(self.backward_layer)
        return cfg
