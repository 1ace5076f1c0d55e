"""ExportContext: what an ONNX exporter adds a layer's nodes through.

An exporter is ``exporter(ctx, layer, x)``: it reads the layer's weights and
options, adds nodes and initializers through `ctx`, and returns the name of
its output (a list of names where the layer's `forward` returns a list), as
the layer's `forward` returns its output. `x` is a name, or a list of names
for a layer that takes a list (a merge). Exporters are registered with the
``register_onnx_exporters`` hook; `corelib.saving.onnx_export` walks the
model's graph and calls them.

Tensors are named by strings; their shapes (batch axis first, None where
unknown, as dl's symbolic shapes) are known for every layer input, and an
exporter that hands an intermediate tensor to `call` sets its shape first
with `set_shape`. Every float tensor is float32.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from corelib.errors import ExportError, PluginConflictError, UnknownComponentError

__all__ = ["ExportContext", "layer_label"]

_FLOAT = "float32"


def layer_label(layer: Any) -> str:
    """"layer 'dense_1' (Dense)": how every export error names a layer."""
    return f"layer '{getattr(layer, 'name', '?')}' ({type(layer).__name__})"


def _is_model(layer: Any) -> bool:
    return hasattr(layer, "plan") and hasattr(layer, "layers") and hasattr(layer, "input_names")


class ExportContext:
    """The ONNX graph under construction, and the calls that add to it.

    Args:
        helper: the `onnx.helper` module (onnx is imported lazily by the engine).
        numpy_helper: the `onnx.numpy_helper` module.
        opset: the ONNX opset version the graph targets (`opset` attribute).
        registry: the `corelib.registry.Registry` the exporters are looked up in.
    """

    def __init__(self, helper: Any, numpy_helper: Any, opset: int, registry: Any) -> None:
        self.opset = int(opset)
        self._helper = helper
        self._numpy_helper = numpy_helper
        self._registry = registry
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._taken: set[str] = set()
        self._shapes: dict[str, tuple] = {}
        self._ints: set[str] = set()

    # -- names and shapes -----------------------------------------------------------

    def reserve(self, name: str) -> str:
        """Claim `name` as it is (a graph input or output); ExportError if it is taken."""
        if name in self._taken:
            raise ExportError(f"cannot export to ONNX: the name {name!r} is used twice (inputs and outputs "
                              "need distinct names)")
        self._taken.add(name)
        return name

    def fresh(self, hint: str = "t") -> str:
        """A tensor name not used yet, built from `hint` ("dense/kernel", "dense/kernel_1", ...)."""
        base = hint or "t"
        name, k = base, 0
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def shape_of(self, name: str) -> tuple | None:
        """The static shape of tensor `name` (batch axis first, None for unknown sizes), or None
        when no one recorded it."""
        return self._shapes.get(name)

    def set_shape(self, name: str, shape: Sequence[int | None]) -> None:
        """Record the shape of tensor `name` (needed before handing it to `call`)."""
        self._shapes[name] = tuple(None if d is None else int(d) for d in shape)

    def is_integer(self, name: str) -> bool:
        """Whether tensor `name` holds integers (an integer model input, an Embedding's ids)."""
        return name in self._ints

    def mark_integer(self, name: str) -> None:
        """Record that tensor `name` holds int64 values."""
        self._ints.add(name)

    # -- building -------------------------------------------------------------------

    def constant(self, value: Any, hint: str = "const", dtype: str | None = None) -> str:
        """Add `value` as an initializer and return its name. Floats become float32 (a float64
        model exports as float32); integers int64 unless `dtype` says otherwise."""
        arr = np.asarray(value)
        if dtype is None:
            dtype = _FLOAT if arr.dtype.kind in "fb" and arr.dtype != bool else "int64"
            if arr.dtype == bool:
                dtype = "bool"
        arr = np.ascontiguousarray(arr.astype(dtype, copy=False))
        name = self.fresh(hint)
        self.initializers.append(self._numpy_helper.from_array(arr, name))
        if arr.dtype.kind in "iu":
            self._ints.add(name)
        return name

    def tensor(self, value: Any) -> Any:
        """`value` as an ONNX TensorProto, for a tensor-valued attribute (ConstantOfShape's value)."""
        return self._numpy_helper.from_array(np.asarray(value))

    def ints(self, values: Sequence[int], hint: str = "const") -> str:
        """An int64 vector initializer (shapes, axes, pads...)."""
        return self.constant(np.asarray(list(values), dtype=np.int64).reshape(-1), hint, dtype="int64")

    def node(self, op_type: str, inputs: Sequence[str], hint: str | None = None, outputs: int = 1,
             **attributes: Any) -> Any:
        """Add one ONNX node; returns its output's name (a list of names when outputs > 1).

        Args:
            op_type: the ONNX operator ("MatMul").
            inputs: input names; "" for an optional input left out.
            hint: the base of the output names (default: the op's name in lower case).
            outputs: how many outputs to name.
            **attributes: the operator's attributes (None values are left out).
        """
        base = hint or op_type.lower()
        names = [self.fresh(base) for _ in range(outputs)]
        attrs = {k: v for k, v in attributes.items() if v is not None}
        self.nodes.append(self._helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{base}/{op_type}"),
                                                 **attrs))
        return names[0] if outputs == 1 else names

    # -- common patterns (opset-aware) -------------------------------------------------

    def transpose(self, x: str, perm: Sequence[int], hint: str | None = None) -> str:
        return self.node("Transpose", [x], hint, perm=list(perm))

    def reshape(self, x: str, shape: Sequence[int], hint: str | None = None) -> str:
        """Reshape to `shape`; 0 keeps that input dimension (the batch), -1 is inferred."""
        return self.node("Reshape", [x, self.ints(shape, f"{hint or 'reshape'}/shape")], hint)

    def unsqueeze(self, x: str, axes: Sequence[int], hint: str | None = None) -> str:
        return self.node("Unsqueeze", [x, self.ints(axes, f"{hint or 'unsqueeze'}/axes")], hint)

    def squeeze(self, x: str, axes: Sequence[int], hint: str | None = None) -> str:
        return self.node("Squeeze", [x, self.ints(axes, f"{hint or 'squeeze'}/axes")], hint)

    def slice(self, x: str, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int],
              steps: Sequence[int] | None = None, hint: str | None = None) -> str:
        h = hint or "slice"
        ins = [x, self.ints(starts, f"{h}/starts"), self.ints(ends, f"{h}/ends"), self.ints(axes, f"{h}/axes")]
        if steps is not None:
            ins.append(self.ints(steps, f"{h}/steps"))
        return self.node("Slice", ins, hint)

    def reverse(self, x: str, axis: int, hint: str | None = None) -> str:
        """`x` with `axis` in reverse order (a Slice with step -1)."""
        return self.slice(x, [-1], [-(2 ** 62)], [axis], [-1], hint)

    def reduce(self, op: str, x: str, axes: Sequence[int], keepdims: bool = True, hint: str | None = None) -> str:
        """``ReduceMean`` & co. over `axes`: an attribute before opset 18, an input from it
        (ReduceSum takes an input from opset 13)."""
        if self.opset >= 18 or op == "ReduceSum":
            return self.node(op, [x, self.ints(axes, f"{hint or op.lower()}/axes")], hint, keepdims=int(keepdims))
        return self.node(op, [x], hint, axes=list(axes), keepdims=int(keepdims))

    def add_bias(self, x: str, bias: Any, hint: str | None = None) -> str:
        """x + bias, with `bias` a weight array (a Parameter's value) or None (x as is)."""
        if bias is None:
            return x
        return self.node("Add", [x, self.constant(bias, f"{hint or 'bias'}/bias")], hint)

    # -- layers -------------------------------------------------------------------------

    def fail(self, layer: Any, reason: str) -> ExportError:
        """The error an exporter raises for something ONNX cannot express:
        ``raise ctx.fail(layer, "padding='causal' ...")``."""
        return ExportError(f"cannot export to ONNX: {layer_label(layer)}: {reason}")

    def exporter_for(self, layer: Any) -> Any:
        """The registered exporter of `layer`'s class, or None: looked up by the name the layer
        is registered under, then by its class name."""
        names = []
        entry = self._registry.provider_of(type(layer), "layers")
        if entry is not None:
            names.append(entry.name)
        names.append(type(layer).__name__)
        for name in dict.fromkeys(names):
            try:
                return self._registry.get("onnx_exporters", name)
            except UnknownComponentError:
                continue
            except PluginConflictError as exc:
                raise ExportError(f"cannot export to ONNX: {layer_label(layer)}: {exc}") from None
        return None

    def call(self, layer: Any, x: Any) -> Any:
        """Export `layer` (a layer or a nested model) applied to `x` (a name, or a list of names)
        and return its output name(s), recording their shapes. Exporters of wrappers (Bidirectional,
        TimeDistributed, a block of sublayers) call it for their inner layers."""
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if not getattr(layer, "accepts_integer_input", False) and not _is_model(layer):
            xs = [self.node("Cast", [v], f"{layer.name}/to_float", to=1) if self.is_integer(v) else v for v in xs]
            for old, new in zip(list(x) if isinstance(x, (list, tuple)) else [x], xs):
                if old != new and self.shape_of(old) is not None:
                    self.set_shape(new, self.shape_of(old))
        arg = xs if isinstance(x, (list, tuple)) else xs[0]
        if _is_model(layer):
            outs = self.walk(layer, xs)
            return outs if len(outs) > 1 else outs[0]
        exporter = self.exporter_for(layer)
        if exporter is None:
            raise ExportError(missing_message([layer]))
        y = exporter(self, layer, arg)
        self._record_output_shapes(layer, xs, isinstance(x, (list, tuple)), y)
        return y

    def walk(self, model: Any, xs: list[str]) -> list[str]:
        """Export a model's graph on inputs `xs`: every layer call in order; returns the names of
        the model's outputs.

        Raises:
            ExportError: the model is not built, a layer call was fixed to ``training=True``,
                or a padding mask (``mask_zero=True``) reaches a layer that would use it.
        """
        plan = model.plan
        if plan is None:
            raise ExportError(f"cannot export to ONNX: model '{model.name}' is not built: give its first layer an "
                              "input_shape, or call it on data first")
        if len(xs) != len(plan.inputs):
            raise ExportError(f"cannot export to ONNX: model '{model.name}' takes {len(plan.inputs)} inputs, "
                              f"received {len(xs)}")
        names = {id(t): x for t, x in zip(plan.inputs, xs)}
        masked: dict[int, Any] = {}  # tensor id -> the layer whose padding mask it carries
        for t, x in zip(plan.inputs, xs):
            if self.shape_of(x) is None:
                self.set_shape(x, t.shape)
        for node in plan.nodes:
            layer = node.layer
            if node.training:
                raise self.fail(layer, "it is called with training=True, which an inference graph cannot express")
            makers = [masked[id(t)] for t in node.inputs if id(t) in masked]
            if makers and getattr(layer, "accepts_mask", False):
                raise ExportError(
                    f"cannot export to ONNX: {layer_label(makers[0])} makes a padding mask (mask_zero=True) that "
                    f"{layer_label(layer)} uses; ONNX export cannot express masking: export a model without "
                    "mask_zero (or pad with a value the model learned to ignore)")
            ins = [names[id(t)] for t in node.inputs]
            y = self.call(layer, ins if node.multi_input else ins[0])
            ys = list(y) if node.multi_output else [y]
            if len(ys) != len(node.outputs):
                raise self.fail(layer, f"its exporter returned {len(ys)} outputs; the layer has {len(node.outputs)}")
            for t, name in zip(node.outputs, ys):
                names[id(t)] = name
                self.set_shape(name, t.shape)
            if getattr(layer, "mask_zero", False):
                maker = layer
            elif makers and getattr(layer, "supports_masking", False) and not node.multi_input:
                maker = makers[0]
            else:
                maker = None
            if maker is not None:
                for t in node.outputs:
                    masked[id(t)] = maker
        return [names[id(t)] for t in plan.outputs]

    def _record_output_shapes(self, layer: Any, xs: list[str], multi: bool, y: Any) -> None:
        shapes = [self.shape_of(v) for v in xs]
        if any(s is None for s in shapes):
            return
        try:
            out = layer.compute_output_shape(shapes if multi else shapes[0])
        except Exception:  # noqa: BLE001 - shapes are a help to later exporters, never required
            return
        ys = y if isinstance(y, (list, tuple)) else [y]
        outs = out if isinstance(out, list) else [out]
        for name, shape in zip(ys, outs):
            if self.shape_of(name) is None and isinstance(shape, tuple):
                self.set_shape(name, shape)


def missing_message(layers: Sequence[Any]) -> str:
    """The one line for layers without an ONNX exporter."""
    named = ", ".join(layer_label(l) for l in layers)
    has = "has" if len(layers) == 1 else "have"
    return (f"cannot export to ONNX: {named} {has} no ONNX exporter (a plugin adds one with the "
            "register_onnx_exporters hook)")
