"""Symbolic tensors, Input, and the compiled execution plan of a layer graph.

Calling a layer on symbolic tensors builds it from their shapes and records a
`Node`; nothing is computed. A model walks from its outputs back to its
inputs, orders the nodes, and compiles them into a `Plan`: a flat list of
steps over numbered tensor slots that runs forward in order and backward in
reverse, summing gradients where a tensor feeds several layers. Sequential
and functional models run through the same plan.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layer import Layer, Shape

__all__ = ["SymbolicTensor", "Node", "Input", "InputLayer", "Plan", "call_symbolic", "is_symbolic"]


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

    __slots__ = ("layer", "inputs", "outputs", "multi_input", "multi_output")

    def __init__(self, layer: Layer, inputs: list[SymbolicTensor], multi_input: bool) -> None:
        self.layer = layer
        self.inputs = inputs
        self.outputs: list[SymbolicTensor] = []
        self.multi_input = multi_input
        self.multi_output = False


def is_symbolic(x: Any) -> bool:
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, SymbolicTensor) for t in x)


def call_symbolic(layer: Layer, x: SymbolicTensor | Sequence[SymbolicTensor]) -> Any:
    """Build `layer` for the shapes of `x` and record the call."""
    multi = isinstance(x, (list, tuple))
    inputs = list(x) if multi else [x]
    shapes = [t.shape for t in inputs] if multi else inputs[0].shape
    try:
        out_shape = layer.ensure_built(shapes)
    except ShapeError as exc:
        sources = ", ".join(f"'{t.name}' {t.shape}" for t in inputs)
        raise ShapeError(
            f"Layer '{layer.name}' ({type(layer).__name__}) cannot take {sources}: {exc}"
        ) from None
    node = Node(layer, inputs, multi)
    if isinstance(out_shape, list):
        node.multi_output = True
        node.outputs = [SymbolicTensor(s, layer.dtype, node, i) for i, s in enumerate(out_shape)]
        return list(node.outputs)
    node.outputs = [SymbolicTensor(out_shape, layer.dtype, node, 0)]
    return node.outputs[0]


class InputLayer(Layer):
    """The entry point of a graph: holds the shape of one model input.

    Args:
        shape: one sample's shape, without the batch axis.
        batch_size: optional fixed batch size.
        name, dtype: as for every layer.
    """

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 **kwargs: Any) -> None:
        if shape is None and "batch_input_shape" not in kwargs and "input_shape" not in kwargs:
            raise ConfigError("Input needs a shape: Input(shape=(784,))")
        if shape is not None:
            kwargs["input_shape"] = shape
        super().__init__(batch_size=batch_size, **kwargs)
        self.ensure_built(self.batch_input_shape)

    def forward(self, x: np.ndarray, training: bool = False):
        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            return dy if need_input_grad else None

        return x, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("trainable", None)
        return cfg


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None, name: str | None = None,
          dtype: str | None = None, batch_shape: Sequence[int | None] | None = None) -> SymbolicTensor:
    """A symbolic model input: ``x = Input(shape=(784,))`` as in Keras."""
    if batch_shape is not None:
        layer = InputLayer(batch_input_shape=tuple(batch_shape), name=name, dtype=dtype)
    else:
        layer = InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
    node = Node(layer, [], False)
    node.outputs = [SymbolicTensor(layer.output_shape, layer.dtype, node, 0)]
    return node.outputs[0]


def _makes_mask(layer: Layer) -> bool:
    return callable(getattr(layer, "compute_mask", None))


def is_input_node(node: Node) -> bool:
    return isinstance(node.layer, InputLayer) and not node.inputs


class Plan:
    """The nodes between `inputs` and `outputs`, ordered and compiled to slots.

    Raises ConfigError, naming the layers, for an output that does not
    depend on the inputs, a layer that needs an input the model was not
    given, or an input that no output uses.
    """

    def __init__(self, inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> None:
        self.inputs = inputs
        self.outputs = outputs
        for t in inputs:
            if not is_input_node(t.node):
                raise ConfigError(f"Model inputs must come from Input(); '{t.name}' is the output of a layer")
        self.nodes = self._order(inputs, outputs)
        slot: dict[int, int] = {}
        for t in inputs:
            slot[id(t)] = len(slot)
        for node in self.nodes:
            for t in node.outputs:
                slot[id(t)] = len(slot)
        self.n_slots = len(slot)
        self.input_slots = [slot[id(t)] for t in inputs]
        self.output_slots = [slot[id(t)] for t in outputs]
        input_ids = set(self.input_slots)
        self.steps = [
            (node.layer, tuple(slot[id(t)] for t in node.inputs), tuple(slot[id(t)] for t in node.outputs),
             node.multi_input, node.multi_output, all(slot[id(t)] in input_ids for t in node.inputs))
            for node in self.nodes
        ]
        self._skip_ok: list[bool | None] = [None] * len(self.steps)
        # Masking (padded time steps) costs nothing unless some layer makes a mask.
        self.masking = any(_makes_mask(node.layer) for node in self.nodes)
        self.mask_rules = [(getattr(node.layer, "accepts_mask", False), _makes_mask(node.layer),
                            getattr(node.layer, "supports_masking", False)) for node in self.nodes]

    @staticmethod
    def _order(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list[Node]:
        """Nodes in dependency order (depth-first post-order from the outputs)."""
        given = {id(t) for t in inputs}
        order: list[Node] = []
        state: dict[int, int] = {}  # node id -> 1 visiting, 2 done
        used_inputs: set[int] = set()
        for out in outputs:
            stack: list[tuple[Node, int]] = []
            if id(out) in given:
                used_inputs.add(id(out))
                continue
            if is_input_node(out.node):
                raise ConfigError(
                    f"Output '{out.name}' does not depend on the model's inputs "
                    f"({', '.join(t.name for t in inputs)})"
                )
            stack.append((out.node, 0))
            while stack:
                node, i = stack.pop()
                if i == 0:
                    if state.get(id(node)) == 2:
                        continue
                    if state.get(id(node)) == 1:
                        raise ConfigError(f"The graph has a cycle through layer '{node.layer.name}'")
                    state[id(node)] = 1
                if i < len(node.inputs):
                    stack.append((node, i + 1))
                    t = node.inputs[i]
                    if id(t) in given:
                        used_inputs.add(id(t))
                    elif is_input_node(t.node):
                        raise ConfigError(
                            f"Layer '{node.layer.name}' uses input '{t.name}', which is not one of the "
                            f"model's inputs ({', '.join(x.name for x in inputs)}): the graph is disconnected"
                        )
                    else:
                        stack.append((t.node, 0))
                else:
                    state[id(node)] = 2
                    order.append(node)
        unused = [t.name for t in inputs if id(t) not in used_inputs]
        if unused:
            raise ConfigError(f"Input '{unused[0]}' is not connected to any output of the model")
        return order

    def layers(self) -> list[Layer]:
        """Each distinct layer once, in execution order (inputs first)."""
        seen: dict[int, Layer] = {}
        for t in self.inputs:
            seen.setdefault(id(t.node.layer), t.node.layer)
        for node in self.nodes:
            seen.setdefault(id(node.layer), node.layer)
        return list(seen.values())

    def forward(self, xs: list[np.ndarray], training: bool):
        """Run every step; returns the outputs and their backprop closure."""
        vals: list[Any] = [None] * self.n_slots
        for s, x in zip(self.input_slots, xs):
            vals[s] = x
        backprops = []
        if self.masking:
            backprops = self._forward_masked(vals, training)
        else:
            for layer, ins, outs, multi_in, multi_out, _ in self.steps:
                y, bp = layer.forward([vals[i] for i in ins] if multi_in else vals[ins[0]], training)
                if multi_out:
                    for s, v in zip(outs, y):
                        vals[s] = v
                else:
                    vals[outs[0]] = y
                backprops.append(bp)
        ys = [vals[s] for s in self.output_slots]

        def backprop(dys: list[np.ndarray]) -> None:
            grads: list[Any] = [None] * self.n_slots
            for s, g in zip(self.output_slots, dys):
                grads[s] = g if grads[s] is None else grads[s] + g
            for k in range(len(self.steps) - 1, -1, -1):
                layer, ins, outs, multi_in, multi_out, from_inputs = self.steps[k]
                if multi_out:
                    if all(grads[s] is None for s in outs):
                        continue
                    dy = [np.zeros_like(vals[s]) if grads[s] is None else grads[s] for s in outs]
                else:
                    dy = grads[outs[0]]
                    if dy is None:
                        continue
                if from_inputs:
                    self._call_without_dx(k, backprops[k], dy)
                    continue
                dx = backprops[k](dy)
                for s, g in (zip(ins, dx) if multi_in else ((ins[0], dx),)):
                    if g is not None:
                        grads[s] = g if grads[s] is None else grads[s] + g

        return ys, backprop

    def _forward_masked(self, vals: list, training: bool) -> list:
        """The forward pass when some layer makes a mask (Embedding(mask_zero=True)...).

        A layer with ``accepts_mask = True`` gets ``forward(x, training, mask=m)``;
        its output mask is ``compute_mask(x, m)`` when it defines one, the input's
        mask when ``supports_masking`` is set, and no mask otherwise.
        """
        masks: list[Any] = [None] * self.n_slots
        backprops = []
        for (layer, ins, outs, multi_in, multi_out, _), (accepts, makes, passes) in zip(self.steps, self.mask_rules):
            x = [vals[i] for i in ins] if multi_in else vals[ins[0]]
            m = [masks[i] for i in ins] if multi_in else masks[ins[0]]
            has_mask = any(v is not None for v in m) if multi_in else m is not None
            if accepts and has_mask:
                y, bp = layer.forward(x, training, mask=m)
            else:
                y, bp = layer.forward(x, training)
            out_mask = layer.compute_mask(x, m) if makes else (m if passes and not multi_in else None)
            for k, s in enumerate(outs):
                vals[s] = y[k] if multi_out else y
                masks[s] = out_mask[k] if multi_out and isinstance(out_mask, list) else out_mask
            backprops.append(bp)
        self.last_masks = [masks[s] for s in self.output_slots]
        return backprops

    def _call_without_dx(self, k: int, bp: Any, dy: Any) -> None:
        skip = self._skip_ok[k]
        if skip is None:
            from corelib.training import accepts_keyword

            skip = self._skip_ok[k] = accepts_keyword(bp, "need_input_grad")
        if skip:
            bp(dy, need_input_grad=False)
        else:
            bp(dy)
