"""CTC for library use: the loss with explicit lengths, and decoding after `predict`.

    from corelib.ctc import ctc_decode
    probs = model.predict(images)                    # (batch, timesteps, classes)
    decoded, scores = ctc_decode(probs)              # greedy; labels then -1
    decoded, scores = ctc_decode(probs, greedy=False, beam_width=10)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.kernels import ctc as _k

__all__ = ["ctc_loss", "ctc_decode", "character_error_rate"]


def _log_probs(y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    y = np.asarray(y_pred, dtype=np.float64)
    if y.ndim != 3:
        raise ShapeError(f"ctc_decode expects y_pred of shape (batch, timesteps, classes). Received: {y.shape}")
    if from_logits:
        m = y.max(axis=-1, keepdims=True)
        return y - m - np.log(np.exp(y - m).sum(axis=-1, keepdims=True))
    return np.log(np.maximum(y, 1e-37))


def _lengths(input_length: Any, B: int, T: int) -> np.ndarray:
    if input_length is None:
        return np.full(B, T, np.int64)
    lengths = np.asarray(input_length, dtype=np.int64).reshape(-1)
    return np.broadcast_to(lengths, (B,)).copy()


def ctc_loss(y_pred: np.ndarray, labels: np.ndarray, label_length: Any, input_length: Any = None, *,
             blank_index: int = 0, from_logits: bool = False, zero_infinity: bool = False,
             return_grad: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Per-sample CTC losses with explicit lengths.

    Args:
        y_pred: (batch, timesteps, classes) probabilities, or logits with from_logits.
        labels: int (batch, max_label_length); row b's first label_length[b] entries count.
        label_length: (batch,) ints.
        input_length: (batch,) ints (valid time steps), or None for all.
        blank_index, from_logits, zero_infinity: as for the `CTC` loss.
        return_grad: also return each sample's gradient w.r.t. y_pred.

    Returns:
        losses (batch,), and the gradient (batch, timesteps, classes) with return_grad.
    """
    y = np.asarray(y_pred)
    if y.dtype != np.float32:
        y = y.astype(np.float64, copy=False)
    if y.ndim != 3:
        raise ShapeError(f"ctc_loss expects y_pred of shape (batch, timesteps, classes). Received: {y.shape}")
    B, T, _ = y.shape
    loss = np.empty(B, y.dtype)
    grad = np.empty(y.shape, y.dtype) if return_grad else None
    _k.ctc_loss(y, np.asarray(labels, np.int64).reshape(B, -1), _lengths(label_length, B, 0),
                _lengths(input_length, B, T), int(blank_index), "logits" if from_logits else "probs",
                bool(zero_infinity), loss, grad)
    return (loss, grad) if return_grad else loss


def ctc_decode(y_pred: np.ndarray, input_length: Any = None, *, greedy: bool = True, beam_width: int = 100,
               blank_index: int = 0, from_logits: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decode CTC outputs into label sequences.

    Greedy: the best class at each step, repeats merged, blanks dropped.
    Beam search: prefix beam search keeping `beam_width` label prefixes, which
    sums over the alignments of each labelling.

    Args:
        y_pred: (batch, timesteps, classes) probabilities (e.g. `model.predict`),
            or logits with from_logits.
        input_length: (batch,) valid time steps, or None for all.
        greedy: greedy decoding (default) or beam search.
        beam_width: beams kept per step (beam search).
        blank_index: the blank class.

    Returns:
        decoded: int64 (batch, timesteps), each row's labels then -1.
        scores: (batch,) log-probability of each decoded labelling (greedy: of
            its best path, negated as Keras does: the path's negative log-probability).
    """
    lp = _log_probs(y_pred, from_logits)
    B, T, C = lp.shape
    if not 0 <= blank_index < C:
        raise ConfigError(f"ctc_decode: blank_index must be in [0, {C}). Received: {blank_index}")
    lengths = _lengths(input_length, B, T)
    if not greedy:
        decoded = np.empty((B, T), np.int64)
        scores = np.empty(B, np.float64)
        _k.ctc_beam_search(lp, lengths, int(beam_width), int(blank_index), decoded, scores)
        return decoded, scores
    best = lp.argmax(axis=-1)
    valid = np.arange(T)[None, :] < lengths[:, None]
    prev = np.concatenate([np.full((B, 1), -1), best[:, :-1]], axis=1)
    keep = valid & (best != blank_index) & (best != prev)
    decoded = np.full((B, T), -1, np.int64)
    pos = np.cumsum(keep, axis=1) - 1
    rows, cols = np.nonzero(keep)
    decoded[rows, pos[rows, cols]] = best[rows, cols]
    scores = -np.where(valid, lp.max(axis=-1), 0.0).sum(axis=1)
    return decoded, scores


def character_error_rate(decoded: np.ndarray, labels: np.ndarray) -> float:
    """Total edit distance between decoded rows and label rows (both -1 padded),
    divided by the total number of labels."""
    d = np.ascontiguousarray(decoded, np.int64)
    t = np.ascontiguousarray(labels, np.int64)
    if d.shape[0] != t.shape[0]:
        raise ShapeError(f"character_error_rate: {d.shape[0]} decoded rows, {t.shape[0]} label rows")
    total = int((t >= 0).sum())
    return float(_k.edit_distances(d, t).sum()) / max(total, 1)

