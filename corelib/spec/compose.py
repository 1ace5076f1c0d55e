"""Composing a model from layer expressions: the library behind `dl compose`.

    doc, model = compose(["Conv2D(32, 3, activation='relu')", "MaxPooling2D", "Flatten",
                          "Dense(10, activation='softmax')"], input_shape=(8, 8, 1))
    write_spec(doc, "cnn.yaml")        # the spec `dl train` and `corelib.spec.load_spec` read

An expression is a registered layer name, or a call of one with literal
arguments: numbers, strings, True/False/None, and tuples or lists of those.
It is parsed with Python's `ast` module and never evaluated: anything else
(attribute access, other calls, operators, names, ``*args``) is refused.
Every layer is built as it is added, so a layer that cannot take the shape
before it is refused naming both layers and both shapes. It is built for its
shapes and parameter counts only (no weights are allocated, see
`corelib.layers.base.shapes_only`) unless ``allocate=True``, and its weights
must fit in the machine's memory.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import os
from typing import Any

from corelib.errors import ConfigError, DLError, one_line
from corelib.spec.fields import input_shape_keys

__all__ = ["parse_layer", "parse_shape", "compose", "spec_text", "write_spec"]

_MAX_EXPRESSION = 1000
_EXAMPLE = "e.g. Dense(10, activation='relu') or Flatten"


def parse_layer(text: str, label: str = "layer expression") -> tuple[str, list, dict]:
    """(layer name, positional arguments, keyword arguments) of one layer expression.

    Args:
        text: the expression, e.g. ``"Dense(10, activation='relu')"``.
        label: how errors name it, before the quoted text ("layer 3").

    Raises:
        ConfigError: the text is not a layer name or a call of one with
            literal arguments; the message quotes the expression.
    """
    shown = f"{label} {_shown(text)}"
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{label} is empty; write a layer, {_EXAMPLE}")
    if len(text) > _MAX_EXPRESSION:
        raise ConfigError(f"{shown} is longer than {_MAX_EXPRESSION} characters")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"{shown} is not valid: {exc.msg}; write a layer, {_EXAMPLE}") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes; absurd nesting
        raise ConfigError(f"{shown} cannot be read; write a layer, {_EXAMPLE}") from None
    if isinstance(node, ast.Name):
        return node.id, [], {}
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ConfigError(f"{shown} must be a layer name or a call of one, {_EXAMPLE}")
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise ConfigError(f"{shown}: *arguments are not allowed; write each argument")
        args.append(_literal(arg, shown))
    kwargs = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ConfigError(f"{shown}: **arguments are not allowed; write each argument")
        if keyword.arg in kwargs:  # ast.parse accepts what the compiler would refuse
            raise ConfigError(f"{shown}: the argument {keyword.arg!r} is given twice")
        kwargs[keyword.arg] = _literal(keyword.value, shown)
    return node.func.id, args, kwargs


def _literal(node: ast.AST, shown: str, depth: int = 0) -> Any:
    """The value of a literal node: a number, string, True/False/None, or a tuple/list of them (as a list)."""
    if isinstance(node, ast.Constant) and (type(node.value) in (int, float, str, bool) or node.value is None):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.Tuple, ast.List)) and depth < 8:
        return [_literal(e, shown, depth + 1) for e in node.elts]
    raise ConfigError(f"{shown}: only literal arguments are allowed (numbers, strings, "
                      f"True/False/None, tuples and lists); found {_shown(ast.unparse(node))}")


def _shown(text: Any) -> str:
    text = repr(text)
    return text if len(text) <= 60 else text[:57] + "...'"


def parse_shape(text: str, what: str = "input shape") -> list[int | None]:
    """A sample shape from "28,28,1", "(28, 28, 1)", "28x28x1" or "784" ("None" for any size); each
    size at most `corelib.validation.MAX_SIZE`."""
    from corelib.validation import MAX_SIZE

    cleaned = text.strip().strip("()[]").replace("x", ",").replace("X", ",")
    parts = [p.strip() for p in cleaned.split(",") if p.strip()]
    dims: list[int | None] = []
    for p in parts:
        if p in ("None", "none", "?"):
            dims.append(None)
        elif p.isascii() and p.isdigit() and len(p.lstrip("0")) <= 10 and 0 < int(p) <= MAX_SIZE:  # not "²"
            dims.append(int(p))
        else:
            dims = []
            break
    if not dims:
        raise ConfigError(f"{what} must be positive ints separated by commas, like 28,28,1 (each at most "
                          f"{MAX_SIZE}). Received: {_shown(text)}")
    return dims


def _named_arguments(cls: Any, name: str, args: list, kwargs: dict, shown: str) -> dict:
    """Keyword arguments only: positional ones named from the layer's signature (Keras order)."""
    try:
        signature = inspect.signature(cls)
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{shown}: {name}: {exc}") from None
    except ValueError:  # no signature to read: keyword arguments only
        if args:
            raise ConfigError(f"{shown}: {name} takes keyword arguments only") from None
        return dict(kwargs)
    out: dict = {}
    for key, value in bound.arguments.items():
        kind = signature.parameters[key].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            raise ConfigError(f"{shown}: {name} takes a variable number of positional "
                              "arguments, which a spec cannot name; use keyword arguments")
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[key] = value
    return out


def compose(expressions: list[str], input_shape: list[int | None] | None = None,
            name: str | None = None, *, allocate: bool = False,
            max_weight_bytes: int | None = None) -> tuple[dict, Any]:
    """Build a Sequential model from layer expressions and the spec document that describes it.

    Args:
        expressions: one layer expression each, in order.
        input_shape: the shape of one sample; needed unless the first
            expression gives ``input_shape=...`` itself.
        name: the model's name.
        allocate: False (the default) builds the layers for their shapes and
            parameter counts only (`corelib.layers.base.shapes_only`): the
            model's summary and plot are right and its weights take no memory,
            but it cannot be trained. True allocates and initializes them.
        max_weight_bytes: the most the weights may take in all (default: the
            machine's memory), allocated or not: a spec past it could not be
            trained here, so it is refused.

    Returns:
        ``(doc, model)``: the spec as a dict (``{"model": [{Layer: {args}}]}``,
        plus ``name``) and the built model.

    Raises:
        ConfigError / UnknownComponentError / ShapeError: the message names the
            expression (its position and text) and, for shapes, both layers.
    """
    from corelib.layers.base import shapes_only, weight_budget
    from corelib.saving.archive import physical_memory

    if not expressions:
        raise ConfigError(f"no layers given; write one expression per layer, {_EXAMPLE}")
    limit = physical_memory() if max_weight_bytes is None else max_weight_bytes
    what = "left of this machine's memory" if max_weight_bytes is None else "left of max_weight_bytes"
    with weight_budget(limit, what), (contextlib.nullcontext() if allocate else shapes_only()):
        return _compose(expressions, input_shape, name)


def _compose(expressions: list[str], input_shape: list[int | None] | None, name: str | None) -> tuple[dict, Any]:
    from corelib.models import Sequential
    from corelib.registry import get_registry

    registry = get_registry()
    model = Sequential(name=name)
    layers_doc = []
    for i, text in enumerate(expressions):
        shown = f"layer {i + 1} {_shown(text)}"
        layer_name, args, kwargs = parse_layer(text, f"layer {i + 1}")
        try:
            cls = registry.get("layers", layer_name)
        except DLError as exc:
            raise type(exc)(f"{shown}: {one_line(exc)}") from None
        config = _named_arguments(cls, layer_name, args, kwargs, shown)
        if i == 0 and input_shape is not None:
            if any(k in config for k in input_shape_keys(layer_name)):
                raise ConfigError(f"{shown} gives its own input shape and so does --input-shape; keep one")
            config["input_shape"] = list(input_shape)
        try:
            layer = cls.from_config(dict(config)) if hasattr(cls, "from_config") else cls(**config)
            if i == 0 and layer.batch_input_shape is None:
                raise ConfigError("the first layer needs an input shape: pass --input-shape (e.g. 28,28,1) "
                                  "or input_shape=(...) in the first expression")
            model.add(layer)
        except (DLError, TypeError, ValueError, OverflowError) as exc:  # a layer's own checks may miss a value
            raise (type(exc) if isinstance(exc, DLError) else ConfigError)(
                f"{shown}: {one_line(exc)}") from None
        layers_doc.append({layer_name: config})
    if all(layer_name == "InputLayer" for layer_name in (next(iter(item)) for item in layers_doc)):
        raise ConfigError(f"an InputLayer alone is no model (a spec needs a layer besides it); add a layer, {_EXAMPLE}")
    doc: dict = {"name": name} if name else {}
    doc["model"] = layers_doc
    return doc, model


def spec_text(doc: dict, fmt: str = "yaml") -> str:
    """The spec document as YAML (one line per layer) or JSON."""
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    import yaml

    def flow(value: Any) -> str:
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()

    lines = ["# Written by `dl compose`; add a training: section or pass --loss, --data ... to `dl train`."]
    if doc.get("name"):
        lines.append(f"name: {json.dumps(doc['name'])}")  # a JSON string is a YAML string
    lines.append("model:")
    for item in doc["model"]:
        ((layer, config),) = item.items()
        lines.append(f"  - {layer}: {flow(config)}")
    return "\n".join(lines) + "\n"


def write_spec(doc: dict, path: str | os.PathLike) -> None:
    """Write `doc` to `path` (.yaml/.yml or .json), atomically."""
    from corelib.saving.archive import write_atomically

    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"a spec file ends in .yaml, .yml or .json. Received: {path!r}")
    text = spec_text(doc, "json" if suffix == ".json" else "yaml")
    write_atomically(path, lambda fh: fh.write(text.encode("utf-8")))
