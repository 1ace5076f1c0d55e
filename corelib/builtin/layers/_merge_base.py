"""The base of layers that take several inputs (Concatenate, Add, Dot, ...).

A merge layer sees a list everywhere a one-input layer sees one item:
``compute_output_shape`` and ``build`` get a list of full shapes (batch axis
``None``), ``forward`` a list of arrays, and its ``backprop(dy)`` returns a
list with one gradient per input (``None`` as a whole when
``need_input_grad=False``, as for every layer).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from corelib.layers.workspace import Workspaces
from corelib.errors import ShapeError
from corelib.layers.base import Layer

__all__ = ["Merge", "MergeBackprop", "dims_agree"]

MergeBackprop = Callable[..., "list[np.ndarray] | None"]


def dims_agree(a: int | None, b: int | None) -> bool:
    """Two dimensions fit together when equal or when either is unknown."""
    return a is None or b is None or a == b


def _is_shape_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(s, (list, tuple)) for s in value
    )


class Merge(Layer):
    """A layer over a list of inputs; subclasses give the shape rule and the math.

    Subclasses set `min_inputs` / `max_inputs` and implement
    `_merged_shape(shapes)` and `forward(xs, training)`.
    """

    min_inputs: int = 1
    max_inputs: int | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ws = Workspaces()

    # -- shapes ----------------------------------------------------------------

    def _shape_list(self, input_shape: Any) -> list[tuple]:
        """`input_shape` as a list of tuples, after checking how many there are."""
        cls = type(self).__name__
        if not _is_shape_list(input_shape):
            raise ShapeError(
                f"{cls} '{self.name}' must be called on a list of inputs; received a single shape {input_shape}"
            )
        shapes = [tuple(s) for s in input_shape]
        n, low, high = len(shapes), self.min_inputs, self.max_inputs
        if n < low or (high is not None and n > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            raise ShapeError(
                f"{cls} '{self.name}' needs {wanted} input{'s' if low != 1 else ''}; received {n} "
                f"(shapes {', '.join(str(s) for s in shapes)})"
            )
        return shapes

    def _mismatch(self, what: str, shapes: Sequence[tuple], i: int, j: int) -> ShapeError:
        return ShapeError(
            f"{type(self).__name__} '{self.name}' needs {what}; "
            f"received input {i} {shapes[i]} and input {j} {shapes[j]}"
        )

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} does not implement _merged_shape()")

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple:
        """The output shape for a list of input shapes; ShapeError naming the
        two inputs that do not fit."""
        return tuple(self._merged_shape(self._shape_list(input_shape)))

    # -- computing -------------------------------------------------------------

    def _inputs(self, xs: Any) -> list[np.ndarray]:
        """The forward inputs as arrays of this layer's dtype, after checking their count."""
        if not isinstance(xs, (list, tuple)):
            raise ShapeError(
                f"{type(self).__name__} '{self.name}' must be called on a list of inputs; "
                f"received a single {type(xs).__name__}"
            )
        arrays = [np.asarray(x) for x in xs]
        self._shape_list([a.shape for a in arrays])
        dtype = np.dtype(self.dtype)
        return [a if a.dtype == dtype else a.astype(dtype) for a in arrays]

    def _slot(self, training: bool) -> int:
        """A workspace set for this call while training; -1 (fresh arrays) at inference,
        where the caller may keep the output."""
        return self._ws.acquire() if training else -1

    def _array(self, tag: str, slot: int, shape: tuple, dtype: Any = None) -> np.ndarray:
        if slot < 0:
            return np.empty(shape, dtype or self.dtype)
        return self.buffer((tag, slot), shape, dtype)

    def _bind(self, slot: int, backprop: MergeBackprop) -> MergeBackprop:
        if slot >= 0:
            self._ws.bind(slot, backprop)
        return backprop
