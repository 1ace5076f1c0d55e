"""The attention core shared by MultiHeadAttention: projections through the core's
dense kernel, batched products through NumPy's matmul, softmax through the core's
activation kernel.

Shapes: B batch, T/S query/key lengths, H heads, d per-head size. Projected
heads live in arrays laid out (B, T, H, d) — exactly the (B*T, H*d) output of
one `linear_forward` call — and are viewed as (B, H, T, d) for the products,
so no head is ever copied out. `numpy.matmul` on such stacked, strided views
calls BLAS gemm once per (batch, head) slice without copying, since each
slice has a unit stride on its last axis.
"""

from __future__ import annotations

import numpy as np

from corelib.kernels import activations as _act
from corelib.kernels import dense as _dense

__all__ = ["project", "project_backward", "heads", "attend", "attend_backward", "MASKED_SCORE"]

#: What a masked-out score becomes before the softmax (Keras's large negative number):
#: its probability is then exactly 0, and a row masked out entirely attends evenly.
MASKED_SCORE = -1e9


def project(x2: np.ndarray, w2: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """x2 (N, D) @ w2 (D, M) (+ bias (M,)) through the core's dense kernel: (N, M)."""
    out = np.empty((x2.shape[0], w2.shape[1]), dtype=x2.dtype)
    return _dense.linear_forward(x2, w2, bias, out)


def project_backward(x2: np.ndarray, w2: np.ndarray, dy2: np.ndarray, dw2: np.ndarray, db: np.ndarray | None,
                     need_dx: bool) -> np.ndarray | None:
    """Adds into dw2 (and db) in place; returns dx2 (N, D) when asked."""
    dx = np.empty((dy2.shape[0], w2.shape[0]), dtype=dy2.dtype) if need_dx else None
    _dense.linear_backward(x2, w2, dy2, dx, dw2, db)
    return dx


def heads(flat: np.ndarray, batch: int, length: int, num_heads: int) -> np.ndarray:
    """(B*T, H*d) -> a (B, H, T, d) view."""
    return flat.reshape(batch, length, num_heads, -1).transpose(0, 2, 1, 3)


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, rate: float, rng: np.random.Generator | None,
           keep: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """softmax(scale * q k^T) v per head, with dropout on the probabilities when `rng` is given.

    Args:
        q: (B, H, T, dk); k: (B, H, S, dk); v: (B, H, S, dv) (views are fine).
        keep: None, or a boolean array broadcasting to (B, H, T, S): False where
            a query may not attend to a key (its score becomes MASKED_SCORE).

    Returns:
        The output laid out (B, T, H, dv) (C-contiguous, ready for the output
        projection) and what `attend_backward` needs.
    """
    scores = np.matmul(q, k.swapaxes(-1, -2))
    scores *= scale
    if keep is not None:
        np.copyto(scores, MASKED_SCORE, where=~keep)
    probs = _act.forward("softmax", scores, scores)  # in place: softmax's backward needs only its output
    kept = probs
    mask = None
    if rng is not None and rate > 0.0:
        mask = (rng.random(probs.shape) >= rate).astype(probs.dtype)
        mask *= 1.0 / (1.0 - rate)
        kept = probs * mask
    batch, num_heads, length, _ = q.shape
    out = np.empty((batch, length, num_heads, v.shape[-1]), dtype=q.dtype)
    np.matmul(kept, v, out=out.transpose(0, 2, 1, 3))
    return out, (q, k, v, probs, kept, mask, scale, keep)


def attend_backward(dout: np.ndarray, cache: tuple, dprobs_extra: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of `attend` for dout laid out (B, T, H, dv); returned laid out
    (B, T, H, dk), (B, S, H, dk), (B, S, H, dv): each reshapes to (B*len, H*d).

    `dprobs_extra` (B, H, T, S) is a gradient reaching the probabilities directly
    (when they are an output of the layer too)."""
    q, k, v, probs, kept, mask, scale, keep = cache
    dout_h = dout.transpose(0, 2, 1, 3)
    batch, num_heads, length, _ = q.shape
    keys = k.shape[2]
    dv = np.empty((batch, keys, num_heads, v.shape[-1]), dtype=v.dtype)
    np.matmul(kept.swapaxes(-1, -2), dout_h, out=dv.transpose(0, 2, 1, 3))
    dprobs = np.matmul(dout_h, v.swapaxes(-1, -2))
    if mask is not None:
        dprobs *= mask
    if dprobs_extra is not None:
        dprobs += dprobs_extra
    dscores = _act.backward("softmax", None, probs, dprobs, dprobs)
    if keep is not None:  # masked scores were replaced by a constant
        dscores *= keep
    dscores *= scale
    dq = np.empty((batch, length, num_heads, q.shape[-1]), dtype=q.dtype)
    np.matmul(dscores, k, out=dq.transpose(0, 2, 1, 3))
    dk = np.empty((batch, keys, num_heads, k.shape[-1]), dtype=k.dtype)
    np.matmul(dscores.swapaxes(-1, -2), q, out=dk.transpose(0, 2, 1, 3))
    return dq, dk, dv
