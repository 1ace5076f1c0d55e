"""A Keras 3 archive's compile_config as the arguments of dl's `Model.compile`.

Losses, metrics and the optimizer are looked up by name in dl's registry. One
that dl lacks, or a setting it cannot honour (an optimizer's EMA or gradient
accumulation, a loss's reduction over another axis), makes `keras_compile_args`
raise; `load_model` then returns the model uncompiled with a warning, as Keras
does when it cannot restore a compile_config. The optimizer's state (its
moments, its step count) is not restored.
"""

from __future__ import annotations

import inspect
from typing import Any

from corelib.errors import UnknownComponentError, short_repr
from corelib.registry import get_registry
from corelib.saving.keras_config import KerasImportError, accepted_kwargs

__all__ = ["keras_compile_args"]

# Keras-only settings, dropped at these values (which are what dl does); None: at any value.
_DEFAULTS: dict[str, Any] = {
    "axis": [-1], "dtype": [None, "float32"], "use_ema": [False], "ema_momentum": None,
    "ema_overwrite_frequency": [None], "loss_scale_factor": [None], "gradient_accumulation_steps": [None],
}
_IGNORED = {"run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"}


def keras_compile_args(cfg: Any) -> dict | None:
    """{"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"} for `Model.compile`,
    or None where the archive was not compiled.

    Raises:
        KerasImportError: a component or setting dl does not have, named.
    """
    if not isinstance(cfg, dict) or not cfg or cfg.get("loss") is None:
        return None
    unknown = sorted(set(cfg) - _IGNORED - {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"})
    if unknown:
        raise KerasImportError(f"compile setting {unknown[0]!r} is not supported")
    return {
        "optimizer": _component(cfg.get("optimizer", "rmsprop"), "optimizers"),
        "loss": _nested(cfg["loss"], "losses"),
        "metrics": _nested(cfg.get("metrics"), "metrics"),
        "weighted_metrics": _nested(cfg.get("weighted_metrics"), "metrics"),
        "loss_weights": cfg.get("loss_weights"),
    }


def _nested(value: Any, kind: str) -> Any:
    """Lists and per-output dicts of components, each translated."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_nested(v, kind) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {str(k): _nested(v, kind) for k, v in value.items()}
    return _component(value, kind)


def _component(value: Any, kind: str) -> Any:
    """A name as it is; a Keras-serialized object as dl's {"class_name", "config"}."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise KerasImportError(f"{kind[:-1]} {short_repr(value)} is not a name or a serialized object")
    name = value["class_name"]
    cfg = value.get("config")
    if isinstance(cfg, str):  # Keras serializes a plain function as {"class_name": "function", "config": name}
        return _component(cfg, kind)
    try:
        obj = get_registry().get(kind, name)
    except UnknownComponentError:
        raise KerasImportError(f"dl has no {kind[:-1]} {name!r}") from None
    if not isinstance(cfg, dict) or not inspect.isclass(obj):
        return name
    accepted = accepted_kwargs(obj)
    out = {}
    for key, v in cfg.items():
        if key in accepted:
            if isinstance(v, dict):
                raise KerasImportError(f"{kind[:-1]} {name!r}: {key}={short_repr(v)} is not supported")
            out[key] = v
        elif key in _DEFAULTS and (_DEFAULTS[key] is None or v in _DEFAULTS[key]):
            continue
        else:
            raise KerasImportError(f"{kind[:-1]} {name!r}: {key}={short_repr(v)} is not supported by dl")
    return {"class_name": name, "config": out}

