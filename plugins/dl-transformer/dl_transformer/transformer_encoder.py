"""TransformerEncoder: self-attention and a feed-forward block, each with a residual
connection and layer normalization (keras_hub's arguments)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from corelib import ConfigError, Layer, ShapeError, activations
from corelib.layers.base import Shape
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import positive_int
from dl_transformer.layer_normalization import LayerNormalization
from dl_transformer.multi_head_attention import MultiHeadAttention

__all__ = ["TransformerEncoder"]


class TransformerEncoder(Layer):
    """One transformer encoder block, as in "Attention Is All You Need".

    With ``normalize_first=False`` (post-norm, the paper's and PyTorch's
    ``nn.TransformerEncoderLayer`` default)::

        x = LayerNorm(x + Dropout(SelfAttention(x)))
        y = LayerNorm(x + Dropout(Dense(Dense(x, intermediate_dim, activation), features)))

    With ``normalize_first=True`` each LayerNorm moves to the start of its
    branch (pre-norm). It takes one tensor, so it stacks in a `Sequential`.

    Args:
        intermediate_dim: width of the feed-forward block's hidden layer.
        num_heads: attention heads; they split the features, so the input's
            features must be divisible by num_heads (key_dim = features // num_heads).
        dropout: dropout rate after attention, inside attention (on the
            probabilities) and after the feed-forward block.
        activation: the feed-forward block's activation ("relu").
        layer_norm_epsilon: epsilon of both layer normalizations (1e-5).
        kernel_initializer: initializer of every kernel ("glorot_uniform").
        bias_initializer: initializer of every bias ("zeros").
        normalize_first: pre-norm instead of post-norm.
        **kwargs: name, input_shape, dtype, trainable (see `corelib.Layer`).

    Input shape:
        (batch_size, steps, features).

    Output shape:
        Same as the input.

    Weights: those of its parts, named "<name>/self_attention/...",
    "<name>/self_attention_norm/...", "<name>/feedforward_intermediate/...",
    "<name>/feedforward_output/...", "<name>/feedforward_norm/...".
    """

    def __init__(
        self,
        intermediate_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        activation: Any = "relu",
        layer_norm_epsilon: float = 1e-5,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        normalize_first: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"TransformerEncoder '{self.name}'"
        self.intermediate_dim = positive_int(intermediate_dim, "intermediate_dim", where)
        self.num_heads = positive_int(num_heads, "num_heads", where)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"TransformerEncoder '{self.name}': dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.dropout = float(dropout)
        self.activation = activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        set_weight_options(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer)
        self.normalize_first = bool(normalize_first)
        self._parts: dict[str, Layer] = {}

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ShapeError(f"TransformerEncoder '{self.name}' expects an input (batch_size, steps, features) with "
                             f"known features; received shape {input_shape}")
        if input_shape[-1] % self.num_heads:
            raise ShapeError(f"TransformerEncoder '{self.name}': the features ({input_shape[-1]}) must be divisible "
                             f"by num_heads={self.num_heads}; received shape {input_shape}")
        if self._parts and input_shape[-1] != self._parts["feedforward_output"].units:
            raise ShapeError(f"TransformerEncoder '{self.name}' was built for {self._parts['feedforward_output'].units} "
                             f"features; received shape {input_shape}")
        return input_shape

    def build(self, input_shape: Shape) -> None:
        from corelib import layers

        # The core's layers by their plugin-qualified names, so another plugin's
        # "Dense" can never be picked up instead.
        dense, dropout = layers.get("dl:Dense"), layers.get("dl:Dropout")
        features = int(input_shape[-1])
        inits = weight_options_config(self)

        def common(label: str) -> dict:
            # Named after this layer: unique in any model, and the same after loading.
            return {"dtype": self.dtype, "name": f"{self.name}/{label}"}

        parts = {
            "self_attention": MultiHeadAttention(self.num_heads, features // self.num_heads, dropout=self.dropout,
                                                 **inits, **common("self_attention")),
            "self_attention_norm": LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                      **common("self_attention_norm")),
            "self_attention_dropout": dropout(self.dropout, **common("self_attention_dropout")),
            "feedforward_intermediate": dense(self.intermediate_dim, activation=self.activation, **inits,
                                              **common("feedforward_intermediate")),
            "feedforward_output": dense(features, **inits, **common("feedforward_output")),
            "feedforward_dropout": dropout(self.dropout, **common("feedforward_dropout")),
            "feedforward_norm": LayerNormalization(epsilon=self.layer_norm_epsilon, **common("feedforward_norm")),
        }
        inner = (None,) + tuple(input_shape[1:-1]) + (self.intermediate_dim,)
        for label, part in parts.items():
            part.ensure_built(inner if label == "feedforward_output" else (None,) + tuple(input_shape[1:]))
            self._params.extend(part.weights)
        self._parts = parts

    def forward(self, x: np.ndarray, training: bool = False):
        p = self._parts
        pre = self.normalize_first
        chain: list[Callable] = []

        def run(label: str, value: np.ndarray) -> np.ndarray:
            out, backprop = p[label].forward(value, training)
            chain.append(backprop)
            return out

        def branch(value: np.ndarray, labels: tuple[str, ...], norm: str) -> tuple[np.ndarray, int]:
            """value + branch(value), normalized before (pre-norm) or after (post-norm)."""
            start = len(chain)
            h = run(norm, value) if pre else value
            for label in labels:
                h = run(label, h)
            out = value + h
            if not pre:
                out = run(norm, out)
            return out, start

        h, _ = branch(x, ("self_attention", "self_attention_dropout"), "self_attention_norm")
        y, _ = branch(h, ("feedforward_intermediate", "feedforward_output", "feedforward_dropout"), "feedforward_norm")
        steps = list(chain)

        def back_branch(dy: np.ndarray, backs: list[Callable], need_input_grad: bool) -> np.ndarray | None:
            if not pre:
                dy = backs.pop()(dy)
            d = dy
            for i, back in enumerate(reversed(backs)):
                last = i == len(backs) - 1
                d = back(d, need_input_grad=need_input_grad or not last)
            if not need_input_grad:
                return None
            return dy + d

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            # The first three steps are the attention branch (norm, attention, dropout in some order).
            dh = back_branch(dy, steps[3:], True)
            return back_branch(dh, steps[:3], need_input_grad)

        return y, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "activation": activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            **weight_options_config(self),
            "normalize_first": self.normalize_first,
        }
