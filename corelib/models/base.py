"""BaseModel: a graph of layers that trains, predicts and saves itself, and is a layer itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layers.base import Layer, Shape, _unique_name
from corelib.layers.symbolic import check_name, is_symbolic
from corelib.models.container import LayerContainer
from corelib.models.model_io import ModelIO
from corelib.trainers.trainer import Trainer

__all__ = ["BaseModel"]


class BaseModel(Trainer, ModelIO, LayerContainer, Layer):
    """Base class of `Model` and `Sequential`: training (`Trainer`), files and
    summaries (`ModelIO`), weights and layer lookup (`LayerContainer`), and the
    layer protocol (`Layer`), so a model can be a layer of another model:

        base = Sequential([...])
        model = Sequential([base, layers.Dense(10)])      # or y = base(x, training=False)

    A subclass supplies the graph: `layers`, the input and output names,
    `_build_for`, `_forward`, `_input_shapes` and `_pack_outputs`.

    Attributes:
        saved_class_name: the class a model file records for this model.
    """

    saved_class_name = "Model"

    def __init__(self, name: str | None = None, default_name: str = "model") -> None:
        Trainer.__init__(self, _unique_name(default_name) if name is None else check_name(name, type(self).__name__))
        # The layer side; shapes and `built` come from the graph, so Layer.__init__ is not run.
        self._dtype = None
        self._trainable = True
        self._inbound_nodes: list = []
        self._params: list = []
        self._buffers: dict = {}
        self.batch_input_shape = None

    # -- as a layer ------------------------------------------------------------------

    def _sublayers(self) -> list[Layer]:
        return list(self.layers)

    def get_rng_state(self) -> dict | None:
        """The random states of the layers inside (a seeded Dropout in a nested model), or None."""
        states = {str(i): s for i, layer in enumerate(self.layers) if (s := layer.get_rng_state()) is not None}
        return {"layers": states} if states else None

    def set_rng_state(self, state: dict) -> None:
        for key, value in (state.get("layers") or {}).items() if isinstance(state, dict) else ():
            if key.isdigit() and int(key) < len(self.layers):
                self.layers[int(key)].set_rng_state(value)

    def ensure_built(self, input_shape: Shape | list[Shape]) -> Shape | list[Shape]:
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, list) else [tuple(input_shape)]
        if not self.built:
            self._build_for(shapes)
        expected = self._input_shapes() or []
        if len(expected) != len(shapes) or any(
                len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a[1:], b[1:]))
                for a, b in zip(expected, shapes)):
            got = shapes[0] if len(shapes) == 1 else shapes
            raise ShapeError(f"model '{self.name}' expects input of shape "
                             f"{expected[0] if len(expected) == 1 else expected}, received {got}")
        outs = [t.shape for t in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    @property
    def input(self) -> Any:
        """The model's input tensor (a list when it has several), as Keras's ``model.input``."""
        return self._own_tensors("inputs")

    @property
    def output(self) -> Any:
        """The model's output tensor (a list when it has several)."""
        return self._own_tensors("outputs")

    def _own_tensors(self, attr: str) -> Any:
        tensors = getattr(self, attr, None) if self.built else None
        if not tensors:
            raise ConfigError(f"model '{self.name}' is not built yet, so it has no {attr[:-1]}: "
                              "give its first layer an input_shape, or build it")
        return tensors[0] if len(tensors) == 1 else list(tensors)

    def compute_output_shape(self, input_shape: Shape | list[Shape]) -> Shape | list[Shape]:
        return self.ensure_built(input_shape)

    def forward(self, x: Any, training: bool = False):
        """The layer protocol: the graph's outputs, and a backprop that returns the input gradients."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        ys, backprop_graph = self._forward(xs, training)
        several_in, several_out = len(xs) > 1, len(ys) > 1

        def backprop(dy: Any, need_input_grad: bool = True) -> Any:
            dxs = backprop_graph(list(dy) if several_out else [dy], need_input_grad=need_input_grad)
            if not need_input_grad:
                return None
            return dxs if several_in else dxs[0]

        return (list(ys) if several_out else ys[0]), backprop

    def __call__(self, x: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """On symbolic tensors, a call of this model as one layer of a bigger graph; on arrays,
        its outputs (as `predict_on_batch`, with `training` chosen)."""
        if kwargs:
            raise ConfigError(f"model '{self.name}' was called with unexpected arguments {sorted(kwargs)}")
        if isinstance(x, dict):
            x = [x[name] for name in self.input_names] if self.built else list(x.values())
        if is_symbolic(x):
            return Layer.__call__(self, x, training)
        xs = self._prepare_x(x)
        if xs[0].shape[0] == 0:
            return self._pack_outputs(self._empty_outputs(xs))
        ys, _ = self._forward(xs, bool(training))
        return self._pack_outputs([np.array(v) for v in ys])
