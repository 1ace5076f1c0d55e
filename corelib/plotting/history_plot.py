"""Plotting training curves: loss and each metric, training against validation.

Needs matplotlib (``pip install 'dl[plot]'``), imported only when a plot is
drawn. The figure is made without pyplot, so it is drawn by the Agg renderer
with no GUI backend and no display.
"""

from __future__ import annotations

import os
from typing import Any

from corelib.errors import ConfigError

__all__ = ["plot_history", "check_matplotlib"]


def check_matplotlib() -> None:
    """Raise ConfigError (one line) when matplotlib is not installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("plotting the training curves needs matplotlib, which is not installed: "
                          "pip install 'dl[plot]'")


def plot_history(history: Any, to_file: str | os.PathLike, title: str | None = None) -> str:
    """Draw one panel per quantity (loss, accuracy, ...), training and validation curves, to a PNG/SVG/PDF.

    Args:
        history: a `History`, or its dict {"loss": [...], "val_loss": [...], ...}.
        to_file: the image file; its extension picks the format.
        title: a title over the panels.

    Returns:
        The path written (atomically: a temporary file, then a rename).
    """
    from corelib.saving.archive import write_atomically

    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not any(logs.values()):
        raise ConfigError("plot_history: there is no epoch to plot (the history is empty)")
    path = os.fspath(to_file)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise ConfigError(f"plot_history writes .png, .svg or .pdf files. Received: to_file={path!r}")
    check_matplotlib()
    from matplotlib.figure import Figure  # a Figure without pyplot: no global state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    names = [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in names]
    fig = Figure(figsize=(5 * len(names), 3.6), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, label, style in ((name, "training", "-"), (f"val_{name}", "validation", "--")):
            values = logs.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    write_atomically(path, lambda fh: fig.savefig(fh, format=fmt))
    return path
