"""A Keras 3 model config (a `.keras` archive's config.json) translated into dl's model config.

Only names are read: a layer's `class_name` is looked up in dl's registry, and
its `module` and `registered_name` fields are never imported. Lambda layers
and custom Keras objects are refused by name; so is any setting dl cannot
honour that changes what the model computes or how it trains (a constraint,
an activity regularizer, a mixed-precision policy, a stateful RNN...). What only
drew the initial weights (initializers, seeds) is dropped where dl lacks it:
the file's weights replace what it drew.

`keras_to_dl(config)` returns dl's config ({"class_name": "Sequential" | "Model",
"config": ...}, for `model_from_config`) and the layout of the weights file:
for each model, its layers' names in Keras's order, which fixes their keys in
model.weights.h5 ("layers/dense_1").
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from corelib.errors import ConfigError, UnknownComponentError, short_repr
from corelib.registry import get_registry

__all__ = ["KerasImportError", "keras_to_dl", "keras_snake_case", "accepted_kwargs", "MODEL_KINDS"]

MODEL_KINDS = {"Sequential": "Sequential", "Functional": "Model", "Model": "Model"}
_MAX_DEPTH = 32

# Keras-only settings that change nothing once the weights are loaded, at these values
# (or at any value where the predicate is None): dropped.
_HARMLESS: dict[str, Any] = {
    "seed": None, "unroll": None, "use_cudnn": None, "autocast": None, "synchronized": None,
    "renorm_momentum": None, "ema_momentum": None, "lora_alpha": None, "input_length": None,
    "activity_regularizer": [None], "quantization_config": [None], "lora_rank": [None, 0],
    "stateful": [False], "time_major": [False], "renorm": [False], "renorm_clipping": [None],
    "sparse": [False], "ragged": [False], "optional": [False],
}
_CONSTRAINT = re.compile(r"(^|_)constraint$")


class KerasImportError(ConfigError):
    """Something in a Keras config dl refuses to import (the message names the layer)."""


def keras_snake_case(name: str) -> str:
    """Keras's `naming.to_snake_case`: the key a layer of class `name` gets in a weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def keras_to_dl(config: Any) -> tuple[dict, list]:
    """(dl's model config, the weights layout) for a Keras model config.

    The layout is a list of (layer name, Keras class name, the inner model's layout or None),
    in Keras's order, one per layer of the top-level model.

    Raises:
        KerasImportError: a layer, class or setting dl does not import, named.
    """
    if not isinstance(config, dict):
        raise KerasImportError(f"the model config must be a mapping, got {short_repr(config)}")
    dl, layout = _model(config, "model", 0)
    _check_masks(dl, _masked(dl))
    return dl, layout


def _entries(doc: Any) -> Any:
    """Every layer entry ({"class_name", "config"}) in dl's config, wrapped ones included."""
    if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
        yield doc
        cfg = doc["config"]
        for item in cfg.get("layers", []) if isinstance(cfg.get("layers"), list) else []:
            yield from _entries(item)
        for key in ("layer", "backward_layer"):
            yield from _entries(cfg.get(key))


def _masked(dl: dict) -> bool:
    return any(e["config"].get("mask_zero") for e in _entries(dl))


def _check_masks(dl: dict, masked: bool) -> None:
    """Keras's zero_output_for_mask=False repeats the last output at masked steps where dl gives
    zeros. That changes nothing without a mask (an Embedding with mask_zero), nor where only
    recurrent layers read the sequence (they skip masked steps); elsewhere it is refused."""
    readers = _readers(dl)
    for e in _entries(dl):
        if e["config"].pop("_keras_zero_output", None) is False and masked:
            name = e["config"].get("name")
            if not readers.get(name) or not all(r in _RECURRENT for r in readers[name]):
                raise KerasImportError(f"layer '{name}' ({e['class_name']}): zero_output_for_mask=False with a "
                                       "mask is not supported by dl (dl gives zeros at masked steps)")


_RECURRENT = {"LSTM", "GRU", "SimpleRNN", "Bidirectional"}


def _readers(dl: dict) -> dict[str, list[str]]:
    """{layer name: the classes of the layers that read its output} ("" for a model output)."""
    out: dict[str, list[str]] = {}
    for e in _entries(dl):
        cfg, kind = e["config"], e["class_name"]
        items = cfg.get("layers") if kind in ("Sequential", "Model") else None
        if not isinstance(items, list):
            continue
        if kind == "Sequential":
            names = [i["config"].get("name") for i in items]
            for k, name in enumerate(names):
                out.setdefault(name, []).append(items[k + 1]["class_name"] if k + 1 < len(items) else "")
            continue
        for item in items:
            for call in item.get("inbound", []):
                for ref in call:
                    out.setdefault(ref[0], []).append(item["class_name"])
        for ref in cfg.get("outputs", []):
            out.setdefault(ref[0], []).append("")
    return out


def _model(item: dict, where: str, depth: int) -> tuple[dict, list]:
    kind = item.get("class_name")
    if depth > _MAX_DEPTH:
        raise KerasImportError(f"{where}: models nested more than {_MAX_DEPTH} deep")
    cfg = item.get("config")
    if not isinstance(kind, str) or kind not in MODEL_KINDS or not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        raise KerasImportError(f"{where}: a {short_repr(kind)} model without a layer graph (a subclassed Keras "
                               "model's Python code is not in the file; dl imports Sequential and Functional models)")
    name = cfg.get("name")
    _common(cfg, f"{where} '{name}'", extra={"layers", "build_input_shape", "input_layers", "output_layers"})
    if kind == "Sequential":
        layers, layout = [], []
        for i, layer in enumerate(cfg["layers"]):
            entry, sub = _layer(layer, f"{where} '{name}' layer {i}", depth)
            layers.append(entry)
            layout.append((entry["config"]["name"], layer.get("class_name"), sub))
        shape = cfg.get("build_input_shape")
        if layers and layers[0]["class_name"] != "InputLayer" and isinstance(shape, list):
            layers[0]["config"]["batch_input_shape"] = shape
        return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}, layout
    return _functional(cfg, f"{where} '{name}'", depth)


def _functional(cfg: dict, where: str, depth: int) -> tuple[dict, list]:
    layers, layout = [], []
    for i, item in enumerate(cfg["layers"]):
        entry, sub = _layer(item, f"{where} layer {i}", depth)
        nodes = item.get("inbound_nodes", []) if isinstance(item, dict) else []
        if not isinstance(nodes, list):
            raise KerasImportError(f"{where} layer '{entry['config']['name']}': inbound_nodes must be a list")
        entry["inbound"] = [_node(n, f"{where} layer '{entry['config']['name']}'") for n in nodes]
        layers.append(entry)
        layout.append((entry["config"]["name"], item.get("class_name"), sub))
    ins, in_keys = _endpoints(cfg.get("input_layers"), f"{where} input_layers")
    outs, out_keys = _endpoints(cfg.get("output_layers"), f"{where} output_layers")
    dl = {"name": cfg.get("name"), "layers": layers, "inputs": ins, "outputs": outs,
          "input_keys": in_keys, "output_keys": out_keys,
          "single_output": out_keys is None and _is_ref(cfg.get("output_layers"))}
    return {"class_name": "Model", "config": dl}, layout


def _is_ref(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:]))


def _endpoints(value: Any, where: str) -> tuple[list, list | None]:
    """([[layer, node, tensor], ...], dict keys or None) from input_layers / output_layers."""
    if _is_ref(value):
        return [list(value)], None
    if isinstance(value, dict) and value and all(_is_ref(v) for v in value.values()):
        return [list(v) for v in value.values()], [str(k) for k in value]
    if isinstance(value, list) and value and all(_is_ref(v) for v in value):
        return [list(v) for v in value], None
    raise KerasImportError(f"{where} must be [layer, node, tensor] references, got {short_repr(value)}")


def _node(node: Any, where: str) -> list:
    """One call's input references, from a Keras 3 node {"args": [...], "kwargs": {...}}
    (or a Keras 2 node [[layer, node, tensor, kwargs], ...])."""
    refs: list = []
    if isinstance(node, list):  # Keras 2 (tf.keras 2.13+ writes .keras archives too)
        for r in node:
            if not (isinstance(r, list) and len(r) >= 3 and _is_ref(r[:3])):
                raise KerasImportError(f"{where}: an inbound node must list [layer, node, tensor], got {short_repr(r)}")
            if len(r) > 3 and r[3]:
                raise KerasImportError(f"{where}: call arguments {short_repr(r[3])} are not supported")
            refs.append(list(r[:3]))
        return refs
    if not isinstance(node, dict) or not isinstance(node.get("args", []), list):
        raise KerasImportError(f"{where}: an inbound node must be {{'args': [...], 'kwargs': {{...}}}}, "
                               f"got {short_repr(node)}")

    def tensors(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                tensors(v)
        elif isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history") if isinstance(value.get("config"), dict) else None
            if not _is_ref(history):
                raise KerasImportError(f"{where}: a tensor without keras_history [layer, node, tensor]")
            refs.append(list(history))
        else:
            raise KerasImportError(f"{where}: a call argument that is not a tensor ({short_repr(value)}) "
                                   "is not supported")

    tensors(node.get("args", []))
    kwargs = node.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise KerasImportError(f"{where}: the call's kwargs must be a mapping")
    for key, value in kwargs.items():
        # Keras overrides a recorded `training` with the mode the model runs in, as dl does.
        if key != "training" and value is not None:
            raise KerasImportError(f"{where}: the call argument {key}={short_repr(value)} is not supported by dl")
    if not refs:
        raise KerasImportError(f"{where}: a call with no input tensor")
    return refs


def _common(cfg: dict, where: str, extra: set) -> None:
    """A model's own settings: dtype and trainable are the only ones besides its graph."""
    _dtype(cfg.get("dtype"), where)
    unknown = sorted(set(cfg) - {"name", "trainable", "dtype"} - extra)
    if unknown:
        raise KerasImportError(f"{where}: the setting {unknown[0]!r} is not supported by dl")


def _dtype(value: Any, where: str) -> str | None:
    """'float32' / 'float64' from a dtype or a DTypePolicy; anything else (mixed precision,
    quantized) is refused."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("class_name") != "DTypePolicy" or not isinstance(value.get("config"), dict):
            raise KerasImportError(f"{where}: the dtype policy {short_repr(value.get('class_name'))} is not "
                                   "supported by dl (float32 or float64 only)")
        value = value["config"].get("name")
    if value not in ("float32", "float64"):
        raise KerasImportError(f"{where}: dtype {short_repr(value)} is not supported by dl (float32 or float64 only)")
    return value


def _layer(item: Any, where: str, depth: int) -> tuple[dict, list | None]:
    """(dl's {"class_name", "config"} entry, the inner model's layout) for one Keras layer."""
    if not isinstance(item, dict) or not isinstance(item.get("class_name"), str) \
            or not isinstance(item.get("config"), dict):
        raise KerasImportError(f"{where}: expected {{'class_name': str, 'config': dict}}, got {short_repr(item)}")
    kind, cfg = item["class_name"], item["config"]
    name = cfg.get("name")
    if not isinstance(name, str) or not name:
        raise KerasImportError(f"{where} ({kind}): the layer has no name")
    where = f"layer '{name}' ({kind})"
    if kind in MODEL_KINDS:
        model, layout = _model(item, where, depth + 1)
        return model, layout
    if kind in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
        raise KerasImportError(f"{where}: a {kind} layer holds Python code, which dl never runs from a file")
    cls = _registered(kind, item.get("registered_name"), where)
    return {"class_name": kind, "config": _settings(cfg, cls, kind, where, depth)}, None


def _registered(kind: str, registered: Any, where: str) -> type:
    """The dl class registered under the Keras class name (or under its registered name)."""
    registry = get_registry()
    for name in (kind, registered):
        if isinstance(name, str) and name:
            try:
                return registry.get("layers", name)
            except UnknownComponentError:
                pass
    custom = f" (a custom Keras object registered as {registered!r})" if isinstance(registered, str) \
        and registered != kind else ""
    raise KerasImportError(f"{where}: dl has no layer {kind!r}{custom}; nothing is imported from the file, "
                           "so only layers dl or an installed plugin registers can be read")


def accepted_kwargs(cls: type) -> set[str]:
    """The keyword arguments `cls` takes, through its base classes' **kwargs."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names - {"self"}


def _settings(cfg: dict, cls: type, kind: str, where: str, depth: int) -> dict:
    accepted = accepted_kwargs(cls)
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key == "dtype":
            dtype = _dtype(value, where) if kind != "InputLayer" else value
            if dtype is not None:
                out["dtype"] = dtype
        elif key in ("layer", "backward_layer") and isinstance(value, dict) and key in accepted:
            out[key] = _layer(value, f"{where} {key}", depth + 1)[0]
            inner = out[key]["config"]
            if kind == "Bidirectional" and key == "layer" and inner["name"].startswith("forward_"):
                inner["name"] = inner["name"][len("forward_"):]  # dl adds the prefix itself
        elif key in _HARMLESS:
            allowed = _HARMLESS[key]
            if allowed is not None and value not in allowed:
                raise KerasImportError(f"{where}: {key}={short_repr(value)} is not supported by dl")
        elif _CONSTRAINT.search(key):
            if value is not None:
                raise KerasImportError(f"{where}: {key}={short_repr(value)} is not supported by dl (no constraints)")
        elif key == "zero_output_for_mask":
            out["_keras_zero_output"] = bool(value)
        elif key not in accepted:
            raise KerasImportError(f"{where}: the setting {key}={short_repr(value)} is not supported by dl's {kind}")
        elif key.endswith("_initializer"):
            init = _component(value, "initializers")
            if init is not None:
                out[key] = init
        elif key.endswith("_regularizer") and value is not None:
            reg = _component(value, "regularizers")
            if reg is None:
                raise KerasImportError(f"{where}: {key}={short_repr(value)}: dl has no such regularizer")
            out[key] = reg
        elif isinstance(value, dict):
            raise KerasImportError(f"{where}: {key}={short_repr(value)} (a serialized object) is not supported")
        else:
            out[key] = value
    zero = out.pop("_keras_zero_output", None)
    if zero is False and out.get("return_sequences"):
        out["_keras_zero_output"] = False  # checked against masks once the whole model is known
    return out


def _component(value: Any, kind: str) -> Any:
    """A Keras-serialized initializer or regularizer as dl's {"class_name", "config"}, or None
    where dl has no such class or does not take its settings."""
    if isinstance(value, str):
        value = {"class_name": value, "config": {}}
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        return None
    cfg = value.get("config") if isinstance(value.get("config"), dict) else {}
    try:
        obj = get_registry().get(kind, value["class_name"])
    except UnknownComponentError:
        return None
    if not inspect.isclass(obj):
        return value["class_name"] if not cfg else None
    accepted = accepted_kwargs(obj)
    if any(k not in accepted and v is not None for k, v in cfg.items()):
        return None
    return {"class_name": value["class_name"], "config": {k: v for k, v in cfg.items() if k in accepted}}
