"""Drawing a model's graph: Graphviz DOT text, and PNG or SVG through Graphviz's `dot`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from corelib.errors import ConfigError

__all__ = ["model_to_dot", "plot_model"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shape(shape: Any) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape(s) for s in shape)
    return str(tuple(shape)) if shape is not None else "?"


def model_to_dot(model: Any, show_shapes: bool = True, show_layer_names: bool = True, rankdir: str = "TB") -> str:
    """The model as a Graphviz DOT graph: one box per layer, an edge per tensor."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ConfigError(f"rankdir must be one of TB, LR, BT, RL. Received: rankdir={rankdir!r}")
    if not model.built:
        raise ConfigError(f"Model '{model.name}' is not built yet, so its graph is unknown")
    lines = [f"digraph {_quote(model.name)} {{", f"  rankdir={rankdir};",
             '  node [shape=record, fontname="Helvetica", fontsize=11];']
    graph_layers = [t.node.layer for t in model.inputs] + [n.layer for n in model.plan.nodes]
    seen = set()
    for layer in graph_layers:
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        label = f"{layer.name}: {type(layer).__name__}" if show_layer_names else type(layer).__name__
        if show_shapes:
            label = f"{{{label}|{{input: {_shape(layer.input_shape)}|output: {_shape(layer.output_shape)}}}}}"
        lines.append(f"  {_quote(layer.name)} [label={_quote(label)}];")
    for node in model.plan.nodes:
        for t in node.inputs:
            lines.append(f"  {_quote(t.node.layer.name)} -> {_quote(node.layer.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = True, show_layer_names: bool = True,
               rankdir: str = "TB", **kwargs: Any) -> str:
    """Write the model's graph to `to_file`: .dot as text, .png/.svg/.pdf through Graphviz.

    Returns the path written. Raises ConfigError, writing nothing, when the
    format needs Graphviz's `dot` and it is not installed.
    """
    path = os.fspath(to_file)
    dot_text = model_to_dot(model, show_shapes=show_shapes, show_layer_names=show_layer_names, rankdir=rankdir)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("dot", "gv"):
        formatter = None
    elif ext in ("png", "svg", "pdf"):
        formatter = shutil.which("dot")
        if formatter is None:
            raise ConfigError(f"Drawing {path} needs Graphviz's `dot` program, which is not installed; "
                              "install graphviz, or ask for a .dot file")
    else:
        raise ConfigError(f"plot_model writes .dot, .png, .svg or .pdf files. Received: to_file={path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".dl-plot-", suffix="." + ext, dir=directory)
    os.close(fd)
    try:
        if formatter is None:
            with open(tmp, "w") as fh:
                fh.write(dot_text)
        else:
            result = subprocess.run([formatter, f"-T{ext}", "-o", tmp], input=dot_text, text=True,
                                    capture_output=True, timeout=60)
            if result.returncode != 0:
                raise ConfigError(f"Graphviz could not draw {path}: {result.stderr.strip().splitlines()[-1:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
