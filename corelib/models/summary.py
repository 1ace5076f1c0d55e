"""The text table printed by `Model.summary()`."""

from __future__ import annotations

from typing import Any, Callable

from corelib.registry import get_registry

__all__ = ["print_summary", "summary_rows"]


def _plugin_of(layer: Any) -> str:
    entry = get_registry().provider_of(type(layer))
    if entry is None:
        return "(unregistered)"
    return f"{entry.plugin} {entry.version}" if entry.version else entry.plugin


def summary_rows(model: Any, expand_nested: bool = False, depth: int = 0) -> list[tuple[str, ...]]:
    """(name (type), output shape, parameter count, plugin, connected to, trainable) for each layer;
    with `expand_nested`, a nested model's layers follow it, indented."""
    connections = model.connections()
    rows = []
    indent = "  " * depth + ("└ " if depth else "")
    for layer in model.layers:
        built = getattr(layer, "built", False)
        calls = connections.get(layer.name, []) if connections is not None else []
        rows.append((f"{indent}{layer.name} ({type(layer).__name__})",
                     _shape(layer.output_shape if built else None),
                     f"{layer.count_params():,}" if built else "0 (unbuilt)", _plugin_of(layer),
                     ", ".join(t for call in calls for t in call) or "-",
                     "Y" if layer.trainable_weights or (layer.trainable and not layer.weights) else "N"))
        if expand_nested and _is_model(layer):
            rows.extend(summary_rows(layer, expand_nested, depth + 1))
    return rows


def _is_model(layer: Any) -> bool:
    return hasattr(layer, "connections") and hasattr(layer, "layers")


def _shape(shape: Any) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape(s) for s in shape)
    return "?" if shape is None else str(tuple(shape))


def print_summary(model: Any, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None,
                  expand_nested: bool = False, show_trainable: bool = False) -> None:
    """Print the summary table; `print_fn` receives one line at a time."""
    emit = print_fn or print
    header: tuple[str, ...] = ("Layer (type)", "Output Shape", "Param #", "Plugin", "Connected to", "Trainable")
    keep = [True, True, True, True, model.connections() is not None, show_trainable]
    header = tuple(h for h, k in zip(header, keep) if k)
    rows = [tuple(c for c, k in zip(r, keep) if k) for r in summary_rows(model, expand_nested)]
    widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(len(header))]
    total_width = line_length or sum(widths)
    rule = "-" * total_width

    def line(cells: tuple) -> str:
        return "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    emit(f'Model: "{model.name}"')
    emit("=" * total_width)
    emit(line(header))
    emit("=" * total_width)
    for i, row in enumerate(rows):
        emit(line(row))
        if i < len(rows) - 1 and not rows[i + 1][0].startswith(" "):
            emit(rule)
    emit("=" * total_width)
    trainable = sum(p.value.size for p in model.trainable_weights)
    non_trainable = sum(p.value.size for p in model.non_trainable_weights)
    emit(f"Total params: {trainable + non_trainable:,}")
    emit(f"Trainable params: {trainable:,}")
    emit(f"Non-trainable params: {non_trainable:,}")
    emit(rule)
