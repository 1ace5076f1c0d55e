"""Models: `Sequential`, the graph `Model`, and reading them back from files or JSON."""

from __future__ import annotations

import json
from typing import Any

from corelib.errors import ConfigError
from corelib.functional import Model
from corelib.saving import load_model, save_model
from corelib.sequential import Sequential
from corelib.training import BaseModel

__all__ = ["BaseModel", "Model", "Sequential", "load_model", "save_model", "model_from_json", "model_from_config"]


def model_from_config(config: dict, custom_objects: dict | None = None) -> Model:
    """A model from {"class_name": "Sequential" | "Model", "config": ...} (no weights)."""
    from corelib.saving import model_from_architecture

    return model_from_architecture(config, custom_objects)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Model:
    """A model from `model.to_json()` (architecture only; weights stay fresh)."""
    try:
        config = json.loads(json_string)
    except ValueError as exc:
        raise ConfigError(f"model_from_json: not valid JSON ({exc})") from None
    return model_from_config(config, custom_objects)
