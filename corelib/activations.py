"""Activations: the registry view and the Activation base class.

    from corelib import activations
    relu = activations.get("relu")
    y = relu(x)                          # a new array
    relu.forward(x, out)                 # into out (may be x)
    relu.backward(x, y, dy, dx)          # dL/dx into dx (may be dy)

Names are lower-case ("relu", "leaky_relu", "gelu", ...), as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib.registry import view as _view
from corelib.errors import ConfigError

__all__ = ["Activation", "get", "serialize", "deserialize"]

KIND = "activations"


class Activation:
    """Base class of activations: an elementwise (or last-axis) function and its derivative.

    Subclasses set `name` (the registered name) and `needs_input`, and
    implement `forward` and `backward`.

    Attributes:
        name: the registered name ("relu").
        needs_input: whether `backward` reads the pre-activation `x`. When it
            is False, a layer may compute the activation in place and pass the
            output as `x` to `backward`.
    """

    name: str = "activation"
    needs_input: bool = True

    def forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write f(x) into `out` (which may be `x`) and return it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Write dL/dx = f'(x) * dy into `dx` (which may be `dy`) and return it.

        Args:
            x: the input of forward (when `needs_input` is False, any array;
                layers pass `y`).
            y: the output of forward.
            dy: the gradient of the loss with respect to `y`.
            dx: where the result goes.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, x: Any) -> np.ndarray:
        """f(x) as a new array (float inputs keep their dtype, others become float32)."""
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float32)
        return self.forward(x, np.empty_like(x, order="C"))

    def get_config(self) -> dict:
        """Arguments beyond the defaults ({} for most activations)."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Activation":
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"<activation {self.name}{'(' + args + ')' if args else ''}>"


def get(identifier: Any) -> Activation | None:
    """An Activation from a name, a {"class_name", "config"} dict or an instance.

    ``None`` gives ``None`` (no activation, as "linear" but free).
    """
    if identifier is None:
        return None
    if callable(identifier) and not isinstance(identifier, (Activation, type, dict, str)):
        raise ConfigError(
            "Could not interpret activation identifier: a plain function has no derivative; "
            "register an Activation (with forward and backward) and use its name. "
            f"Received: {identifier!r}"
        )
    return _view.resolve(KIND, identifier, Activation, "activation")


def serialize(activation: Activation | None) -> str | dict | None:
    """The registered name, or a {"class_name", "config"} dict when it has arguments."""
    if activation is None:
        return None
    name = _view.registered_name(KIND, activation)
    config = activation.get_config()
    return {"class_name": name, "config": config} if config else name


def deserialize(config: str | dict | None) -> Activation | None:
    """Inverse of `serialize`."""
    return get(config)


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
