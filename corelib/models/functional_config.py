"""Rebuilding a layer graph from its config (model files, specs, JSON).

The config names layers by their registered names and connects calls by
references [layer name, call index, tensor index]. Everything is checked
before use: an unknown reference, a cycle, or a malformed entry is a one-line
ConfigError naming the layer.
"""

from __future__ import annotations

from typing import Any

from corelib.errors import ConfigError
from corelib.layers.input_layer import InputLayer, input_tensor
from corelib.layers.symbolic import SymbolicTensor, call_symbolic
from corelib.saving.serialization import deserialize_layer

__all__ = ["rebuild_graph", "MAX_LAYERS"]

MAX_LAYERS = 10_000


def _ref(value: Any, where: str) -> tuple[str, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3 or not isinstance(value[0], str)
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAX_LAYERS for v in value[1:])):
        raise ConfigError(f"{where}: a tensor reference must be [layer name, call index, tensor index], got {value!r}")
    return value[0], value[1], value[2]


def rebuild_graph(config: Any, custom_objects: dict | None = None) -> tuple[Any, Any]:
    """(inputs, outputs) as Model takes them, from `Model.get_config()`'s dict."""

    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("A Model config needs a 'layers' list")
    items = config["layers"]
    if len(items) > MAX_LAYERS:
        raise ConfigError(f"A Model config with {len(items)} layers is beyond the limit of {MAX_LAYERS}")
    layers: dict[str, Any] = {}
    pending: list[tuple[str, int, list]] = []
    for i, item in enumerate(items):
        layer = deserialize_layer(item, f"layers[{i}]", custom_objects)
        if layer.name in layers:
            raise ConfigError(f"layers[{i}]: a second layer named '{layer.name}'")
        layers[layer.name] = layer
        inbound = item.get("inbound", [])
        if not isinstance(inbound, list):
            raise ConfigError(f"layers[{i}] ('{layer.name}'): 'inbound' must be a list of calls")
        modes = item.get("call_training", [None] * len(inbound))
        if (not isinstance(modes, list) or len(modes) != len(inbound)
                or not all(m is None or isinstance(m, bool) for m in modes)):
            raise ConfigError(f"layers[{i}] ('{layer.name}'): 'call_training' must hold true, false or null "
                              "for each call")
        for call, refs in enumerate(inbound):
            if not isinstance(refs, list) or not refs:
                raise ConfigError(f"layers[{i}] ('{layer.name}'): call {call} must list its input tensors")
            pending.append((layer.name, call, [_ref(r, f"layers[{i}] ('{layer.name}')") for r in refs], modes[call]))

    tensors: dict[tuple[str, int, int], SymbolicTensor] = {}
    done_calls: dict[str, int] = {}
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            tensors[(name, 0, 0)] = input_tensor(layer)
            done_calls[name] = 1
    while pending:
        progress = False
        remaining = []
        for name, call, refs, mode in pending:
            ready = done_calls.get(name, 0) == call and all(r in tensors for r in refs)
            if not ready:
                remaining.append((name, call, refs, mode))
                continue
            x = [tensors[r] for r in refs]
            out = call_symbolic(layers[name], x if len(x) > 1 else x[0], mode)
            for k, t in enumerate(out if isinstance(out, list) else [out]):
                tensors[(name, call, k)] = t
            done_calls[name] = call + 1
            progress = True
        if not progress:
            name, call, refs, _ = remaining[0]
            missing = [r for r in refs if r not in tensors]
            what = (f"tensor {list(missing[0])}, which no layer produces or which depends on '{name}' itself (a cycle)"
                    if missing else f"its call {call} out of order")
            raise ConfigError(f"Layer '{name}' cannot be connected: it needs {what}")
        pending = remaining

    def resolve(key: str) -> list[SymbolicTensor]:
        refs = config.get(key)
        if not isinstance(refs, list) or not refs:
            raise ConfigError(f"A Model config needs a non-empty '{key}' list")
        out = []
        for r in refs:
            r = _ref(r, key)
            if r not in tensors:
                raise ConfigError(f"{key}: no tensor {list(r)} in the graph")
            out.append(tensors[r])
        return out

    inputs, outputs = resolve("inputs"), resolve("outputs")
    in_keys, out_keys = config.get("input_keys"), config.get("output_keys")
    if in_keys is not None:
        inputs = dict(zip(_keys(in_keys, len(inputs), "input_keys"), inputs))
    if out_keys is not None:
        outputs = dict(zip(_keys(out_keys, len(outputs), "output_keys"), outputs))
    elif config.get("single_output", len(outputs) == 1) and len(outputs) == 1:
        outputs = outputs[0]
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    return inputs, outputs


def _keys(keys: Any, n: int, what: str) -> list[str]:
    if not isinstance(keys, list) or len(keys) != n or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"'{what}' must be a list of {n} names")
    return keys
