"""Parameter, the unit of trainable state, and how layers create and replace them.

`new_parameter` is what `Layer.add_weight` does: it counts the bytes against
the innermost `weight_budget` (a model file's layers, a spec's on this
machine) and, inside `shapes_only`, gives a placeholder that takes no memory.
`checked_weight_arrays` is the all-or-nothing check behind every
`set_weights`: each array is validated before any weight is written.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from corelib import initializers
from corelib.errors import ConfigError, DataError, ShapeError, short_repr

if TYPE_CHECKING:
    from corelib.layers.base import Layer

__all__ = ["Parameter", "checked_weight_arrays", "new_parameter", "shapes_only", "weight_budget"]


_BUDGET: list[int] = []
_BUDGET_NAMES: list[str] = []


@contextmanager
def weight_budget(nbytes: int, what: str = "allowed here") -> Iterator[None]:
    """Refuse to create weights beyond `nbytes` in all while the block runs.

    Loading a model file builds its layers inside a budget equal to the
    weights the file actually holds, so a config that declares enormous
    layers is refused before anything is allocated. `what` ends the refusal's
    message: "... more than the N bytes {what}".
    """
    _BUDGET.append(int(nbytes))
    _BUDGET_NAMES.append(what)
    try:
        yield
    finally:
        _BUDGET.pop()
        _BUDGET_NAMES.pop()


_SHAPES_ONLY: list[bool] = []


@contextmanager
def shapes_only() -> Iterator[None]:
    """Build layers for their shapes and parameter counts only, allocating no weights.

    Inside the block `add_weight` gives every Parameter a read-only placeholder
    of the right shape and dtype that takes no memory (`Parameter.placeholder`):
    output shapes, `count_params` and `summary` work, and `dl compose` of a
    ``Dense(50_000_000)`` costs what a ``Dense(5)`` does. Such a model cannot be
    trained or take weights; build another one to do that.
    """
    _SHAPES_ONLY.append(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.pop()


class Parameter:
    """A weight tensor with its gradient.

    Attributes:
        value: the weights, an ndarray owned by the layer.
        grad: same shape and dtype as `value`; backprop adds into it. After
            `zero_grad` it reads as zeros, but is not written until it is read
            or until a kernel claims it with `grad_for_write` and overwrites it
            (so a step's first gradient costs no separate zeroing pass).
        name: stable name within the layer ("kernel", "bias").
        trainable: whether optimizers update it (moving statistics are not).
        regularizer: an optional penalty object with ``__call__(value)`` and
            ``gradient(value)``.
    """

    __slots__ = ("value", "_grad", "_grad_unset", "name", "trainable", "regularizer", "layer")

    def __init__(
        self,
        value: np.ndarray,
        name: str,
        trainable: bool = True,
        regularizer: Any = None,
        layer: Layer | None = None,
    ) -> None:
        self.value = np.ascontiguousarray(value)
        self._grad = np.zeros_like(self.value)
        self._grad_unset = False
        self.name = name
        self.trainable = trainable
        self.regularizer = regularizer
        self.layer = layer

    @classmethod
    def placeholder(cls, shape: tuple, dtype: str, name: str, trainable: bool = True, regularizer: Any = None,
                    layer: Layer | None = None) -> Parameter:
        """A Parameter whose value and grad are one read-only zero broadcast to `shape`: it has the
        shape, size and dtype of the real weight and takes no memory (see `shapes_only`)."""
        param = cls.__new__(cls)
        param.value = param._grad = np.broadcast_to(np.zeros((), dtype), shape)
        param._grad_unset = False
        param.name, param.trainable, param.regularizer, param.layer = name, trainable, regularizer, layer
        return param

    @property
    def grad(self) -> np.ndarray:
        """The gradient; zeros (written now) when `zero_grad` was the last to touch it."""
        if self._grad_unset:
            self.settle_grad()
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        self._grad = value
        self._grad_unset = False

    def zero_grad(self) -> None:
        """Make the gradient zero, lazily: nothing is written until it is read or claimed."""
        self._grad_unset = True

    def settle_grad(self) -> None:
        """Write the zeros `zero_grad` promised, if nothing has written the gradient since
        (before reading the gradient's memory other than through `grad`)."""
        if self._grad_unset:
            self._grad.fill(0)
            self._grad_unset = False

    def grad_for_write(self) -> tuple[np.ndarray, bool]:
        """The gradient array for a kernel to add into, and whether it must add (True) or
        overwrite every element (False: the gradient was zeroed and not yet written)."""
        if self._grad_unset:
            self._grad_unset = False
            return self._grad, False
        return self._grad, True

    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def path(self) -> str:
        """"dense_1/kernel": unique within a model."""
        return f"{self.layer.name}/{self.name}" if self.layer is not None else self.name

    def __repr__(self) -> str:
        return f"<Parameter {self.path} shape={self.value.shape} dtype={self.value.dtype}>"


def new_parameter(layer: Layer, name: str, shape: tuple, initializer: Any, regularizer: Any,
                  trainable: bool) -> Parameter:
    """A new, initialized Parameter of `layer`, counted against the weight budget in force."""
    nbytes = np.dtype(layer.dtype).itemsize
    for d in shape:
        nbytes *= int(d)
    where = f"{type(layer).__name__} '{layer.name}': weight '{name}' of shape {shape} needs {nbytes} bytes"
    if _BUDGET:
        if nbytes > _BUDGET[-1]:  # a ConfigError: the layer's arguments are too big, whatever its input
            raise ConfigError(f"{where}, more than the {_BUDGET[-1]} bytes {_BUDGET_NAMES[-1]}")
        _BUDGET[-1] -= nbytes
    if _SHAPES_ONLY:
        return Parameter.placeholder(shape, layer.dtype, name, trainable, regularizer, layer)
    init = initializers.get(initializer)
    try:
        value = np.asarray(init(shape, layer.dtype), dtype=layer.dtype)
        return Parameter(value, name, trainable=trainable, regularizer=regularizer, layer=layer)
    except MemoryError:  # a user's layer size, not a bug: refused as the budget refuses it
        raise ConfigError(f"{where} (and as much again for its gradient), more than this machine "
                          f"can allocate") from None


def checked_weight_arrays(owner: str, params: Sequence[Parameter], weights: Any) -> list[np.ndarray]:
    """`weights` as arrays for `params`, every one checked before any is written: a list of
    the right length, each numeric, castable to its weight's dtype, of its shape and finite.

    Args:
        owner: names the layer or model in messages ("Model 'm'").
        params: the weights to replace, in `get_weights()` order.
        weights: what the caller passed to `set_weights`.
    """
    if weights is None or isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
        raise DataError(f"{owner}: set_weights takes a list of arrays, as get_weights() returns. "
                        f"Received: {short_repr(weights)}")
    weights = list(weights)
    if len(weights) != len(params):
        raise DataError(f"{owner} has {len(params)} weight arrays, received {len(weights)}")
    arrays = []
    for i, (p, w) in enumerate(zip(params, weights)):
        where = f"{owner}: set_weights array {i} (weight '{p.path}')"
        try:
            arr = np.asarray(w)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where} is not an array: {exc}") from None
        if arr.dtype.kind not in "biuf" or not np.can_cast(arr.dtype, p.value.dtype, casting="same_kind"):
            received = "None" if w is None else f"dtype {arr.dtype}"
            raise DataError(f"{where} must be numeric and convertible to {p.value.dtype}, received {received}")
        if arr.shape != p.value.shape:
            raise ShapeError(f"{where} must have shape {p.value.shape}, received an array of shape {arr.shape}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise DataError(f"{where} contains NaN or infinite values")
        arrays.append(arr)
    return arrays
