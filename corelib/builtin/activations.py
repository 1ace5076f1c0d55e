"""The built-in activations, thin objects over corelib.kernels.activations.

Each is registered as a ready instance under its lower-case Keras name, so
``corelib.activations.relu(x)`` works as in Keras and ``activations.get("relu")``
costs no construction.
"""

from __future__ import annotations

import numpy as np

from corelib.activations import Activation
from corelib.errors import ConfigError
from corelib.kernels import activations as _kernels

__all__ = [
    "KernelActivation",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "SELU",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Softmax",
    "Softplus",
    "Swish",
    "GELU",
    "BUILTIN",
]


class KernelActivation(Activation):
    """An activation computed by the compiled kernels under `kernel_name`."""

    kernel_name = "linear"
    alpha = 0.0

    def __init__(self) -> None:
        self.name = self.kernel_name

    def forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        return _kernels.forward(self.kernel_name, x, out, self.alpha)

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        return _kernels.backward(self.kernel_name, x, y, dy, dx, self.alpha)


class Linear(KernelActivation):
    """f(x) = x."""

    kernel_name = "linear"
    needs_input = False

    def forward(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        if out is not x:
            np.copyto(out, x)
        return out

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        if dx is not dy:
            np.copyto(dx, dy)
        return dx


class ReLU(KernelActivation):
    """f(x) = max(x, 0)."""

    kernel_name = "relu"
    needs_input = False


class LeakyReLU(KernelActivation):
    """f(x) = x for x > 0, negative_slope * x otherwise.

    Args:
        negative_slope: slope for x <= 0 (Keras's default 0.2).
    """

    kernel_name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        try:
            self.alpha = float(negative_slope)
        except (TypeError, ValueError):
            raise ConfigError(
                f"leaky_relu: negative_slope must be a float. Received: negative_slope={negative_slope!r}"
            ) from None
        # With a non-negative slope the sign of y is the sign of x, so y can stand in for x.
        self.needs_input = self.alpha < 0

    def get_config(self) -> dict:
        return {"negative_slope": self.alpha}


class ELU(KernelActivation):
    """f(x) = x for x > 0, alpha * (exp(x) - 1) otherwise.

    Args:
        alpha: scale of the negative part (Keras's default 1.0).
    """

    kernel_name = "elu"
    needs_input = True

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        try:
            self.alpha = float(alpha)
        except (TypeError, ValueError):
            raise ConfigError(f"elu: alpha must be a float. Received: alpha={alpha!r}") from None

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


class SELU(KernelActivation):
    """Scaled ELU with the self-normalising constants (scale 1.0507, alpha 1.6733)."""

    kernel_name = "selu"
    needs_input = True


class Sigmoid(KernelActivation):
    """f(x) = 1 / (1 + exp(-x))."""

    kernel_name = "sigmoid"
    needs_input = False


class HardSigmoid(KernelActivation):
    """Keras 3's piecewise-linear sigmoid: clip(x / 6 + 0.5, 0, 1)."""

    kernel_name = "hard_sigmoid"
    needs_input = False


class Tanh(KernelActivation):
    """f(x) = tanh(x)."""

    kernel_name = "tanh"
    needs_input = False


class Softmax(KernelActivation):
    """exp(x) / sum(exp(x)) over the last axis."""

    kernel_name = "softmax"
    needs_input = False


class Softplus(KernelActivation):
    """f(x) = log(1 + exp(x))."""

    kernel_name = "softplus"
    needs_input = True


class Swish(KernelActivation):
    """f(x) = x * sigmoid(x) (also known as SiLU)."""

    kernel_name = "swish"
    needs_input = True


class GELU(KernelActivation):
    """The exact Gaussian error linear unit: x * Phi(x), with the erf."""

    kernel_name = "gelu"
    needs_input = True


#: (instance factory, extra aliases) for each built-in activation, in `dl list` order.
BUILTIN: tuple[tuple[type, tuple[str, ...]], ...] = (
    (Linear, ()),
    (ReLU, ()),
    (LeakyReLU, ()),
    (ELU, ()),
    (SELU, ()),
    (Sigmoid, ()),
    (HardSigmoid, ()),
    (Tanh, ()),
    (Softmax, ()),
    (Softplus, ()),
    (Swish, ("silu",)),
    (GELU, ()),
)
