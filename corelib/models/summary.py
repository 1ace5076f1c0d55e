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


def summary_rows(model: Any) -> list[tuple[str, ...]]:
    """(name (type), output shape, parameter count, plugin[, connected to]) for each layer."""
    connections = model.connections()
    rows = []
    for layer in model.layers:
        row = (f"{layer.name} ({type(layer).__name__})", _shape(layer.output_shape),
               f"{layer.count_params():,}" if layer.built else "0 (unbuilt)", _plugin_of(layer))
        if connections is not None:
            calls = connections.get(layer.name, [])
            row += (", ".join(t for call in calls for t in call) or "-",)
        rows.append(row)
    return rows


def _shape(shape: Any) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape(s) for s in shape)
    return "?" if shape is None else str(tuple(shape))


def print_summary(model: Any, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
    """Print the summary table; `print_fn` receives one line at a time."""
    emit = print_fn or print
    header: tuple[str, ...] = ("Layer (type)", "Output Shape", "Param #", "Plugin")
    if model.connections() is not None:
        header += ("Connected to",)
    rows = summary_rows(model)
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
        if i < len(rows) - 1:
            emit(rule)
    emit("=" * total_width)
    trainable = sum(p.value.size for p in model.trainable_weights)
    non_trainable = sum(p.value.size for p in model.non_trainable_weights)
    emit(f"Total params: {trainable + non_trainable:,}")
    emit(f"Trainable params: {trainable:,}")
    emit(f"Non-trainable params: {non_trainable:,}")
    emit(rule)
