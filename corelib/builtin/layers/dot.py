"""Dot: batched dot products of two inputs over a pair of axes."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.builtin.layers._merge_base import Merge, dims_agree
from corelib.errors import ConfigError

__all__ = ["Dot"]

_NORM_EPSILON = 1e-7  # Keras 3's normalize: x / max(||x||, epsilon()) with epsilon() = 1e-7


class Dot(Merge):
    """Dot products of the samples of two inputs, summed over one axis of each.

    For inputs ``(batch, n)`` and ``(batch, n)`` with ``axes=1`` the output is
    ``(batch, 1)``; for ``(batch, m, k)`` and ``(batch, k, n)`` with
    ``axes=(2, 1)`` it is the batched matrix product ``(batch, m, n)``.

    Args:
        axes: one axis for both inputs, or a pair (axis of input 0, axis of
            input 1); never the batch axis 0; negative counts from the end.
        normalize: L2-normalise each input along its axis first, so that the
            products are cosine similarities (``x / max(||x||, 1e-7)``, as
            Keras 3).
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of two shapes of rank 2 or 3 whose sizes on the given axes
        agree.

    Output shape:
        Input 0's shape without its axis, followed by input 1's shape without
        its batch axis and its axis; ``(batch, 1)`` when nothing else is left.
    """

    min_inputs = max_inputs = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if _is_int(axes):
            parsed: int | tuple[int, int] | None = int(axes)
        elif isinstance(axes, (list, tuple)) and len(axes) == 2 and all(_is_int(a) for a in axes):
            parsed = (int(axes[0]), int(axes[1]))
        else:
            parsed = None
        if parsed is None or 0 in ((parsed,) if isinstance(parsed, int) else parsed):
            raise ConfigError(
                f"Dot '{self.name}': axes must be a non-zero int or a list of two non-zero ints "
                f"(axis 0 is the batch axis). Received: axes={axes!r}"
            )
        self.axes = parsed
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes: list[tuple]) -> tuple[int, int]:
        if any(len(s) not in (2, 3) for s in shapes):
            raise self._mismatch("inputs of rank 2 or 3", shapes, 0, 1)
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        resolved = []
        for axis, shape in zip(pair, shapes):
            rank = len(shape)
            if not -rank <= axis < rank or axis % rank == 0:
                raise self._mismatch(f"axes={self.axes!r} to name a non-batch axis of each input", shapes, 0, 1)
            resolved.append(axis % rank)
        return resolved[0], resolved[1]

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        a0, a1 = self._resolved_axes(shapes)
        s0, s1 = shapes
        if not dims_agree(s0[a0], s1[a1]):
            raise self._mismatch(f"inputs of the same size on axis {a0} of input 0 and axis {a1} of input 1",
                                 shapes, 0, 1)
        if not dims_agree(s0[0], s1[0]):
            raise self._mismatch("inputs of the same batch size", shapes, 0, 1)
        batch = s0[0] if s0[0] is not None else s1[0]
        rest = [d for k, d in enumerate(s0) if k not in (0, a0)] + [d for k, d in enumerate(s1) if k not in (0, a1)]
        return (batch, *rest) if rest else (batch, 1)

    def forward(self, xs: list[np.ndarray], training: bool = False):
        x0, x1 = self._inputs(xs)
        out_shape = self._merged_shape([x0.shape, x1.shape])
        a0, a1 = self._resolved_axes([x0.shape, x1.shape])
        normalize = self.normalize
        u0, n0 = _l2_normalize(x0, a0) if normalize else (x0, None)
        u1, n1 = _l2_normalize(x1, a1) if normalize else (x1, None)
        # Bring each input to a (batch, m, k) @ (batch, k, n) product; views, no copies.
        m0 = np.moveaxis(u0, a0, -1)
        m1 = np.moveaxis(u1, a1, 1)
        lhs = m0 if m0.ndim == 3 else m0[:, None, :]
        rhs = m1 if m1.ndim == 3 else m1[:, :, None]
        y = np.matmul(lhs, rhs).reshape(out_shape)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            if not need_input_grad:
                return None
            dz = dy.reshape(lhs.shape[0], lhs.shape[1], rhs.shape[2])
            d0 = np.moveaxis(np.matmul(dz, rhs.swapaxes(1, 2)).reshape(m0.shape), -1, a0)
            d1 = np.moveaxis(np.matmul(lhs.swapaxes(1, 2), dz).reshape(m1.shape), 1, a1)
            if normalize:
                d0 = _l2_normalize_backward(d0, u0, n0, a0)
                d1 = _l2_normalize_backward(d1, u1, n1, a1)
            return [np.ascontiguousarray(d0), np.ascontiguousarray(d1)]

        return y, backprop

    def get_config(self) -> dict:
        axes = self.axes if isinstance(self.axes, int) else list(self.axes)
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _l2_normalize(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """x / max(||x||, eps) along `axis`, and that divisor (keepdims)."""
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    np.maximum(norm, _NORM_EPSILON, out=norm)
    return x / norm, norm


def _l2_normalize_backward(du: np.ndarray, u: np.ndarray, norm: np.ndarray, axis: int) -> np.ndarray:
    """dL/dx for u = x / max(||x||, eps): (du - u <du, u>) / ||x|| where the norm
    is above eps, du / eps where the clamp holds it constant."""
    along = np.sum(du * u, axis=axis, keepdims=True)
    along *= norm > _NORM_EPSILON
    return (du - u * along) / norm
