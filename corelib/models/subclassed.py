"""Subclassed models: a `Model` subclass whose `call()` composes dl layers.

    class MLP(models.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(64, activation="relu")
            self.out = layers.Dense(10, activation="softmax")

        def call(self, x, training=False):
            return self.out(self.hidden(x))

`call()` runs once, on symbolic inputs (`Input`s of the shapes the model is
built for: `build(input_shape)`, the first `fit` / `predict`, or a first call on
arrays or tensors). The layer calls it makes become the model's graph, the same
`Plan` a functional model runs, so it trains, summarises and saves like one.
Python control flow inside `call()` is fixed at that moment: a branch on
`training` takes the default's side; layers such as Dropout and
BatchNormalization still follow the mode of each step themselves.

dl computes gradients by backpropagating through its layers, not by
differentiating Python code, so a subclass that overrides `train_step` or
`test_step` (Keras's GradientTape recipe) is refused.
"""

from __future__ import annotations

from typing import Any

from corelib.errors import ConfigError, DLError
from corelib.layers.base import Layer
from corelib.layers.input_layer import Input
from corelib.layers.symbolic import SymbolicTensor, is_symbolic

__all__ = ["check_subclass", "trace", "tracked_layers"]

_ENGINE_STEPS = ("train_step", "test_step")


def check_subclass(cls: type) -> None:
    """Refuse a subclass with call() that also overrides the training step."""
    from corelib.trainers.step import StepMixin

    for name in _ENGINE_STEPS:
        if getattr(cls, name) is not getattr(StepMixin, name):
            raise ConfigError(
                f"{cls.__name__} overrides {name}(): dl has no automatic differentiation of Python code, so a "
                f"custom {name} (Keras's GradientTape recipe) cannot run; dl trains a subclassed model by "
                "backpropagating through the layers its call() uses. Remove the override, or subclass "
                "compute_gradients/apply_gradients (see docs/training.md)"
            )


def tracked_layers(model: Any) -> list[Layer]:
    """The layers a subclass stored as attributes (directly or in lists, tuples and dicts), in order."""
    found: list[Layer] = []
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if isinstance(value, Layer) and value is not model:
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)

    for key, value in vars(model).items():
        if not key.startswith("_") or key == "_layers":
            visit(value)
    return found


def trace(model: Any, input_shapes: list[tuple], dtypes: list[str] | None = None) -> None:
    """Run `model.call` once on `Input`s of `input_shapes` and make its layer calls the model's graph."""
    dtypes = dtypes or [None] * len(input_shapes)
    inputs = [Input(batch_shape=tuple(s), dtype=dt) for s, dt in zip(input_shapes, dtypes)]
    arg: Any = inputs[0] if len(inputs) == 1 else inputs
    try:
        outputs = model.call(arg)
    except DLError:
        raise
    except Exception as exc:  # user code: say where it failed, keep the type
        raise type(exc)(f"{type(model).__name__}.call() failed while dl traced it on inputs of shape "
                        f"{input_shapes[0] if len(input_shapes) == 1 else input_shapes}: {exc}") from exc
    flat = list(outputs.values()) if isinstance(outputs, dict) else outputs
    if not is_symbolic(flat) and not isinstance(flat, SymbolicTensor):
        raise ConfigError(
            f"{type(model).__name__}.call() must return the outputs of dl layers called on its inputs "
            f"(returned {type(outputs).__name__}); NumPy operations inside call() are not traced: use layers")
    model._set_graph(arg, outputs)
    # names that do not depend on the traced layers' names, so a compile before the trace still fits
    model.input_names = _generic("input", len(model.inputs)) if not model._in_keys else model.input_names
    model.output_names = _generic("output", len(model.outputs)) if not model._out_keys else model.output_names


def _generic(stem: str, n: int) -> list[str]:
    return [stem] if n == 1 else [f"{stem}_{i + 1}" for i in range(n)]
