"""The Layer base class (Parameter, the unit of trainable state, is in `parameter`).

A layer knows its configuration, creates its weights once it has seen its
input shape, and computes forward and backward:

    build(input_shape)                 create Parameters with add_weight(...)
    compute_output_shape(input_shape)  shape inference; raise on incompatible input
    forward(x, training) -> (y, backprop)
        backprop(dy) -> dx             adds into each Parameter's .grad
    get_config() / from_config(cfg)    JSON-safe, enough to rebuild the layer

Shapes passed to `build` and `compute_output_shape` are full shapes with
the batch axis first and given as ``None``: ``(None, 784)``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Sequence

import numpy as np

from corelib import config, validation
from corelib.errors import ConfigError, ShapeError, short_repr
from corelib.layers.parameter import Parameter, checked_weight_arrays, new_parameter, shapes_only, weight_budget
from corelib.layers.symbolic import call_symbolic, check_name, is_symbolic
from corelib.registry.entries import snake_case

__all__ = ["Layer", "Parameter", "Shape", "snake_case", "reset_name_counters", "weight_budget", "shapes_only"]

Shape = tuple  # a full shape, batch axis first as None: (None, 28, 28, 1)
Backprop = Callable[[np.ndarray], np.ndarray]

_NAME_COUNTS: dict[str, int] = defaultdict(int)


def reset_name_counters() -> None:
    """Start automatic layer names afresh ("dense", "dense_1", ...)."""
    _NAME_COUNTS.clear()


def _unique_name(base: str) -> str:
    n = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if n == 0 else f"{base}_{n}"


class Layer:
    """Base class of every layer, built-in or from a plugin.

    Args:
        name: unique name; derived from the class name when omitted.
        input_shape: shape of one sample (no batch axis), for the first layer
            of a model: ``input_shape=(784,)``.
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        batch_size: fixes the batch axis of ``input_shape`` (rarely needed).
        dtype: "float32" (the default, see `corelib.config.floatx`) or "float64".
        trainable: whether the optimizer updates this layer's weights.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        input_shape: Sequence[int | None] | None = None,
        input_dim: int | None = None,
        batch_size: int | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        dtype: str | None = None,
        trainable: bool = True,
        **unknown: Any,
    ) -> None:
        cls = type(self).__name__
        if unknown:
            raise ConfigError(
                f"{cls} got unrecognized keyword arguments: {sorted(unknown)}. "
                f"Received: {', '.join(f'{k}={short_repr(v)}' for k, v in unknown.items())}"
            )
        self.name = _unique_name(snake_case(cls)) if name is None else name
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:  # a string is no shape, though tuple() would take it
            self.batch_input_shape: tuple | None = validation.shape(
                batch_input_shape, "batch_input_shape", f"{cls} '{self.name}'", maximum=validation.MAX_SIZE)
            if not self.batch_input_shape:
                raise ConfigError(f"{cls} '{self.name}': batch_input_shape needs the batch axis at least. "
                                  f"Received: batch_input_shape={short_repr(batch_input_shape)}")
        elif input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (int(input_shape),)
            try:
                if isinstance(input_shape, (str, bytes)) or any(isinstance(d, (str, bytes)) for d in input_shape):
                    raise TypeError("a string is not a shape")
                dims = tuple(None if d is None else int(d) for d in input_shape)
            except (TypeError, ValueError, OverflowError):
                raise ConfigError(
                    f"{cls} '{self.name}': input_shape must be a tuple of ints. "
                    f"Received: input_shape={short_repr(input_shape)}"
                ) from None
            if any(d is not None and d <= 0 for d in dims):
                raise ConfigError(
                    f"{cls} '{self.name}': input_shape dimensions must be positive. "
                    f"Received: input_shape={short_repr(input_shape)}"
                )
            if any(d is not None and d > validation.MAX_SIZE for d in dims):
                raise ConfigError(
                    f"{cls} '{self.name}': input_shape dimensions must be at most {validation.MAX_SIZE}. "
                    f"Received: input_shape={short_repr(input_shape)}"
                )
            self.batch_input_shape = (batch_size,) + dims
        else:
            self.batch_input_shape = None
        if dtype is not None and np.dtype(dtype).name not in ("float32", "float64"):
            raise ConfigError(f"{cls} '{self.name}': dtype must be float32 or float64. Received: dtype={dtype!r}")
        self._dtype = None if dtype is None else np.dtype(dtype).name
        self._trainable = bool(trainable)
        self._inbound_nodes: list = []  # the symbolic calls of this layer, oldest first
        self.built = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self._params: list[Parameter] = []
        self._buffers: dict[tuple, np.ndarray] = {}

    # -- configuration ---------------------------------------------------

    @property
    def name(self) -> str:
        """Unique within a model; it keys the layer's weights in files ("dense/kernel")."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = check_name(value, type(self).__name__)

    @property
    def dtype(self) -> str:
        return self._dtype or config.floatx()

    # Whether this layer takes integer tensors (Embedding's ids); the others need floats and a
    # graph that feeds them an integer Input is refused when it is composed.
    accepts_integer_input = False

    @property
    def trainable(self) -> bool:
        """Whether the optimizer updates this layer's weights. Setting it sets it on every
        sublayer too (a wrapper's inner layer, a nested model's layers), as in Keras."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for sub in self._sublayers():
            sub.trainable = value

    def _sublayers(self) -> list["Layer"]:
        """The layers this one is made of (none for a plain layer; a wrapper's inner layer)."""
        return [v for v in vars(self).values() if isinstance(v, Layer)]

    # -- graph -----------------------------------------------------------------

    def _node_tensors(self, attr: str) -> Any:
        if not self._inbound_nodes:
            raise ConfigError(
                f"Layer '{self.name}' has never been called on a symbolic tensor, so it has no defined "
                f"{attr}: call it on Input(...) first (or use a model's .{attr})"
            )
        node = self._inbound_nodes[0]
        tensors = node.inputs if attr == "input" else node.outputs
        if attr == "input":
            return list(tensors) if node.multi_input else tensors[0]
        return list(tensors) if node.multi_output else tensors[0]

    @property
    def input(self) -> Any:
        """The symbolic tensor(s) of this layer's first call (Keras's ``layer.input``)."""
        return self._node_tensors("input")

    @property
    def output(self) -> Any:
        """The symbolic tensor(s) this layer's first call returned (Keras's ``layer.output``)."""
        return self._node_tensors("output")

    def get_rng_state(self) -> dict | None:
        """The state of a random generator this layer keeps for itself (a seeded Dropout), or None.

        A checkpoint stores it and data-parallel training hands the chief's to
        every replica, so a resumed run draws the same masks. Layers that draw
        from `corelib.config.rng()` (the common case) keep none."""
        return None

    def set_rng_state(self, state: dict) -> None:
        """Put back what `get_rng_state` returned."""

    def get_config(self) -> dict:
        """JSON-safe arguments that rebuild this layer with `from_config`."""
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self.batch_input_shape)
        return cfg

    @classmethod
    def from_config(cls, cfg: dict) -> "Layer":
        return cls(**cfg)

    # -- shapes and building -------------------------------------------------

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for `input_shape`; raise ShapeError when it does not fit.

        The message of the ShapeError says what this layer expects, e.g.
        "Dense expects an input of rank >= 2, received rank 1".
        """
        return tuple(input_shape)

    def build(self, input_shape: Shape) -> None:
        """Create the weights for `input_shape`. Stateless layers need nothing."""

    def ensure_built(self, input_shape: Shape | list[Shape]) -> Shape | list[Shape]:
        """Check `input_shape`, build on first use, and return the output shape.

        A layer with several inputs receives a list of shapes; one with
        several outputs returns a list of shapes.
        """
        input_shape = _as_shapes(input_shape)
        if self.built and self.input_shape is not None:
            if not _shapes_agree(self.input_shape, input_shape):
                raise ShapeError(
                    f"{type(self).__name__} '{self.name}' was built for input shape "
                    f"{self.input_shape}, received shape {input_shape}"
                )
            return self.output_shape
        output_shape = _as_shapes(self.compute_output_shape(input_shape))
        self.build(input_shape)
        self.input_shape = _batchless(input_shape)
        self.output_shape = _batchless(output_shape)
        self.built = True
        return self.output_shape

    # -- weights -------------------------------------------------------------

    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "glorot_uniform",
        regularizer: Any = None,
        trainable: bool = True,
    ) -> Parameter:
        """Create, initialize and track a Parameter of this layer."""
        param = new_parameter(self, name, tuple(shape), initializer, regularizer, trainable)
        self._params.append(param)
        return param

    @property
    def weights(self) -> list[Parameter]:
        return list(self._params)

    @property
    def trainable_weights(self) -> list[Parameter]:
        return [p for p in self._params if p.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        if not self.trainable:
            return list(self._params)
        return [p for p in self._params if not p.trainable]

    def count_params(self) -> int:
        return int(sum(p.value.size for p in self._params))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras's order (Dense: kernel, then bias)."""
        return [p.value.copy() for p in self._params]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace the weights, in `get_weights()` order; all or nothing (see `checked_weight_arrays`)."""
        arrays = checked_weight_arrays(f"{type(self).__name__} '{self.name}'", self._params, weights)
        for p, arr in zip(self._params, arrays):
            p.value[...] = arr

    # -- computing -----------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False) -> tuple[np.ndarray, Backprop]:
        """Compute the output and a closure mapping the output gradient to the input's."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        """Apply the layer to arrays, or to symbolic tensors to build a graph.

        On arrays (a list of them for a layer with several inputs) it builds
        the layer on first call and returns the output. On the symbolic
        tensors of `corelib.Input` it records a call and returns symbolic
        outputs (see `corelib.layers.symbolic`).
        """
        if is_symbolic(x):
            return call_symbolic(self, x, training)
        training = bool(training)
        if isinstance(x, (list, tuple)):
            xs = [self._as_input(v) for v in x]
            self.ensure_built([(None,) + v.shape[1:] for v in xs])
            y, _ = self.forward(xs, training)
            return [np.array(v) for v in y] if isinstance(y, (list, tuple)) else np.array(y)
        x = self._as_input(x)
        self.ensure_built((None,) + x.shape[1:])
        y, _ = self.forward(x, training)
        return [np.array(v) for v in y] if isinstance(y, (list, tuple)) else np.array(y)

    def _as_input(self, x: Any) -> np.ndarray:
        """An array argument in this layer's dtype; integer ids stay exact where the layer takes them."""
        x = np.asarray(x)
        if self.accepts_integer_input and x.dtype.kind in "iu":
            return x
        return x.astype(self.dtype, copy=False)

    def buffer(self, tag: str, shape: tuple, dtype: Any = None) -> np.ndarray:
        """A workspace array reused across steps with the same shape.

        Fresh large arrays cost a page fault per 4 KiB on first touch; a layer
        keeps its workspaces for a given batch shape instead. The contents are
        garbage: the caller must overwrite them.
        """
        dtype = np.dtype(dtype or self.dtype)
        key = (tag, shape, dtype.char)
        buf = self._buffers.get(key)
        if buf is None:
            # Only the latest shape per tag is kept, so a ragged last batch
            # does not pin a second copy of every workspace.
            for old in [k for k in self._buffers if k[0] == tag]:
                del self._buffers[old]
            buf = self._buffers[key] = np.empty(shape, dtype)
        return buf

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"

    def __getstate__(self) -> dict:  # buffers are scratch space, never worth copying
        state = self.__dict__.copy()
        state["_buffers"] = {}
        state["_inbound_nodes"] = []  # graph records point at other layers: never copied along
        return state


def _as_shapes(shape: Any) -> Shape | list[Shape]:
    """A tuple for one shape, a list of tuples for several."""
    if isinstance(shape, list) and shape and all(isinstance(s, (tuple, list)) for s in shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _batchless(shape: Shape | list[Shape]) -> Shape | list[Shape]:
    if isinstance(shape, list):
        return [(None,) + tuple(s)[1:] for s in shape]
    return (None,) + tuple(shape)[1:]


def _shapes_agree(built: Shape | list[Shape], received: Shape | list[Shape]) -> bool:
    if isinstance(built, list) or isinstance(received, list):
        if not (isinstance(built, list) and isinstance(received, list)) or len(built) != len(received):
            return False
        return all(_shapes_agree(a, b) for a, b in zip(built, received))
    if len(built) != len(received):
        return False
    return all(a is None or b is None or a == b for a, b in zip(built[1:], received[1:]))
