"""Symbolic tensors: what calling a layer on `Input`s returns, and the call records they hold.

Calling a layer on symbolic tensors builds it from their shapes and records a
`Node`; nothing is computed. A model walks from its outputs back to its
inputs, orders the nodes, and compiles them into a `Plan`: a flat list of
steps over numbered tensor slots that runs forward in order and backward in
reverse, summing gradients where a tensor feeds several layers. Sequential
and functional models run through the same plan.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, Sequence

from corelib.errors import ConfigError, ShapeError, short_repr

if TYPE_CHECKING:  # the layer protocol imports this module to record calls
    from corelib.layers.base import Layer, Shape

__all__ = ["SymbolicTensor", "Node", "call_symbolic", "is_symbolic", "check_name", "MAX_NAME_LENGTH"]

# A name keys its layer's weights in a model file ("dense/kernel", also an entry of the zip
# archive) and its tensors ("dense:1", the second output): 255 characters, as a file name.
MAX_NAME_LENGTH = 255
_RESERVED_CHARACTERS = ("\\", ":")


def check_name(name: Any, owner: str) -> str:
    """`name` when a layer or model may carry it; else a ConfigError naming `owner`.

    A name holds no "\\" or ":" (path and tensor separators), control characters or unpaired
    surrogates, and is not empty. Keras refuses "/" altogether; dl lets a layer made of other
    layers name them "<its name>/<part>", as their weights' paths read, so "/" may separate
    parts, none of them empty, "." or "..". Every name accepted is one that a model file and
    a weights file store and read back unchanged.
    """
    if not isinstance(name, str) or not name:
        problem = "must be a non-empty string"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"must be at most {MAX_NAME_LENGTH} characters (it has {len(name)})"
    elif any(part in ("", ".", "..") for part in name.split("/")):
        problem = "cannot be '.' or '..', nor start or end with '/', nor have an empty, '.' or '..' part between '/'"
    else:
        bad = next((c for c in name if c in _RESERVED_CHARACTERS or unicodedata.category(c) in ("Cc", "Cs")), None)
        if bad is None:
            return name
        problem = f"cannot contain {bad!r} (no '\\' or ':', no control characters)"
    raise ConfigError(f"{owner}: name {problem}. Received: name={short_repr(name)}")


class SymbolicTensor:
    """The placeholder a layer returns when called on `Input`s.

    Attributes:
        shape: full shape with the batch axis as None.
        node: the call that produced it.
        index: which output of that call (0 unless the layer has several).
    """

    __slots__ = ("shape", "dtype", "node", "index")

    def __init__(self, shape: Shape, dtype: str, node: "Node", index: int = 0) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index

    @property
    def name(self) -> str:
        layer = self.node.layer
        return layer.name if len(self.node.outputs) <= 1 else f"{layer.name}:{self.index}"

    def __repr__(self) -> str:
        return f"<SymbolicTensor {self.name} shape={self.shape}>"


class Node:
    """One call of a layer on symbolic tensors."""

    __slots__ = ("layer", "inputs", "outputs", "multi_input", "multi_output", "training")

    def __init__(self, layer: Layer, inputs: list[SymbolicTensor], multi_input: bool,
                 training: bool | None = None) -> None:
        self.layer = layer
        self.inputs = inputs
        self.outputs: list[SymbolicTensor] = []
        self.multi_input = multi_input
        self.multi_output = False
        # None: the layer follows each step's mode; True / False: fixed by the call, as Keras's
        # ``base(x, training=False)`` keeps a frozen base in inference mode while the rest trains.
        self.training = training


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def is_symbolic(x: Any) -> bool:
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, SymbolicTensor) for t in x)


def call_symbolic(layer: Layer, x: SymbolicTensor | Sequence[SymbolicTensor], training: bool | None = None) -> Any:
    """Build `layer` for the shapes of `x` and record the call (with its fixed `training`, if any)."""
    multi = isinstance(x, (list, tuple))
    inputs = list(x) if multi else [x]
    if not getattr(layer, "accepts_integer_input", False):
        ints = [t for t in inputs if t.dtype is not None and not _is_float(t.dtype)]
        if ints:
            raise ShapeError(
                f"Layer '{layer.name}' ({type(layer).__name__}) needs floating-point input, but "
                f"'{ints[0].name}' is {ints[0].dtype}: integer inputs go into an Embedding (or cast the data "
                "and use a float Input)"
            )
    shapes = [t.shape for t in inputs] if multi else inputs[0].shape
    try:
        out_shape = layer.ensure_built(shapes)
    except ShapeError as exc:
        sources = ", ".join(f"'{t.name}' {t.shape}" for t in inputs)
        raise ShapeError(
            f"Layer '{layer.name}' ({type(layer).__name__}) cannot take {sources}: {exc}"
        ) from None
    node = Node(layer, inputs, multi, None if training is None else bool(training))
    nodes = getattr(layer, "_inbound_nodes", None)
    if nodes is not None:
        nodes.append(node)
    if isinstance(out_shape, list):
        node.multi_output = True
        node.outputs = [SymbolicTensor(s, layer.dtype, node, i) for i, s in enumerate(out_shape)]
        return list(node.outputs)
    node.outputs = [SymbolicTensor(out_shape, layer.dtype, node, 0)]
    return node.outputs[0]
