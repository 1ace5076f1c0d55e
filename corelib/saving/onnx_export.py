"""Export a model to an ONNX file: ``model.export("m.onnx", format="onnx")``, ``dl export``.

The engine walks the model's graph (nested models included) and hands each
layer call to the ONNX exporter registered for the layer's class (the
``register_onnx_exporters`` hook; dl's own are in the built-in plugin). The
graph it builds:

- targets opset 17 by default (LayerNormalization needs 17), up to 21;
- has a symbolic first (batch) dimension, "batch", on every input and output,
  and symbolic names for any other dimension the model leaves open;
- is float32 throughout: a float64 model's weights are written as float32
  (ONNX runtimes run float32 models everywhere; the outputs then differ from
  the float64 model's by float32 rounding). An integer model input (an
  ``Input(dtype="int32")`` before an Embedding) is int64;
- passes ``onnx.checker.check_model(..., full_check=True)`` before a byte is
  written, and is written atomically (a temporary file renamed into place).

Layers without an exporter are named, all of them, in one `ExportError`
before any work. ``onnx`` is an optional dependency: ``pip install "dl[onnx]"``.
"""

from __future__ import annotations

import os
from typing import Any

from corelib.errors import ExportError
from corelib.saving.archive import write_atomically
from corelib.saving.onnx_context import ExportContext, layer_label, missing_message

__all__ = ["DEFAULT_OPSET", "ExportContext", "export_onnx", "layer_label", "onnx_model"]

DEFAULT_OPSET = 17
_OPSETS = range(17, 22)
_BATCH = "batch"
_ONNX_TYPES = {"float32": 1, "int64": 7}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError('ONNX export needs the onnx package, which is not installed: pip install "dl[onnx]"') \
            from None
    return onnx


def _inner_layers(layer: Any) -> list[Any]:
    """A layer's sublayers that an exporter will reach through `ExportContext.call`."""
    if hasattr(layer, "plan") and hasattr(layer, "layers"):
        return list(layer.layers)
    return []


def _missing_exporters(ctx: ExportContext, model: Any) -> list[Any]:
    """Every layer of the model (nested models included) that has no exporter, once each."""
    missing, seen, stack = [], set(), list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen or type(layer).__name__ == "InputLayer":
            continue
        seen.add(id(layer))
        inner = _inner_layers(layer)
        if inner:
            stack[:0] = inner
        elif ctx.exporter_for(layer) is None:
            missing.append(layer)
    return missing


def _value_info(onnx: Any, name: str, shape: tuple, dtype: str, prefix: str) -> Any:
    dims = [_BATCH if k == 0 else (f"{prefix}_dim{k}" if d is None else int(d)) for k, d in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, _ONNX_TYPES[dtype], dims)


def onnx_model(model: Any, opset_version: int | None = None, registry: Any = None) -> Any:
    """The `onnx.ModelProto` of `model`, checked by ``onnx.checker`` (full check).

    Args:
        model: a built `Sequential`, `Model` or subclassed model.
        opset_version: the ONNX opset (17 to 21; default 17).
        registry: where exporters are looked up (default: `corelib.registry.get_registry()`).

    Raises:
        ExportError: onnx is missing, the model is not built, a layer has no exporter or uses
            an option ONNX cannot express, or the graph fails ONNX's checker.
    """
    onnx = _onnx()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in _OPSETS:
        raise ExportError(f"opset_version must be an int from {_OPSETS[0]} to {_OPSETS[-1]}. "
                          f"Received: opset_version={opset_version!r}")
    if registry is None:
        from corelib.registry import get_registry

        registry = get_registry()
    if getattr(model, "plan", None) is None:
        raise ExportError(f"cannot export to ONNX: model '{getattr(model, 'name', '?')}' is not built: give its "
                          "first layer an input_shape, or call it on data first")
    ctx = ExportContext(onnx.helper, onnx.numpy_helper, opset, registry)
    missing = _missing_exporters(ctx, model)
    if missing:
        raise ExportError(missing_message(missing))
    plan = model.plan
    inputs, outputs = [], []
    in_names = [ctx.reserve(str(n)) for n in model.input_names]
    out_names = [str(n) for n in model.output_names]
    for n in out_names:
        ctx.reserve(n)
    for name, t in zip(in_names, plan.inputs):
        dtype = "int64" if str(t.dtype).startswith(("int", "uint")) else "float32"
        if dtype == "int64":
            ctx.mark_integer(name)
        ctx.set_shape(name, t.shape)
        inputs.append(_value_info(onnx, name, t.shape, dtype, name))
    ys = ctx.walk(model, in_names)
    for name, y, t in zip(out_names, ys, plan.outputs):
        ctx.nodes.append(onnx.helper.make_node("Identity", [y], [name], name=ctx.fresh(f"{name}/Identity")))
        outputs.append(_value_info(onnx, name, t.shape, "int64" if ctx.is_integer(y) else "float32", name))
    graph = onnx.helper.make_graph(ctx.nodes, str(model.name), inputs, outputs, ctx.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="dl",
                                   producer_version=_dl_version(),
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # noqa: BLE001 - onnx raises ValidationError, InferenceError and others
        raise ExportError(f"cannot export to ONNX: the graph fails ONNX's checker, a fault in an exporter "
                          f"({type(exc).__name__}: {' '.join(str(exc).split())[:500]})") from None
    return proto


def _dl_version() -> str:
    from corelib.version import __version__

    return str(__version__)


def export_onnx(model: Any, filepath: str | os.PathLike, opset_version: int | None = None,
                verbose: bool = False, registry: Any = None) -> None:
    """Write `model` as an ONNX file at `filepath`, atomically (never a half-written file).

    Args:
        model: a built model.
        filepath: the .onnx file to write (replaced if it exists).
        opset_version: the ONNX opset (17 to 21; default 17).
        verbose: print a line saying what was written.
        registry: where exporters are looked up (default: the process's registry).

    Raises:
        ExportError: see `onnx_model`; nothing is written then.
    """
    proto = onnx_model(model, opset_version=opset_version, registry=registry)
    try:
        data = proto.SerializeToString()
    except ValueError as exc:  # protobuf refuses messages over 2 GiB
        raise ExportError(f"cannot export to ONNX: the model is too large for one ONNX file ({exc})") from None
    write_atomically(filepath, lambda fh: fh.write(data))
    if verbose:
        print(f"Wrote {os.fspath(filepath)}: ONNX opset {proto.opset_import[0].version}, "
              f"{len(proto.graph.node)} nodes, {len(data)} bytes")
