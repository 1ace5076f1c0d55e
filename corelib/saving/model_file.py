"""The model file: a zip of config.json, weights.npz and an optional optimizer.npz.

config.json names every component by its registered name together with the
plugin (and version) that provided it. A file is written to a temporary name
and renamed into place, so a failed save leaves nothing. Reading a whole
model back (which needs the model classes) is `corelib.models.load_model`;
this module reads weights into a model that exists.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from corelib import optimizers
from corelib.errors import ConfigError, ModelFileError
from corelib.saving.archive import FORMAT, FORMAT_VERSION, npz_bytes, open_inner_npz, open_zip, write_atomically
from corelib.saving.safe_zip import check_entries, npz_headers, read_npz
from corelib.saving.serialization import provider
from corelib.version import __version__

__all__ = ["architecture", "model_config", "save_model", "save_weights", "load_weights", "check_weight_headers",
           "assign_weights"]


def architecture(model: Any) -> dict:
    """{"class_name": "Sequential" | "Model", "config": {...}}: the model without weights."""
    return {"class_name": model.saved_class_name, "config": model.get_config()}


def model_config(model: Any) -> dict:
    """The JSON document stored as config.json (without the weights)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dl_version": __version__,
        "model": architecture(model),
        "weights": [p.path for p in model.weights],
    }
    if model.compiled and model.compiled_loss is not None:
        doc["compile"] = {"optimizer": optimizers.serialize(model.optimizer), **model.compiled_loss.get_config()}
        doc["compile"]["providers"] = _compile_providers(model)
    return doc


def _compile_providers(model: Any) -> dict:
    """{"optimizers/Adam": [plugin, version], "losses/...": ...}: who provided each compile component."""
    out = {}
    components = [("optimizers", model.optimizer)] + [("losses", l) for l in model.compiled_losses] + \
        [("metrics", m) for m in model.metrics]
    for kind, obj in components:
        name, plugin, version = provider(type(obj))
        if plugin is None:
            name, plugin, version = provider(obj)
        out[f"{kind}/{name}"] = [plugin, version]
    return out


def write_model_zip(path: str, doc: dict, weights: dict[str, np.ndarray],
                    optimizer_state: dict[str, np.ndarray] | None, extra: dict[str, str] | None = None) -> None:
    """Write config.json, weights.npz, optimizer.npz (when given) and `extra` text entries, atomically."""
    def write(fh: Any) -> None:
        with zipfile.ZipFile(fh, "w") as zf:
            zf.writestr("config.json", json.dumps(doc, indent=1), compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("weights.npz", npz_bytes(weights), compress_type=zipfile.ZIP_STORED)
            if optimizer_state:
                zf.writestr("optimizer.npz", npz_bytes(optimizer_state), compress_type=zipfile.ZIP_STORED)
            for name, text in (extra or {}).items():
                zf.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)

    write_atomically(path, write)


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Write `model` to `filepath` atomically (temporary file, then rename)."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ModelFileError(f"{path} exists and overwrite=False")
    if not model.built:
        raise ConfigError(f"Model '{model.name}' is not built yet: give the first layer an input_shape or call fit first")
    optimizer_state = None
    if include_optimizer and model.compiled and model.optimizer is not None:
        optimizer_state = model.optimizer.get_state()
    write_model_zip(path, model_config(model), {p.path: p.value for p in model.weights}, optimizer_state)


def check_weight_headers(model: Any, headers: dict[str, tuple], path: str) -> None:
    """The file's arrays must be exactly the model's weights, before any is read."""
    params = {p.path: p for p in model.weights}
    if sorted(headers) != sorted(params):
        missing = sorted(set(params) - set(headers))
        extra = sorted(set(headers) - set(params))
        detail = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise ModelFileError(f"{path}: the weights do not match the model config ({detail})")
    for key, (shape, dtype) in headers.items():
        p = params[key]
        if tuple(shape) != p.value.shape or dtype != p.value.dtype:
            raise ModelFileError(
                f"{path}: weight '{key}' is {dtype}{list(shape)} in the file, "
                f"but the config gives {p.value.dtype}{list(p.value.shape)}"
            )


def assign_weights(model: Any, arrays: dict[str, np.ndarray], path: str) -> None:
    """Copy `arrays` (keyed by weight path) into the model's weights, after checking they match."""
    check_weight_headers(model, {k: (v.shape, v.dtype) for k, v in arrays.items()}, path)
    for p in model.weights:
        p.value[...] = arrays[p.path]


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Only the weights, as an .npz keyed "layer/weight", written atomically."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ModelFileError(f"{path} exists and overwrite=False")
    data = npz_bytes({p.path: p.value for p in model.weights})
    write_atomically(path, lambda fh: fh.write(data))


def load_weights(model: Any, filepath: str | os.PathLike) -> None:
    """Weights from `save_weights`'s .npz, or from a model file, into `model` (shapes checked)."""
    path = os.fspath(filepath)
    expected = sum(p.value.nbytes for p in model.weights) + 2**20
    with open_zip(path, "weights file") as zf:
        infos = check_entries(zf, path, "the weights file")
        if "weights.npz" in infos:  # a whole model file
            with open_inner_npz(zf, infos["weights.npz"], path) as npz:
                check_weight_headers(model, npz_headers(npz, path, "weights.npz", expected), path)
                arrays = read_npz(npz, path, "weights.npz", expected)
        else:
            check_weight_headers(model, npz_headers(zf, path, "the weights file", expected), path)
            arrays = read_npz(zf, path, "the weights file", expected)
    assign_weights(model, arrays, path)
