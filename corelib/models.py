"""Models: `Sequential`, the `Model` base, and loading saved models."""

from __future__ import annotations

from corelib.saving import load_model, save_model
from corelib.sequential import Sequential
from corelib.training import Model

__all__ = ["Model", "Sequential", "load_model", "save_model"]
