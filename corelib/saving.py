"""The model file: a zip of config.json, weights.npz and optional optimizer.npz.

config.json names every component by its registered name together with the
plugin (and version) that provided it. Loading looks names up in the
registry only: it never imports a module named in the file, never
unpickles, and never runs code from the file. A file is written to a
temporary name and renamed into place, so a failed save leaves nothing.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from corelib.errors import ConfigError, DLError, ModelFileError, PluginConflictError, UnknownComponentError
from corelib.layer import Layer, weight_budget
from corelib.safe_zip import check_entries, npz_headers, read_entry, read_npz

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "architecture",
           "model_from_architecture", "serialize_layer", "deserialize_layer", "FORMAT", "FORMAT_VERSION"]

FORMAT = "dl-model"
FORMAT_VERSION = 1
_ENTRIES = {"config.json", "weights.npz", "optimizer.npz", "train_state.json"}  # the last: checkpoints (corelib.checkpoint)
_MAX_CONFIG_BYTES = 16 * 2**20
_MAX_OPTIMIZER_FACTOR = 4
_LAYER_KEYS = {"class_name", "config", "plugin", "plugin_version", "inbound"}  # optimizer state is at most a few slots per weight


def _provider(obj: Any) -> tuple[str, str | None, str | None]:
    from corelib.registry import get_registry

    entry = get_registry().provider_of(obj)
    if entry is None:
        return type(obj).__name__ if not isinstance(obj, type) else obj.__name__, None, None
    return entry.name, entry.plugin, entry.version


def serialize_layer(layer: Layer) -> dict:
    """{"class_name", "config", "plugin", "plugin_version"} for one layer."""
    name, plugin, version = _provider(type(layer))
    return {"class_name": name, "plugin": plugin, "plugin_version": version, "config": layer.get_config()}


def deserialize_layer(item: Any, where: str, custom_objects: dict | None = None) -> Layer:
    """A layer from `serialize_layer`'s dict, looked up in the registry (or custom_objects)."""
    from corelib.registry import get_registry

    if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
        raise ConfigError(f"{where}: expected {{'class_name': str, 'config': dict}}, got {_short(item)}")
    unknown = sorted(set(item) - _LAYER_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unexpected key {unknown[0]!r} in a layer entry "
                          "(dl never imports modules or calls functions named in a file)")
    name = item["class_name"]
    cfg = item.get("config", {})
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: 'config' of {name} must be a mapping, got {_short(cfg)}")
    if custom_objects and name in custom_objects:
        cls = custom_objects[name]
    else:
        try:
            try:
                cls = get_registry().get("layers", name)
            except PluginConflictError:
                # Two plugins claim the name: the file says which one it was saved with.
                plugin = item.get("plugin")
                if not isinstance(plugin, str) or not plugin:
                    raise
                cls = get_registry().get("layers", f"{plugin}:{name}")
        except UnknownComponentError:
            plugin = item.get("plugin")
            need = f" from plugin '{plugin}' {item.get('plugin_version') or ''}".rstrip() if plugin else ""
            raise UnknownComponentError(
                f"{where}: layer '{name}'{need} is not installed; install the plugin that provides it "
                f"or pass custom_objects={{'{name}': ...}}"
            ) from None
    try:
        return cls.from_config(dict(cfg))
    except DLError as exc:
        raise ConfigError(f"{where} ({name}): {exc}") from None
    except (TypeError, ValueError, OverflowError, MemoryError) as exc:
        raise ConfigError(f"{where} ({name}): bad config: {type(exc).__name__}: {_one_line(exc)}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def architecture(model: Any) -> dict:
    """{"class_name": "Sequential" | "Model", "config": {...}}: the model without weights."""
    from corelib.sequential import Sequential

    return {"class_name": "Sequential" if isinstance(model, Sequential) else "Model", "config": model.get_config()}


def model_config(model: Any) -> dict:
    """The JSON document stored as config.json (without the weights)."""
    import corelib

    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dl_version": corelib.__version__,
        "model": architecture(model),
        "weights": [p.path for p in model.weights],
    }
    if model.compiled and model._compiled is not None:
        from corelib import optimizers

        doc["compile"] = {"optimizer": optimizers.serialize(model.optimizer), **model._compiled.get_config()}
        doc["compile"]["providers"] = _compile_providers(model)
    return doc


def _compile_providers(model: Any) -> dict:
    """{"optimizers/Adam": [plugin, version], "losses/...": ...}: who provided each compile component."""
    out = {}
    components = [("optimizers", model.optimizer)] + [("losses", l) for l in model.compiled_losses] + \
        [("metrics", m) for m in model.metrics]
    for kind, obj in components:
        name, plugin, version = _provider(type(obj))
        if plugin is None:
            name, plugin, version = _provider(obj)
        out[f"{kind}/{name}"] = [plugin, version]
    return out


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Write `model` to `filepath` atomically (temporary file, then rename)."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ModelFileError(f"{path} exists and overwrite=False")
    if not model.built:
        raise ConfigError(f"Model '{model.name}' is not built yet: give the first layer an input_shape or call fit first")
    doc = model_config(model)
    weights = {p.path: p.value for p in model.weights}
    optimizer_state = None
    if include_optimizer and model.compiled and model.optimizer is not None:
        optimizer_state = model.optimizer.get_state()

    def write(fh: Any) -> None:
        with zipfile.ZipFile(fh, "w") as zf:
            zf.writestr("config.json", json.dumps(doc, indent=1), compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("weights.npz", _npz_bytes(weights), compress_type=zipfile.ZIP_STORED)
            if optimizer_state:
                zf.writestr("optimizer.npz", _npz_bytes(optimizer_state), compress_type=zipfile.ZIP_STORED)

    _write_atomically(path, write)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**36


def _open_zip(path: str, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such {what}") from None
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise ModelFileError(f"{path}: not a {what} (not a readable zip: {exc})") from None


def _inner_npz(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zf.open(info))
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise ModelFileError(f"{path}: {info.filename} is corrupt ({type(exc).__name__}: {exc})") from None


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None, compile: bool = True) -> Any:
    """Read a model written by `Model.save`.

    Args:
        filepath: the model file.
        custom_objects: {name: class} for components not registered by a plugin.
        compile: restore the optimizer, loss and metrics (and optimizer state).
    """
    path = os.fspath(filepath)
    with _open_zip(path, "dl model file") as zf:
        infos = check_entries(zf, path, "the model file")
        bad = sorted(set(infos) - _ENTRIES)
        if bad:
            raise ModelFileError(f"{path}: unexpected entry {bad[0]!r} in model file")
        if "config.json" not in infos or "weights.npz" not in infos:
            raise ModelFileError(f"{path}: missing {'config.json' if 'config.json' not in infos else 'weights.npz'}")
        doc = _read_config(zf, infos["config.json"], path)
        with _inner_npz(zf, infos["weights.npz"], path) as npz:
            headers = npz_headers(npz, path, "weights.npz", _physical_memory())
            declared = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize for shape, dtype in headers.values())
            overhead = 4096 * len(headers) + 2**20  # .npy headers and the zip directory
            if infos["weights.npz"].file_size > declared + overhead:
                raise ModelFileError(f"{path}: weights.npz declares {infos['weights.npz'].file_size} bytes, "
                                     f"more than its arrays need ({declared})")
            with weight_budget(declared + 2**20):
                model = _model_from_doc(doc, path, custom_objects)
            _check_headers(model, headers, path)
            arrays = read_npz(npz, path, "weights.npz", declared + 2**20)
        _assign_weights(model, arrays, path)
        if compile and doc.get("compile"):
            _compile_from_doc(model, doc["compile"], path)
            if "optimizer.npz" in infos:
                expected = sum(p.value.nbytes for p in model.weights)
                with _inner_npz(zf, infos["optimizer.npz"], path) as npz:
                    state = read_npz(npz, path, "optimizer.npz", _MAX_OPTIMIZER_FACTOR * expected + 2**20)
                try:
                    model.optimizer.set_state(model.trainable_weights, state)
                except (ValueError, KeyError, TypeError) as exc:
                    raise ModelFileError(f"{path}: optimizer state does not fit the model: {_one_line(exc)}") from None
    return model


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _read_config(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> dict:
    raw = read_entry(zf, info, path, _MAX_CONFIG_BYTES)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ModelFileError(f"{path}: config.json is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: config.json is corrupt ({type(exc).__name__}: {_one_line(exc)})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{path}: config.json is not a dl model config (format must be {FORMAT!r})")
    version = doc.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: unsupported model file format_version {version!r}; this dl reads version {FORMAT_VERSION}"
        )
    return doc


def model_from_architecture(spec: Any, custom_objects: dict | None = None) -> Any:
    """A model from `architecture()`'s dict; names are looked up in the registry only."""
    from corelib.functional import Model
    from corelib.sequential import Sequential

    kinds = {"Sequential": Sequential, "Model": Model, "Functional": Model}
    kind = spec.get("class_name") if isinstance(spec, dict) else None
    if kind not in kinds:
        raise ConfigError(f"unsupported model class {_short(kind if isinstance(spec, dict) else spec)}; "
                          f"expected one of {sorted(kinds)}")
    return kinds[kind].from_config(spec.get("config"), custom_objects=custom_objects)


def _model_from_doc(doc: dict, path: str, custom_objects: dict | None) -> Any:
    try:
        model = model_from_architecture(doc.get("model"), custom_objects)
    except UnknownComponentError as exc:
        raise UnknownComponentError(f"{path}: {exc}") from None
    except DLError as exc:
        raise ModelFileError(f"{path}: {_one_line(exc)}") from None
    except RecursionError:
        raise ModelFileError(f"{path}: config.json is nested too deeply") from None
    except (ValueError, TypeError, OverflowError, MemoryError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: the model config cannot be built ({type(exc).__name__}: {_one_line(exc)})") from None
    if not model.built:
        raise ModelFileError(f"{path}: the model's first layer has no input shape")
    return model


def _check_headers(model: Any, headers: dict[str, tuple], path: str) -> None:
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


def _assign_weights(model: Any, arrays: dict[str, np.ndarray], path: str) -> None:
    _check_headers(model, {k: (v.shape, v.dtype) for k, v in arrays.items()}, path)
    for p in model.weights:
        p.value[...] = arrays[p.path]


def _compile_from_doc(model: Any, cfg: Any, path: str) -> None:
    from corelib import losses, optimizers

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
            loss_weights=cfg.get("loss_weights") if len(model.output_names) > 1 else None,
        )
    except UnknownComponentError as exc:
        providers = cfg.get("providers") if isinstance(cfg.get("providers"), dict) else {}
        plugins = sorted({str(v[0]) for v in providers.values()
                          if isinstance(v, list) and v and v[0] not in (None, "dl")})
        hint = f" (the file was saved with plugin(s) {', '.join(plugins)})" if plugins else ""
        raise UnknownComponentError(f"{path}: {_one_line(exc)}{hint}") from None
    except DLError as exc:
        raise ModelFileError(f"{path}: bad compile section: {_one_line(exc)}") from None
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: bad compile section ({type(exc).__name__}: {_one_line(exc)})") from None


def _write_atomically(path: str, write: Any) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".dl-save-", suffix=".tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets the usual permissions
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Only the weights, as an .npz keyed "layer/weight", written atomically."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ModelFileError(f"{path} exists and overwrite=False")
    data = _npz_bytes({p.path: p.value for p in model.weights})
    _write_atomically(path, lambda fh: fh.write(data))


def load_weights(model: Any, filepath: str | os.PathLike) -> None:
    """Weights from `save_weights`'s .npz, or from a model file, into `model` (shapes checked)."""
    path = os.fspath(filepath)
    expected = sum(p.value.nbytes for p in model.weights) + 2**20
    with _open_zip(path, "weights file") as zf:
        infos = check_entries(zf, path, "the weights file")
        if "weights.npz" in infos:  # a whole model file
            with _inner_npz(zf, infos["weights.npz"], path) as npz:
                _check_headers(model, npz_headers(npz, path, "weights.npz", expected), path)
                arrays = read_npz(npz, path, "weights.npz", expected)
        else:
            _check_headers(model, npz_headers(zf, path, "the weights file", expected), path)
            arrays = read_npz(zf, path, "the weights file", expected)
    _assign_weights(model, arrays, path)
