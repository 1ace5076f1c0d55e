"""Constructor pieces shared by the built-in layers (private to `corelib.builtin.layers`)."""

from __future__ import annotations

from typing import Any

from corelib import activations
from corelib.activations import Activation


def output_activation(identifier: Any) -> tuple[Activation, Activation | None]:
    """The activation a layer applies to its output, and the one its forward calls.

    None means "linear", as in Keras. Linear needs no work at all, so the
    second is None for it and forward skips the calls.
    """
    activation = activations.get(identifier if identifier is not None else "linear")
    return activation, (None if activation.name == "linear" else activation)
