"""Keras's call signature of MultiHeadAttention, mapped onto the layer's list input.

``mha(query, value, key=None, ..., attention_mask=None, ...)`` becomes the list
the layer's `forward` takes: ``[query, value]``, ``[query, value, key]``, or
``[query, value, key, attention_mask]`` (a mask always comes with an explicit
key, so the number of inputs says what each one is). The per-token masks
(query_mask, value_mask, key_mask) fold into the attention mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from corelib import ConfigError, ShapeError
from corelib.layers.symbolic import SymbolicTensor

__all__ = ["CallOptions", "bind_inputs", "check_training", "fold_token_masks", "keep_mask"]


@dataclass(frozen=True)
class CallOptions:
    """The call arguments that change what the layer computes or returns."""

    use_causal_mask: bool = False
    return_attention_scores: bool = False

    def config(self) -> dict:
        return {"use_causal_mask": self.use_causal_mask, "return_attention_scores": self.return_attention_scores}

    @classmethod
    def from_config(cls, cfg: Any, where: str) -> "CallOptions":
        if not isinstance(cfg, dict) or set(cfg) - {"use_causal_mask", "return_attention_scores"}:
            raise ConfigError(f"{where}: call_options must be a dict with the keys use_causal_mask and "
                              f"return_attention_scores. Received: call_options={cfg!r}")
        return cls(**{k: _flag(v, k, where) for k, v in cfg.items()})


def _flag(value: Any, arg: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{where}: {arg} must be True or False. Received: {arg}={value!r}")
    return bool(value)


def check_training(training: Any, where: str) -> bool:
    """`training` as a bool; None means inference. Anything else is refused: a tensor in that
    place is a misplaced argument, never to be read as a flag."""
    if training is None:
        return False
    return _flag(training, "training", where)


def bind_inputs(where: str, query: Any, value: Any, key: Any, attention_mask: Any) -> Any:
    """The layer's input (one tensor or a list of 2 to 4) from the call's tensors.

    `query` alone (value None) is self-attention on one tensor, or the old list form
    ``[query, value(, key(, mask))]``.
    """
    if value is None:
        if key is not None or attention_mask is not None:
            raise ConfigError(f"{where}: key and attention_mask need value too: call mha(query, value, key=..., "
                              f"attention_mask=...)")
        return list(query) if isinstance(query, (list, tuple)) else query
    if isinstance(query, (list, tuple)):
        raise ConfigError(f"{where}: pass query, value and key either as one list or as separate arguments, "
                          f"not both")
    for arg, tensor in (("value", value), ("key", key), ("attention_mask", attention_mask)):
        if tensor is not None and not _is_tensor(tensor):
            hint = " (pass training as a keyword: mha(query, value, training=True))" if arg == "value" else ""
            raise ConfigError(f"{where}: {arg} must be a tensor (an array or the output of a layer){hint}. "
                              f"Received: {arg}={tensor!r}")
    inputs = [query, value] if key is None else [query, value, key]
    if attention_mask is not None:
        inputs = [query, value, value if key is None else key, attention_mask]
    symbolic = [isinstance(t, SymbolicTensor) for t in inputs]
    if any(symbolic) and not all(symbolic):
        raise ConfigError(f"{where}: query, value, key and attention_mask must all be symbolic tensors (in a "
                          f"functional model) or all be arrays; received a mix")
    return inputs


def _is_tensor(x: Any) -> bool:
    return isinstance(x, (SymbolicTensor, np.ndarray)) or (
        isinstance(x, (list, tuple)) and not isinstance(x, bool) and np.ndim(x) >= 1)


def fold_token_masks(where: str, attention_mask: Any, query_mask: Any, value_mask: Any, key_mask: Any,
                     query: Any, value: Any) -> Any:
    """attention_mask (batch, Tq..., Tv...) combined with the per-token masks, as Keras does:
    a query may attend to a key where every mask that is given allows it."""
    if query_mask is None and value_mask is None and key_mask is None:
        return attention_mask
    if value is None or isinstance(query, (list, tuple)):
        raise ConfigError(f"{where}: query_mask, value_mask and key_mask need query and value as separate "
                          f"arguments: mha(query, value, query_mask=...)")
    given = [m for m in (query_mask, value_mask, key_mask, attention_mask) if m is not None]
    if any(isinstance(m, SymbolicTensor) for m in given) or isinstance(query, SymbolicTensor):
        raise ConfigError(f"{where}: query_mask, value_mask and key_mask are taken on arrays only; in a "
                          f"functional model pass one attention_mask (batch, Tq, Tv) instead")
    q_steps, v_steps = np.shape(query)[1:-1], np.shape(value)[1:-1]
    keep = np.ones((np.shape(query)[0], *q_steps, *v_steps), bool)
    q_axes = (slice(None),) * (1 + len(q_steps))
    for arg, m, steps in (("query_mask", query_mask, q_steps), ("value_mask", value_mask, v_steps),
                          ("key_mask", key_mask, v_steps)):
        if m is None:
            continue
        m = np.asarray(m) != 0
        if m.shape[1:] != tuple(steps):
            raise ShapeError(f"{where}: {arg} must have shape (batch, {', '.join(map(str, steps))}); received "
                             f"shape {m.shape}")
        if arg == "query_mask":
            keep &= m[q_axes + (None,) * len(v_steps)]
        else:
            keep &= m[(slice(None),) + (None,) * len(q_steps)]
    if attention_mask is not None:
        keep &= np.asarray(attention_mask) != 0
    return keep


def keep_mask(mask: np.ndarray | None, causal: bool, batch: int, length: int, keys: int) -> np.ndarray | None:
    """The (B, 1, T, S) boolean mask `attend` takes: the attention mask's nonzero entries,
    and, with `causal`, only keys at or before each query's position (flattened steps)."""
    keep = None
    if mask is not None:
        keep = (np.asarray(mask) != 0).reshape(batch, 1, length, keys)
    if causal:
        lower = np.tril(np.ones((length, keys), bool))
        keep = lower if keep is None else keep & lower
    return keep
