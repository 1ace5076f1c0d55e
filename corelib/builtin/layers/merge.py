"""Merge layers: Concatenate, and the elementwise Add, Subtract, Multiply,
Average, Maximum and Minimum. (Dot is in dot.py.)

The elementwise merges need inputs of one shape (an unknown ``None``
dimension fits any size); unlike Keras 3 they do not broadcast, so a
``(None, 1)`` input does not merge with a ``(None, 4)`` one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.builtin.layers._merge_base import Merge, dims_agree
from corelib.errors import ConfigError, ShapeError

__all__ = ["Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


class Concatenate(Merge):
    """Concatenates a list of inputs along one axis.

    Args:
        axis: the axis to join along (not the batch axis); negative counts
            from the end.
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of shapes of one rank that agree on every axis but `axis`.

    Output shape:
        The common shape, with the sum of the inputs' sizes on `axis`
        (``None`` when one of them is unknown).
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ConfigError(
                f"Concatenate '{self.name}': axis must be a non-zero int (axis 0 is the batch axis). "
                f"Received: axis={axis!r}"
            )
        self.axis = int(axis)

    def _resolved_axis(self, shapes: list[tuple]) -> int:
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ShapeError(
                f"Concatenate '{self.name}' cannot join inputs of rank {rank} on axis {self.axis} "
                f"(it must be a non-batch axis); received input 0 {shapes[0]}"
            )
        return self.axis % rank

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        what = f"inputs whose shapes match except on axis {self.axis}"
        for j in range(1, len(shapes)):
            if len(shapes[j]) != len(shapes[0]):
                raise self._mismatch(what, shapes, 0, j)
        axis = self._resolved_axis(shapes)
        for i in range(len(shapes)):
            for j in range(i + 1, len(shapes)):
                if not all(dims_agree(a, b) for k, (a, b) in enumerate(zip(shapes[i], shapes[j])) if k != axis):
                    raise self._mismatch(what, shapes, i, j)
        out = list(_common_dims(shapes))
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def forward(self, xs: list[np.ndarray], training: bool = False):
        xs = self._inputs(xs)
        out_shape = self._merged_shape([x.shape for x in xs])
        axis = self._resolved_axis([x.shape for x in xs])
        slot = self._slot(training)
        y = np.concatenate(xs, axis=axis, out=self._array("y", slot, out_shape))
        bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            if not need_input_grad:
                return None
            return np.split(dy, bounds, axis=axis)  # views of dy: no copy

        return y, self._bind(slot, backprop)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _common_dims(shapes: list[tuple]) -> tuple:
    """Per axis, the first known size among `shapes` (None when all are unknown)."""
    return tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes))


class _Elementwise(Merge):
    """A merge of inputs of one shape, entry by entry."""

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        for i in range(len(shapes)):
            for j in range(i + 1, len(shapes)):
                a, b = shapes[i], shapes[j]
                if len(a) != len(b) or not all(dims_agree(p, q) for p, q in zip(a, b)):
                    raise self._mismatch("inputs of the same shape", shapes, i, j)
        return _common_dims(shapes)

    def _prepare(self, xs: Any, training: bool) -> tuple[list[np.ndarray], tuple, int]:
        xs = self._inputs(xs)
        shape = self._merged_shape([x.shape for x in xs])
        return xs, shape, self._slot(training)

    def _fold(self, ufunc: np.ufunc, xs: list[np.ndarray], slot: int, shape: tuple) -> np.ndarray:
        """``ufunc(...ufunc(xs[0], xs[1])..., xs[-1])`` into the workspace "y" of `slot`."""
        y = self._array("y", slot, shape)
        np.copyto(y, xs[0])
        for x in xs[1:]:
            ufunc(y, x, out=y)
        return y


class Add(_Elementwise):
    """Adds a list of inputs of the same shape.

    Args:
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of equal shapes (no broadcasting).

    Output shape:
        The same shape.
    """

    def forward(self, xs: list[np.ndarray], training: bool = False):
        xs, shape, slot = self._prepare(xs, training)
        y = self._fold(np.add, xs, slot, shape)
        n = len(xs)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            # every input receives dy itself; the caller must not write into it
            return [dy] * n if need_input_grad else None

        return y, self._bind(slot, backprop)


class Subtract(_Elementwise):
    """Subtracts the second of two inputs from the first.

    Args:
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of exactly two equal shapes.

    Output shape:
        The same shape.
    """

    min_inputs = max_inputs = 2

    def forward(self, xs: list[np.ndarray], training: bool = False):
        xs, shape, slot = self._prepare(xs, training)
        y = np.subtract(xs[0], xs[1], out=self._array("y", slot, shape))

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            if not need_input_grad:
                return None
            return [dy, np.negative(dy, out=self._array("dx1", slot, dy.shape, dy.dtype))]

        return y, self._bind(slot, backprop)


class Multiply(_Elementwise):
    """Multiplies a list of inputs of the same shape entry by entry.

    Args:
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of equal shapes (no broadcasting).

    Output shape:
        The same shape.
    """

    def forward(self, xs: list[np.ndarray], training: bool = False):
        xs, shape, slot = self._prepare(xs, training)
        y = self._fold(np.multiply, xs, slot, shape)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            if not need_input_grad:
                return None
            grads = []
            for i in range(len(xs)):
                # the product of the other inputs, not y / x_i: inputs may hold zeros
                g = self._array(f"dx{i}", slot, dy.shape, dy.dtype)
                np.copyto(g, dy)
                for j, x in enumerate(xs):
                    if j != i:
                        np.multiply(g, x, out=g)
                grads.append(g)
            return grads

        return y, self._bind(slot, backprop)


class Average(_Elementwise):
    """The mean of a list of inputs of the same shape.

    Args:
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of equal shapes (no broadcasting).

    Output shape:
        The same shape.
    """

    def forward(self, xs: list[np.ndarray], training: bool = False):
        xs, shape, slot = self._prepare(xs, training)
        y = self._fold(np.add, xs, slot, shape)
        n = len(xs)
        np.multiply(y, 1.0 / n, out=y)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            if not need_input_grad:
                return None
            # one array for every input; the caller must not write into it
            return [np.multiply(dy, 1.0 / n, out=self._array("dx", slot, dy.shape, dy.dtype))] * n

        return y, self._bind(slot, backprop)


class _Extremum(_Elementwise):
    """Maximum or Minimum: the gradient goes to the input that gave each output
    entry; on a tie, to the first of the tied inputs."""

    _pick = staticmethod(np.maximum)
    _wins = staticmethod(np.greater)

    def forward(self, xs: list[np.ndarray], training: bool = False):
        xs, shape, slot = self._prepare(xs, training)
        y = self._array("y", slot, shape)
        np.copyto(y, xs[0])
        winner = self._array("winner", slot, shape, np.int32)
        winner.fill(0)
        for i, x in enumerate(xs[1:], 1):
            strictly = self._wins(x, y)  # strict, so a tie stays with the earlier input
            self._pick(y, x, out=y)
            np.copyto(winner, i, where=strictly)

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> list[np.ndarray] | None:
            if not need_input_grad:
                return None
            return [np.multiply(dy, winner == i, out=self._array(f"dx{i}", slot, dy.shape, dy.dtype))
                    for i in range(len(xs))]

        return y, self._bind(slot, backprop)


class Maximum(_Extremum):
    """The entrywise maximum of a list of inputs of the same shape.

    The gradient of each entry goes to the input that holds the maximum (on a
    tie, to the first of the tied inputs).

    Args:
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of equal shapes (no broadcasting).

    Output shape:
        The same shape.
    """


class Minimum(_Extremum):
    """The entrywise minimum of a list of inputs of the same shape.

    The gradient of each entry goes to the input that holds the minimum (on a
    tie, to the first of the tied inputs).

    Args:
        **kwargs: name, dtype, trainable (see `Layer`).

    Input shape:
        A list of equal shapes (no broadcasting).

    Output shape:
        The same shape.
    """

    _pick = staticmethod(np.minimum)
    _wins = staticmethod(np.less)
