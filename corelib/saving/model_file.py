"""The model file: a zip of config.json, weights.npz and an optional optimizer.npz.

config.json names every component by its registered name together with the
plugin (and version) that provided it. A file is written to a temporary name
and renamed into place, so a failed save leaves nothing. Reading a whole
model back (which needs the model classes) is `corelib.models.load_model`;
this module reads weights into a model that exists.

`load_weights` matches weights by structure, as Keras does: the file's weights
in their saved order against the model's (`model.weights`, layers in graph
order), each checked for its layer's class, its name within the layer
("kernel") and its shape. Layer names are not compared, so a model built
twice in one process ("dense_2" where the file says "dense") loads its own
weights. Both kinds of file record that order and the classes:
config.json in "weights" and "weight_classes", a weights file in an index
array (`INDEX_KEY`).
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from corelib import optimizers
from corelib.errors import ConfigError, ModelFileError
from corelib.saving.archive import (FORMAT, FORMAT_VERSION, npz_bytes, open_inner_npz, open_zip, read_config,
                                    write_atomically)
from corelib.saving.keras_archive import is_hdf5, load_keras_weights
from corelib.saving.npy_header import read_npy_data, read_npy_header
from corelib.saving.safe_zip import CORRUPT_ENTRY_ERRORS, check_entries, npz_headers, read_npz
from corelib.saving.safetensors_file import is_safetensors, load_safetensors, save_safetensors
from corelib.saving.serialization import provider
from corelib.version import __version__

__all__ = ["architecture", "model_config", "save_model", "save_weights", "load_weights", "check_weight_headers",
           "assign_weights", "match_weights", "weight_classes", "INDEX_KEY"]

INDEX_KEY = "__dl_weights__"  # a weights file's index; never a weight's path, which always has a "/"
_INDEX_FORMAT = "dl-weights"
_INDEX_BYTES_PER_WEIGHT = 4096  # the index's JSON per weight, at most (a path and a class name)


def weight_classes(model: Any) -> list[str]:
    """The class name of the layer that owns each weight, in `model.weights` order."""
    return [type(p.layer).__name__ if p.layer is not None else "" for p in model.weights]


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
        "weight_classes": weight_classes(model),
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
    """Only the weights, keyed "layer/weight" with an index of their order and layer classes,
    written atomically: an .npz (the index in `INDEX_KEY`), or safetensors when the name ends
    in ".safetensors" (the index in the header's metadata)."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ModelFileError(f"{path} exists and overwrite=False")
    index = {"format": _INDEX_FORMAT, "weights": [p.path for p in model.weights], "classes": weight_classes(model)}
    arrays = {p.path: p.value for p in model.weights}
    if is_safetensors(path):
        save_safetensors(path, index, arrays)
        return
    arrays[INDEX_KEY] = np.frombuffer(json.dumps(index).encode("utf-8"), dtype=np.uint8)
    data = npz_bytes(arrays)
    write_atomically(path, lambda fh: fh.write(data))


def load_weights(model: Any, filepath: str | os.PathLike) -> None:
    """Weights from `save_weights`'s .npz or .safetensors, from a model file, or from Keras 3's
    .weights.h5 (`corelib.saving.keras_archive`), into `model`,
    matched by structure (see the module's docstring); nothing is written unless every weight fits."""
    path = os.fspath(filepath)
    expected = sum(p.value.nbytes for p in model.weights) + 2**20
    if is_hdf5(path):  # Keras 3's .weights.h5
        load_keras_weights(model, path)
        return
    if is_safetensors(path):
        arrays, headers, index = load_safetensors(path, expected, len(model.weights))
        order, classes = (None, None) if index is None else _index_lists(index, path, "the header's 'dl' metadata")
        if order is None and sorted(headers) != sorted(p.path for p in model.weights):
            unknown = sorted(set(headers) - {p.path for p in model.weights}) or \
                sorted({p.path for p in model.weights} - set(headers))
            raise ModelFileError(f"{path}: the weights do not match the model: the file has no dl index, so its "
                                 f"tensors are matched by name, and '{unknown[0]}' is "
                                 f"{'not a weight of' if unknown[0] in headers else 'missing for'} model "
                                 f"'{model.name}'")
        pairs = match_weights(model, headers, order, classes, path)
        for key, p in pairs:
            p.value[...] = arrays[key]
        return
    with open_zip(path, "weights file") as zf:
        infos = check_entries(zf, path, "the weights file")
        if "weights.npz" in infos:  # a whole model file
            order, classes = _model_file_order(zf, infos, path)
            with open_inner_npz(zf, infos["weights.npz"], path) as npz:
                headers = npz_headers(npz, path, "weights.npz", expected)
                pairs = match_weights(model, headers, order, classes, path)
                arrays = read_npz(npz, path, "weights.npz", expected)
        else:
            index_limit = _INDEX_BYTES_PER_WEIGHT * len(model.weights) + 2**16
            headers = npz_headers(zf, path, "the weights file", expected + index_limit)
            order, classes = _index_order(zf, headers, path, index_limit)
            headers.pop(INDEX_KEY, None)
            pairs = match_weights(model, headers, order, classes, path)
            arrays = read_npz(zf, path, "the weights file", expected + index_limit)
    for key, p in pairs:
        p.value[...] = arrays[key]


def _model_file_order(zf: Any, infos: dict, path: str) -> tuple[list[str] | None, list[str] | None]:
    """The weights' saved order and layer classes from a model file's config.json."""
    if "config.json" not in infos:
        return None, None
    doc = read_config(zf, infos["config.json"], path)
    return _string_list(doc.get("weights")), _string_list(doc.get("weight_classes"))


def _index_order(zf: Any, headers: dict, path: str, limit: int) -> tuple[list[str] | None, list[str] | None]:
    """The saved order and layer classes from a weights file's index of at most `limit` bytes
    (None, None for a file written before dl kept one)."""
    if INDEX_KEY not in headers:
        return None, None
    shape, dtype = headers[INDEX_KEY]
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > limit:
        raise ModelFileError(f"{path}: the weights file's index {INDEX_KEY!r} is not a JSON byte array")
    try:
        with zf.open(INDEX_KEY + ".npy") as fh:
            raw = read_npy_data(fh, *read_npy_header(fh)[:3]).tobytes()
        doc = json.loads(raw.decode("utf-8"))
    except CORRUPT_ENTRY_ERRORS + (RecursionError,) as exc:
        raise ModelFileError(f"{path}: the weights file's index is corrupt ({type(exc).__name__})") from None
    return _index_lists(doc, path, "the weights file's index")


def _index_lists(doc: Any, path: str, what: str) -> tuple[list[str], list[str] | None]:
    """(saved order, layer classes or None) from a parsed weights index (.npz or safetensors)."""
    if not isinstance(doc, dict) or doc.get("format") != _INDEX_FORMAT:
        raise ModelFileError(f"{path}: {what} is not a dl weights index")
    order, classes = _string_list(doc.get("weights")), _string_list(doc.get("classes"))
    if order is None:
        raise ModelFileError(f"{path}: {what} has no list of weight names")
    return order, classes


def _string_list(value: Any) -> list[str] | None:
    return list(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def match_weights(model: Any, headers: dict[str, tuple], order: list[str] | None, classes: list[str] | None,
                  path: str) -> list[tuple[str, Any]]:
    """[(the file's key, the model's weight)] matched by structure, after checking every pair.

    Args:
        model: the model the weights go into.
        headers: {key: (shape, dtype)} of the file's arrays.
        order: the keys in saved order (None for an old weights file: the same names as the
            model's weights are matched by name, else the arrays in the file's order).
        classes: the layer class of each key in `order`, or None where the file does not say.
        path: the file, for the messages.

    Raises:
        ModelFileError: the counts differ, or a weight's layer class, name or shape (the first
            such weight is named).
    """
    params = model.weights
    if order is None:
        names = [p.path for p in params]
        order = names if sorted(headers) == sorted(names) else list(headers)
    if sorted(order) != sorted(headers):
        raise ModelFileError(f"{path}: the weights do not match the model: the file's list of weights "
                             f"does not name its arrays")
    if len(order) != len(params):
        raise ModelFileError(
            f"{path}: the weights do not match the model: the file holds {len(order)} weight arrays, "
            f"model '{model.name}' has {len(params)}"
            + (f" (first missing: '{params[len(order)].path}')" if len(order) < len(params)
               else f" (first unexpected: '{order[len(params)]}')"))
    if classes is not None and len(classes) != len(order):
        classes = None
    mine = weight_classes(model)
    for i, (key, p) in enumerate(zip(order, params)):
        shape, dtype = headers[key]
        theirs = classes[i] if classes is not None else None
        name = key.rsplit("/", 1)[-1]
        if (theirs is not None and theirs != mine[i]) or name != p.name or tuple(shape) != p.value.shape \
                or dtype != p.value.dtype:
            there = f"{theirs + ' ' if theirs else ''}'{key}' {dtype}{list(shape)}"
            here = f"{mine[i]} '{p.path}' {p.value.dtype}{list(p.value.shape)}"
            raise ModelFileError(f"{path}: the weights do not match the model: weight {i} is {there} in the file, "
                                 f"but {here} in model '{model.name}'")
    return list(zip(order, params))
