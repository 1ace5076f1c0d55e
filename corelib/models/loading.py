"""Reading models back: `load_model` for a model file, `model_from_config` / `model_from_json`
for an architecture. Names are looked up in the registry only; nothing in a
file is imported, unpickled or run. Layers are built inside a weight budget
equal to what the file holds, so a crafted file cannot allocate gigabytes.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from corelib import losses, optimizers
from corelib.errors import ConfigError, DLError, ModelFileError, UnknownComponentError, one_line, short_repr
from corelib.layers.base import weight_budget
from corelib.models.functional import Model
from corelib.models.keras_loading import build_from_config, is_keras_archive, load_keras_model
from corelib.models.sequential import Sequential
from corelib.saving.archive import model_entries, open_inner_npz, open_zip, physical_memory, read_config
from corelib.saving.model_file import assign_weights, check_weight_headers
from corelib.saving.safe_zip import npz_headers, read_npz, verify_entry

__all__ = ["load_model", "model_from_config", "model_from_json"]

_MAX_OPTIMIZER_FACTOR = 4  # optimizer state is at most a few slots per weight
_MAX_STATE_BYTES = 64 * 2**20  # a checkpoint's train_state.json, as corelib.saving.checkpoints reads it


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None, compile: bool = True) -> Any:
    """Read a model written by `Model.save`, or a Keras 3 `.keras` archive.

    Args:
        filepath: the model file; a Keras 3 archive (a zip holding model.weights.h5, as
            `keras.Model.save("m.keras")` writes) is translated (`corelib.models.keras_loading`:
            layers dl or an installed plugin registers only).
        custom_objects: {name: class} for components not registered by a plugin (dl model
            files only).
        compile: restore the optimizer, loss and metrics (and optimizer state).
    """
    path = os.fspath(filepath)
    if is_keras_archive(path):
        return load_keras_model(path, compile=compile)
    with open_zip(path, "dl model file") as zf:
        infos = model_entries(zf, path, "the model file", "model file")
        if "config.json" not in infos or "weights.npz" not in infos:
            raise ModelFileError(f"{path}: missing {'config.json' if 'config.json' not in infos else 'weights.npz'}")
        doc = read_config(zf, infos["config.json"], path)
        with open_inner_npz(zf, infos["weights.npz"], path) as npz:
            headers = npz_headers(npz, path, "weights.npz", physical_memory())
            declared = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize for shape, dtype in headers.values())
            overhead = 4096 * len(headers) + 2**20  # .npy headers and the zip directory
            if infos["weights.npz"].file_size > declared + overhead:
                raise ModelFileError(f"{path}: weights.npz declares {infos['weights.npz'].file_size} bytes, "
                                     f"more than its arrays need ({declared})")
            verify_entry(zf, infos["weights.npz"], path)  # its CRC: the arrays are read through seeks
            with weight_budget(declared + 2**20):
                model = _model_from_doc(doc, path, custom_objects)
            check_weight_headers(model, headers, path)
            arrays = read_npz(npz, path, "weights.npz", declared + 2**20)
        assign_weights(model, arrays, path)
        if compile and doc.get("compile"):
            _compile_from_doc(model, doc["compile"], path)
            if "optimizer.npz" in infos:
                expected = sum(p.value.nbytes for p in model.weights)
                with open_inner_npz(zf, infos["optimizer.npz"], path) as npz:
                    state = read_npz(npz, path, "optimizer.npz", _MAX_OPTIMIZER_FACTOR * expected + 2**20)
                try:
                    model.optimizer.set_state(model.trainable_weights, state)
                except (ValueError, KeyError, TypeError, OverflowError) as exc:
                    raise ModelFileError(f"{path}: optimizer state does not fit the model: {one_line(exc)}") from None
        _verify_rest(zf, infos, path, model)
    return model


def _verify_rest(zf: Any, infos: dict, path: str, model: Any) -> None:
    """Check the entries besides config.json and weights.npz, whether or not the load used them
    (size, the CRC read end to end, optimizer arrays numeric with no pickles): a damaged file
    is refused with `compile=False` too."""
    limits = {"optimizer.npz": _MAX_OPTIMIZER_FACTOR * sum(p.value.nbytes for p in model.weights) + 2**20,
              "train_state.json": _MAX_STATE_BYTES}
    for name, limit in limits.items():
        if name not in infos:
            continue
        if infos[name].file_size > limit:
            raise ModelFileError(f"{path}: {name} holds {infos[name].file_size} bytes, more than it can ({limit})")
        verify_entry(zf, infos[name], path)
        if name == "optimizer.npz":
            with open_inner_npz(zf, infos[name], path) as npz:
                npz_headers(npz, path, name, limit)


def model_from_config(config: Any, custom_objects: dict | None = None) -> Model:
    """A model from {"class_name": "Sequential" | "Model", "config": ...} (no weights)."""
    kinds = {"Sequential": Sequential, "Model": Model, "Functional": Model}
    kind = config.get("class_name") if isinstance(config, dict) else None
    if kind not in kinds:
        raise ConfigError(f"unsupported model class {short_repr(kind if isinstance(config, dict) else config)}; "
                          f"expected one of {sorted(kinds)}")
    return kinds[kind].from_config(config.get("config"), custom_objects=custom_objects)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Model:
    """A model from `model.to_json()` (architecture only; weights stay fresh)."""
    try:
        config = json.loads(json_string)
    except ValueError as exc:
        raise ConfigError(f"model_from_json: not valid JSON ({exc})") from None
    return model_from_config(config, custom_objects)


def _model_from_doc(doc: dict, path: str, custom_objects: dict | None) -> Any:
    return build_from_config(doc.get("model"), path, custom_objects, keep_unknown=True)


def _compile_from_doc(model: Any, cfg: Any, path: str) -> None:
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: 'compile' in config.json must be a mapping")

    def component(value: Any, deserialize: Any) -> Any:
        return deserialize(value) if isinstance(value, dict) and "class_name" in value else value

    try:
        loss = cfg.get("loss")
        if isinstance(loss, dict) and "class_name" not in loss:
            loss = {name: component(v, losses.deserialize) for name, v in loss.items()}
        else:
            loss = component(loss, losses.deserialize)
        model.compile(
            optimizer=component(cfg.get("optimizer", "rmsprop"), optimizers.deserialize),
            loss=loss,
            metrics=cfg.get("metrics") or None,
            weighted_metrics=cfg.get("weighted_metrics") or None,
            loss_weights=cfg.get("loss_weights") if len(model.output_names) > 1 else None,
        )
    except UnknownComponentError as exc:
        providers = cfg.get("providers") if isinstance(cfg.get("providers"), dict) else {}
        plugins = sorted({str(v[0]) for v in providers.values()
                          if isinstance(v, list) and v and v[0] not in (None, "dl")})
        hint = f" (the file was saved with plugin(s) {', '.join(plugins)})" if plugins else ""
        raise UnknownComponentError(f"{path}: {one_line(exc)}{hint}") from None
    except DLError as exc:
        raise ModelFileError(f"{path}: bad compile section: {one_line(exc)}") from None
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: bad compile section ({type(exc).__name__}: {one_line(exc)})") from None

