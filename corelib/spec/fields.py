"""Field checks for model specs (private: use `corelib.spec`).

Each checker takes the value, the field path ("training.epochs") and the
source (the spec's file name) and either returns the normalised value or
raises `SpecError` with one line: "spec.yaml: training.epochs must be a
positive int, got 'ten'".
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from corelib import validation
from corelib.errors import ConfigError, short_repr

# Keys Keras writes next to class_name/config that carry nothing dl needs.
KERAS_EXTRA_KEYS = frozenset({"module", "registered_name", "build_config", "compile_config", "name"})


class SpecError(ConfigError):
    """A model spec file is malformed; the message names the file and the field."""


def fail(source: str, field: str, expected: str, value: Any) -> SpecError:
    return SpecError(f"{source}: {field} must be {expected}, got {short_repr(value)}")


def unknown_keys(source: str, where: str, mapping: dict, allowed: tuple[str, ...]) -> None:
    """Refuse keys outside `allowed`, suggesting the closest allowed one."""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            field = f"{where}.{key}" if where else str(key)
            raise SpecError(f"{source}: unknown field {field!r}.{hint} Allowed: {', '.join(allowed)}")


def positive_int(value: Any, field: str, source: str) -> int:
    try:
        return validation.positive_int(value, field)
    except ConfigError:
        raise fail(source, field, "a positive int", value) from None


def non_negative_int(value: Any, field: str, source: str) -> int:
    try:
        return validation.positive_int(value, field, allow_zero=True)
    except ConfigError:
        raise fail(source, field, "a non-negative int", value) from None


def fraction(value: Any, field: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise fail(source, field, "a number in [0, 1)", value)
    return float(value)


def boolean(value: Any, field: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise fail(source, field, "true or false", value)
    return value


def text(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(source, field, "a non-empty string", value)
    return value


def _keras_form(value: dict, field: str, source: str, config_expected: str) -> dict:
    """Keras's {class_name, config} form, checked and copied; `config_expected` is what the
    message says config must be ("a mapping of arguments")."""
    name = text(value["class_name"], f"{field}.class_name", source)
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise fail(source, f"{field}.config", config_expected, config)
    unknown_keys(source, field, value, ("class_name", "config", *sorted(KERAS_EXTRA_KEYS)))
    return {"class_name": name, "config": dict(config)}


def component(value: Any, field: str, source: str) -> str | dict:
    """A loss/optimizer/metric: a name, {class_name, config} or {name, **kwargs}."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        if "class_name" in value:
            return _keras_form(value, field, source, "a mapping of arguments")
        if "name" in value:
            name = text(value["name"], f"{field}.name", source)
            return {"class_name": name, "config": {k: v for k, v in value.items() if k != "name"}}
    raise fail(source, field, "a name or a mapping with 'name' (e.g. {name: adam, learning_rate: 0.001})", value)


def metric_list(value: Any, field: str, source: str) -> list:
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise fail(source, field, "a list of metric names", value)
    return [component(m, f"{field}[{i}]", source) for i, m in enumerate(value)]


def layer_item(item: Any, field: str, source: str) -> dict:
    """One layer: "Flatten", {Dense: {units: 64}} or {class_name: Dense, config: {...}}."""
    if isinstance(item, str):
        return {"class_name": text(item, field, source), "config": {}}
    if isinstance(item, dict) and "class_name" in item:
        return _keras_form(item, field, source, "a mapping of layer arguments")
    if isinstance(item, dict) and len(item) == 1:
        ((name, config),) = item.items()
        name = text(name, f"{field} (layer name)", source)
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise fail(source, f"{field}.{name}", "a mapping of layer arguments (e.g. {units: 64})", config)
        return {"class_name": name, "config": dict(config)}
    raise fail(source, field, "a layer name or a one-key mapping like {Dense: {units: 64}}", item)


def layer_list(items: Any, field: str, source: str) -> list[dict]:
    """The layers, with a Keras InputLayer folded into the next layer's batch_input_shape."""
    if not isinstance(items, list) or not items:
        raise fail(source, field, "a non-empty list of layers", items)
    layers: list[dict] = []
    pending_shape: list | None = None
    for i, raw in enumerate(items):
        where = f"{field}[{i}]"
        layer = layer_item(raw, where, source)
        if layer["class_name"] == "InputLayer":
            pending_shape = _input_layer_shape(layer["config"], where, source)
            continue
        if pending_shape is not None:
            cfg = layer["config"]
            if not any(k in cfg for k in input_shape_keys(layer["class_name"])):
                cfg["batch_input_shape"] = pending_shape
            pending_shape = None
        layers.append(layer)
    if not layers:
        raise fail(source, field, "a list with at least one layer besides InputLayer", items)
    return layers


def input_shape_keys(class_name: str) -> tuple[str, ...]:
    """The arguments that give a layer its input shape: ``input_shape``, ``batch_input_shape``, and
    ``input_dim`` (Keras's shorthand for ``input_shape=(input_dim,)``) unless the layer takes an
    ``input_dim`` of its own, as Embedding does (its vocabulary size)."""
    import inspect

    from corelib.errors import DLError
    from corelib.registry import get_registry

    try:
        parameter = inspect.signature(get_registry().get("layers", class_name)).parameters.get("input_dim")
    except (DLError, TypeError, ValueError):  # unknown here: building the layer names the problem
        parameter = None
    own = parameter is not None and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    return ("input_shape", "batch_input_shape") if own else ("input_shape", "batch_input_shape", "input_dim")


def _input_layer_shape(config: dict, where: str, source: str) -> list:
    for key, with_batch in (("batch_shape", True), ("batch_input_shape", True), ("shape", False), ("input_shape", False)):
        if key in config:
            shape = config[key]
            if not isinstance(shape, (list, tuple)) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
                raise fail(source, f"{where}.config.{key}", "a list of positive ints (or null)", shape)
            return list(shape) if with_batch else [None, *shape]
    raise SpecError(f"{source}: {where} (InputLayer) needs a shape: config.shape or config.batch_shape")


def data_field(value: Any, field: str, source: str, base_dir: Path) -> dict:
    """`data:` -> {"dataset": name, "options": {...}} or {"path": Path, "target": str | None}."""
    from corelib.spec.files import SUFFIXES

    if isinstance(value, str) and value.strip():
        # a file, a glob of .npz shards, or a folder of images (one sub-folder per class): corelib.spec.streamed
        if Path(value).suffix.lower() in SUFFIXES or _has_magic(value) \
                or _is_file(base_dir / value, value, field, source, folder=True):
            return {"path": base_dir / value, "target": None}
        return {"dataset": value, "options": {}}
    if isinstance(value, dict):
        if "path" in value:
            unknown_keys(source, field, value, ("path", "target", "streaming"))
            path = text(value["path"], f"{field}.path", source)
            target = value.get("target")
            if target is not None:
                target = text(target, f"{field}.target", source)
            data = {"path": base_dir / path, "target": target}
            if value.get("streaming") is not None:
                data["streaming"] = boolean(value["streaming"], f"{field}.streaming", source)
            return data
        if "name" in value:
            name = text(value["name"], f"{field}.name", source)
            return {"dataset": name, "options": {k: v for k, v in value.items() if k != "name"}}
    raise fail(
        source, field, "a data set name, a .npz/.npy/.csv path, a folder of images, a glob of .npz shards, "
        "{name: digits, ...} or {path: file.csv, target: y}", value
    )


def _has_magic(value: str) -> bool:
    import glob

    return glob.has_magic(value)


def _is_file(path: Path, value: str, field: str, source: str, folder: bool = False) -> bool:
    """Whether `path` is a file (or, with `folder`, a folder); a name the OS refuses to look up (too
    long, a loop of links) is a SpecError naming the field, not an OSError."""
    try:
        return path.is_file() or (folder and path.is_dir())
    except OSError as exc:
        raise SpecError(f"{source}: {field} cannot be looked up as a file ({exc.strerror or exc}): "
                        f"{short_repr(value)}") from None
