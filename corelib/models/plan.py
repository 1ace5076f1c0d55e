"""The compiled execution plan of a layer graph.

A model walks from its outputs back to its inputs, orders the nodes, and
compiles them into a `Plan`: a flat list of steps over numbered tensor slots
that runs forward in order and backward in reverse, summing gradients where a
tensor feeds several layers. Sequential and functional models run through the
same plan.

As Keras autocasts, a layer receives its floating-point inputs in its own
dtype: a float32 layer after a float64 one gets float32 input, and the
gradient it returns is cast back to float64 for the layer before.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from corelib.errors import ConfigError
from corelib.layers.base import Layer
from corelib.layers.input_layer import is_input_node
from corelib.layers.symbolic import Node, SymbolicTensor

__all__ = ["Plan", "accepts_keyword"]


def accepts_keyword(func: Any, name: str) -> bool:
    """Whether `func` takes the keyword argument `name` (checked once per layer, not per step)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _makes_mask(layer: Layer) -> bool:
    return callable(getattr(layer, "compute_mask", None))


def _input_dtype(layer: Layer) -> str | None:
    """The dtype a step casts the layer's float inputs to; None for a layer that takes them as
    they come: one that reads integer ids, or a model (whose own plan casts for its layers)."""
    is_model = hasattr(layer, "connections") and hasattr(layer, "layers")
    if getattr(layer, "accepts_integer_input", False) or is_model:
        return None
    return layer.dtype


def _cast_inputs(x: Any, dtype: str, multi: bool) -> tuple[Any, Any]:
    """(x with its float arrays in `dtype`, what `_uncast` needs to give the gradients the
    original dtypes back, or None when nothing was cast)."""
    if not multi:
        return (x.astype(dtype), x.dtype) if _other_float(x, dtype) else (x, None)
    if not any(_other_float(v, dtype) for v in x):
        return x, None
    originals = [v.dtype if _other_float(v, dtype) else None for v in x]
    return [v if o is None else v.astype(dtype) for v, o in zip(x, originals)], originals


def _other_float(x: Any, dtype: str) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.dtype != dtype


def _uncast(dx: Any, originals: Any, multi: bool) -> Any:
    """The input gradients `dx` in the dtypes their inputs had before `_cast_inputs`."""
    if not multi:
        return dx if dx is None else dx.astype(originals, copy=False)
    return [g if g is None or o is None else g.astype(o, copy=False) for g, o in zip(dx, originals)]


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
        # a call made with training=True/False keeps that mode whatever the step's
        self.fixed_modes = [node.training for node in self.nodes]
        self.has_fixed_modes = any(m is not None for m in self.fixed_modes)
        self._skip_ok: list[bool | None] = [None] * len(self.steps)
        # Masking (padded time steps) costs nothing unless some layer makes a mask.
        self.masking = any(_makes_mask(node.layer) for node in self.nodes)
        self.mask_rules = [(getattr(node.layer, "accepts_mask", False), _makes_mask(node.layer),
                            getattr(node.layer, "supports_masking", False)) for node in self.nodes]
        self.input_dtypes = [_input_dtype(node.layer) for node in self.nodes]

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

    def output_shapes(self, input_shapes: list[tuple]) -> list[tuple]:
        """Each output's shape for inputs of `input_shapes` (batch axis first), from the layers'
        `compute_output_shape` alone: nothing is computed. A dimension no layer can tell is None."""
        shapes: dict[int, tuple] = {id(t): tuple(s) for t, s in zip(self.inputs, input_shapes)}
        for node in self.nodes:
            ins = [shapes[id(t)] for t in node.inputs]
            out = node.layer.compute_output_shape(ins if node.multi_input else ins[0])
            for t, shape in zip(node.outputs, out if node.multi_output else [out]):
                shapes[id(t)] = tuple(shape)
        return [shapes[id(t)] for t in self.outputs]

    def forward(self, xs: list[np.ndarray], training: bool):
        """Run every step; returns the outputs and their backprop closure."""
        vals: list[Any] = [None] * self.n_slots
        for s, x in zip(self.input_slots, xs):
            vals[s] = x
        backprops: list = []
        casts: list = [None] * len(self.steps)  # per step: the input dtypes before a cast, if one was made
        if self.masking:
            backprops = self._forward_masked(vals, training, casts)
        else:
            modes = self._modes(training)
            for k, ((layer, ins, outs, multi_in, multi_out, _), mode, dtype) in enumerate(
                    zip(self.steps, modes, self.input_dtypes)):
                x = [vals[i] for i in ins] if multi_in else vals[ins[0]]
                if dtype is not None:
                    x, casts[k] = _cast_inputs(x, dtype, multi_in)
                y, bp = layer.forward(x, mode)
                if multi_out:
                    for s, v in zip(outs, y):
                        vals[s] = v
                else:
                    vals[outs[0]] = y
                backprops.append(bp)
        ys = [vals[s] for s in self.output_slots]

        def backprop(dys: list[np.ndarray], need_input_grad: bool = False) -> list[np.ndarray] | None:
            """Add every weight's gradient into its .grad; with `need_input_grad` (a model used as
            a layer of another), also return the gradient of each input (zeros where none flows)."""
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
                if from_inputs and not need_input_grad:
                    self._call_without_dx(k, backprops[k], dy)
                    continue
                dx = backprops[k](dy)
                if casts[k] is not None:
                    dx = _uncast(dx, casts[k], multi_in)
                for s, g in (zip(ins, dx) if multi_in else ((ins[0], dx),)):
                    if g is not None:
                        grads[s] = g if grads[s] is None else grads[s] + g
            if not need_input_grad:
                return None
            return [np.zeros_like(xs[i]) if grads[s] is None else grads[s] for i, s in enumerate(self.input_slots)]

        return ys, backprop

    def _forward_masked(self, vals: list, training: bool, casts: list) -> list:
        """The forward pass when some layer makes a mask (Embedding(mask_zero=True)...).

        A layer with ``accepts_mask = True`` gets ``forward(x, training, mask=m)``;
        its output mask is ``compute_mask(x, m)`` when it defines one, the input's
        mask when ``supports_masking`` is set, and no mask otherwise.
        """
        masks: list[Any] = [None] * self.n_slots
        backprops = []
        for k, ((layer, ins, outs, multi_in, multi_out, _), (accepts, makes, passes), training, dtype) in enumerate(
                zip(self.steps, self.mask_rules, self._modes(training), self.input_dtypes)):
            x = [vals[i] for i in ins] if multi_in else vals[ins[0]]
            if dtype is not None:
                x, casts[k] = _cast_inputs(x, dtype, multi_in)
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

    def _modes(self, training: bool) -> Any:
        """Each step's training flag: the step's, or the one its call fixed."""
        if not self.has_fixed_modes:
            return [training] * len(self.steps)
        return [training if m is None else m for m in self.fixed_modes]

    def _call_without_dx(self, k: int, bp: Any, dy: Any) -> None:
        skip = self._skip_ok[k]
        if skip is None:
            skip = self._skip_ok[k] = accepts_keyword(bp, "need_input_grad")
        if skip:
            bp(dy, need_input_grad=False)
        else:
            bp(dy)
