"""The spec file itself: parsing, command-line overrides, and building and compiling its model."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import corelib.spec.fields as F
from corelib.spec.fields import SpecError
from corelib.spec.reading import read_json, read_yaml
from corelib.errors import DLError, one_line
from corelib.spec.data import TrainingData, load_training_data, prepare_arrays, prepare_targets

__all__ = [
    "Spec",
    "SpecError",
    "TrainingSpec",
    "TrainingData",
    "load_spec",
    "parse_spec",
    "with_overrides",
    "build_model",
    "compile_model",
    "load_training_data",
    "prepare_arrays",
    "prepare_targets",
]

_TOP_KEYS = ("model", "training", "name", "description")
_TRAINING_KEYS = (
    "loss",
    "optimizer",
    "metrics",
    "epochs",
    "batch_size",
    "validation_split",
    "shuffle",
    "data",
    "seed",
    "output",
    "loss_weights",
    "inputs",
)


@dataclass(frozen=True)
class TrainingSpec:
    """The ``training:`` section, with Keras's defaults for what it leaves out.

    ``data`` is None, ``{"dataset": name, "options": {...}}`` or
    ``{"path": Path, "target": column or None}``; ``output`` is a Path or None.
    """

    loss: str | dict | None = None
    optimizer: str | dict = "rmsprop"
    metrics: list = field(default_factory=list)
    epochs: int = 1
    batch_size: int = 32
    validation_split: float = 0.0
    shuffle: bool = True
    data: dict | None = None
    seed: int | None = None
    output: Path | None = None
    loss_weights: dict | list | None = None
    inputs: dict | None = None


@dataclass(frozen=True)
class Spec:
    """A parsed, validated spec: layers as ``[{"class_name", "config"}]`` (a stack) or
    ``graph`` (inputs, layers with their inputs, outputs), plus training."""

    layers: list[dict]
    training: TrainingSpec
    name: str | None = None
    description: str | None = None
    source: str = "<spec>"
    path: Path | None = None
    graph: dict | None = None


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and validate a YAML (.yaml/.yml) or JSON (.json) spec file.

    Raises:
        SpecError: the file is missing, does not parse, or a field is wrong;
            the one-line message names the file and the field.
    """
    path = Path(path)
    source = path.name
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found" if not path.exists() else f"{path}: is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec ({type(exc).__name__}: {exc})") from None
    raw = read_json(text, source) if path.suffix.lower() == ".json" else read_yaml(text, source)
    return parse_spec(raw, source=source, base_dir=path.resolve().parent, path=path)


def parse_spec(raw: Any, source: str = "<spec>", base_dir: str | os.PathLike | None = None, path: Path | None = None) -> Spec:
    """Validate an already-parsed spec (a dict) and normalise it into a `Spec`.

    Args:
        raw: the parsed YAML/JSON document.
        source: the name used in error messages (the file name).
        base_dir: directory that relative paths in the spec are relative to
            (default: the current directory).
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if not isinstance(raw, dict):
        raise F.fail(source, "the spec", "a mapping with a 'model' key", raw)
    if "class_name" in raw and "model" not in raw:
        raw = {"model": raw}  # a bare Keras model config
    F.unknown_keys(source, "", raw, _TOP_KEYS)
    if "model" not in raw:
        raise SpecError(f"{source}: missing field 'model' (the list of layers)")
    graph = None
    if isinstance(raw["model"], dict) and ("outputs" in raw["model"] or raw["model"].get("class_name") in _GRAPH):
        from corelib.spec.graph import parse_graph

        name, layers, graph = None, [], parse_graph(raw["model"], source)
        name = graph.get("name")
    else:
        name, layers = _model(raw["model"], source)
    name = F.text(raw["name"], "name", source) if raw.get("name") is not None else name
    description = F.text(raw["description"], "description", source) if raw.get("description") is not None else None
    training = _training(raw.get("training"), source, base)
    return Spec(layers, training, name, description, source, path, graph)


_GRAPH = ("Model", "Functional")


def _model(value: Any, source: str) -> tuple[str | None, list[dict]]:
    if isinstance(value, list):
        return None, F.layer_list(value, "model", source)
    if isinstance(value, dict) and "class_name" in value:
        if value["class_name"] != "Sequential":
            raise F.fail(source, "model.class_name", "'Sequential' or 'Model' (the model types a spec can hold)",
                         value["class_name"])
        config = value.get("config")
        if not isinstance(config, dict):
            raise F.fail(source, "model.config", "a mapping with a 'layers' list", config)
        name = config.get("name")
        return (name if isinstance(name, str) else None), F.layer_list(config.get("layers"), "model.config.layers", source)
    if isinstance(value, dict) and "layers" in value:
        F.unknown_keys(source, "model", value, ("name", "layers"))
        name = F.text(value["name"], "model.name", source) if value.get("name") is not None else None
        return name, F.layer_list(value["layers"], "model.layers", source)
    raise F.fail(source, "model", "a list of layers or {class_name: Sequential, config: {layers: [...]}}", value)


def _training(value: Any, source: str, base: Path) -> TrainingSpec:
    if value is None:
        return TrainingSpec()
    if not isinstance(value, dict):
        raise F.fail(source, "training", "a mapping (loss, optimizer, epochs, ...)", value)
    F.unknown_keys(source, "training", value, _TRAINING_KEYS)
    import corelib.spec.graph as G

    checks = {
        "loss": lambda v, f: G.per_output(v, f, source, F.component),
        "optimizer": lambda v, f: F.component(v, f, source),
        "metrics": lambda v, f: G.per_output(v, f, source, F.metric_list),
        "loss_weights": lambda v, f: G.loss_weights(v, f, source),
        "inputs": lambda v, f: G.column_groups(v, f, source),
        "epochs": lambda v, f: F.positive_int(v, f, source),
        "batch_size": lambda v, f: F.positive_int(v, f, source),
        "validation_split": lambda v, f: F.fraction(v, f, source),
        "shuffle": lambda v, f: F.boolean(v, f, source),
        "data": lambda v, f: F.data_field(v, f, source, base),
        "seed": lambda v, f: F.non_negative_int(v, f, source),
        "output": lambda v, f: base / F.text(v, f, source),
    }
    kwargs = {key: checks[key](v, f"training.{key}") for key, v in value.items() if v is not None}
    return TrainingSpec(**kwargs)


def with_overrides(spec: Spec, **overrides: Any) -> Spec:
    """A copy of `spec` with training fields replaced (None values are ignored).

    `data` may be a data set name or a file path (relative to the current
    directory, as command-line paths are); `output` is a path; `loss`,
    `optimizer` and each of `metrics` a name or a component mapping. Two
    keys are not fields: `learning_rate` sets the optimizer's learning rate
    (the spec's optimizer, or the one overridden), and `target` names the
    target column of a .csv data file.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    learning_rate = values.pop("learning_rate", None)
    target = values.pop("target", None)
    unknown = set(values) - set(_TRAINING_KEYS)
    if unknown:
        raise SpecError(f"{spec.source}: cannot override unknown training field(s) {sorted(unknown)}")
    checks = {
        "epochs": F.positive_int,
        "batch_size": F.positive_int,
        "seed": F.non_negative_int,
        "validation_split": F.fraction,
        "loss": F.component,
        "optimizer": F.component,
        "metrics": F.metric_list,
    }
    for key, check in checks.items():
        if key in values:
            values[key] = check(values[key], f"--{key.replace('_', '-')}", spec.source)
    if "data" in values:
        values["data"] = F.data_field(values["data"], "--data", spec.source, Path.cwd())
    if "output" in values:
        values["output"] = Path(values["output"])
    if learning_rate is not None:
        values["optimizer"] = _with_learning_rate(values.get("optimizer", spec.training.optimizer), learning_rate,
                                                  spec.source)
    if target is not None:
        data = values.get("data", spec.training.data)
        if data is None or "path" not in data:
            shown = f"the data set {data['dataset']!r}" if data else "no data file"
            raise SpecError(f"{spec.source}: --target names a column of a .csv data file, but the data is {shown}")
        values["data"] = {**data, "target": F.text(target, "--target", spec.source)}
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, **values))


def _with_learning_rate(optimizer: str | dict, learning_rate: Any, source: str) -> dict:
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise F.fail(source, "--learning-rate", "a positive number", learning_rate)
    if isinstance(optimizer, str):
        return {"class_name": optimizer, "config": {"learning_rate": float(learning_rate)}}
    return {**optimizer, "config": {**optimizer.get("config", {}), "learning_rate": float(learning_rate)}}


def build_model(spec: Spec, *, allocate: bool = True, input_shape: Sequence[int | None] | None = None,
                max_weight_bytes: int | None = None) -> Any:
    """A `corelib.models.Sequential` with the spec's layers (a `Model` for a graph spec), looked up in the registry.

    Args:
        spec: the parsed spec.
        allocate: False builds the layers for their shapes and parameter
            counts only (`corelib.layers.base.shapes_only`): what `dl summary`
            needs, at no memory cost; such a model cannot be trained.
        input_shape: one sample's shape, to build a stack whose first layer
            has none (ignored when it has one).
        max_weight_bytes: the most the weights may take in all (default: the
            machine's memory); a layer past it is refused before anything is
            allocated.

    Raises:
        SpecError: an unknown layer name, a bad argument, incompatible
            shapes or weights past the limit; the message names the file and
            the layer's position.
    """
    from corelib.layers.base import shapes_only, weight_budget
    from corelib.saving.archive import physical_memory

    limit = physical_memory() if max_weight_bytes is None else max_weight_bytes
    what = "left of this machine's memory" if max_weight_bytes is None else "left of max_weight_bytes"
    with weight_budget(limit, what), (contextlib.nullcontext() if allocate else shapes_only()):
        model = _build(spec)
        if input_shape is not None and not model.built and spec.graph is None:
            try:
                model.build([None, *input_shape])
            except (DLError, TypeError, ValueError) as exc:
                raise SpecError(f"{spec.source}: model: {one_line(exc)}") from exc
    return model


def _build(spec: Spec) -> Any:
    from corelib.models import Sequential
    from corelib.registry import get_registry

    if spec.graph is not None:
        from corelib.spec.graph import build_graph

        return build_graph(spec.graph, spec.source, spec.name)
    registry = get_registry()
    model = Sequential(name=spec.name)
    for i, item in enumerate(spec.layers):
        where = f"model[{i}] ({item['class_name']})"
        try:
            cls = registry.get("layers", item["class_name"])
            factory = getattr(cls, "from_config", None)
            layer = factory(dict(item["config"])) if factory is not None else cls(**item["config"])
        except (DLError, TypeError, ValueError, OverflowError) as exc:  # a layer's own checks may miss a value
            raise SpecError(f"{spec.source}: {where}: {one_line(exc)}") from exc
        try:
            model.add(layer)
        except (DLError, TypeError, ValueError, OverflowError) as exc:
            raise SpecError(f"{spec.source}: {where}: {one_line(exc)}") from exc
    return model


def compile_model(model: Any, spec: Spec) -> None:
    """Compile `model` with the spec's loss, optimizer and metrics.

    Raises:
        SpecError: no loss, or a name or argument that does not resolve;
            the message names the field (``training.optimizer``...).
    """
    from corelib import losses, metrics, optimizers

    t = spec.training
    if t.loss is None:
        raise SpecError(f"{spec.source}: training.loss is required to train (e.g. loss: categorical_crossentropy)")
    if isinstance(t.loss, dict) and "class_name" not in t.loss and "name" not in t.loss:
        loss: Any = {k: _resolve(lambda v=v: losses.get(v), spec.source, f"training.loss.{k}") for k, v in t.loss.items()}
    else:
        loss = _resolve(lambda: losses.get(t.loss), spec.source, "training.loss")
        if isinstance(t.metrics, list):
            for i, m in enumerate(t.metrics):
                _resolve(lambda: metrics.get(m, loss=loss), spec.source, f"training.metrics[{i}]")
    optimizer = _resolve(lambda: optimizers.get(t.optimizer), spec.source, "training.optimizer")
    _resolve(lambda: model.compile(optimizer=optimizer, loss=loss, metrics=t.metrics or None,
                                   loss_weights=t.loss_weights), spec.source, "training")


def _resolve(fn: Any, source: str, field: str) -> Any:
    try:
        return fn()
    except (DLError, TypeError, ValueError) as exc:
        raise SpecError(f"{source}: {field}: {one_line(exc)}") from exc
