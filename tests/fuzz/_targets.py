"""The fuzz targets: each reads one input file the way dl does, and checks what it accepted.

A target runs in the fuzz worker (`_worker.py`). The rule: only a `DLError` may escape, within
the time and memory bound. Beyond that, what a reader accepted must hold up, and a target raises
`Unsound` (not a DLError, so a finding) when it does not:

- spec: a spec that builds a model gives a model that predicts a batch of zeros (or refuses it
  with a DLError) and survives save + load_model;
- data: the arrays read are finite, of the documented dtypes, one length, and equal to the
  file's numbers (no silent wrap-around, no dropped row);
- model: a model that loads predicts zeros and survives save + load_model again;
- compose: the spec `dl compose` writes loads back (YAML and JSON) into the same model;
- weights: weights a file gives (safetensors, Keras's .weights.h5) keep the model's shapes and
  dtypes, and the model still predicts zeros.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["TARGETS", "SUFFIXES", "Unsound", "warm_up"]

_MAX_PREDICT_VALUES = 10**6  # a zeros batch for predict stays small


class Unsound(AssertionError):
    """A reader accepted an input and returned something that does not hold up."""


def _zeros_for(model: Any) -> list[np.ndarray] | None:
    for tensor in model.inputs:
        if not all(d is None or (type(d) is int and d > 0) for d in tensor.shape[1:]):
            raise Unsound(f"accepted a model whose input {tensor.name!r} has the shape {tensor.shape!r}")
    shapes = [tuple(2 if d is None else d for d in t.shape) for t in model.inputs]
    if sum(int(np.prod(s, dtype=object)) for s in shapes) > _MAX_PREDICT_VALUES:
        return None
    return [np.zeros(s, dtype=np.float32) for s in shapes]


def _check_model(model: Any, where: str) -> None:
    """A model dl accepted predicts zeros (or refuses them with a DLError: an Embedding after a
    sigmoid sees 0.5) and round-trips through a model file."""
    from corelib.errors import DLError
    from corelib.models import load_model

    if not model.built:
        return
    zeros = _zeros_for(model)
    if zeros is not None:
        try:
            model.predict(zeros if len(zeros) > 1 else zeros[0], verbose=0)
        except DLError:
            pass
    try:
        model.save("roundtrip.bin")
        again = load_model("roundtrip.bin")
    except DLError as exc:
        raise Unsound(f"{where}: accepted, then {type(exc).__name__}: {exc}") from exc
    if again.count_params() != model.count_params():
        raise Unsound(f"{where}: {model.count_params()} parameters, {again.count_params()} after save + load")


# ---- spec: corelib.spec.load_spec, then build_model and compile_model ------------------------------------------------

def spec_target(path: str) -> None:
    from corelib.spec import build_model, compile_model, load_spec

    spec = load_spec(path)
    model = build_model(spec)
    if spec.training.loss is not None:
        compile_model(model, spec)
    _check_model(model, "build_model")


# ---- data: corelib.spec.files (corelib.data) load, load_inputs -------------------------------------------------------

def data_target(path: str) -> None:
    from corelib.spec import files

    suffix = Path(path).suffix
    x, y = files.load(path)
    _check_arrays(path, x, y)
    inputs = files.load_inputs(path)
    _check_arrays(path, inputs, None)
    if suffix == ".csv":
        _check_csv(path, x, y)
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f))[0].strip()
        x1, y1 = files.load(path, target=first)
        _check_arrays(path, x1, y1)
    else:
        _check_npy_values(path, x, y)


def _leaves(arrays: Any) -> list[np.ndarray]:
    if arrays is None:
        return []
    return list(arrays.values()) if isinstance(arrays, dict) else [arrays]


def _check_arrays(path: str, x: Any, y: Any) -> None:
    from corelib import config

    lengths = set()
    for arr in _leaves(x):
        if arr.dtype != np.dtype(config.floatx()):
            raise Unsound(f"inputs came back as {arr.dtype}, not {config.floatx()}")
        if not np.isfinite(arr).all():
            raise Unsound(f"inputs of shape {arr.shape} hold NaN or infinity after loading")
        lengths.add(len(arr))
    for arr in _leaves(y):
        if arr.dtype not in (np.dtype(np.int64), np.dtype(config.floatx())):
            raise Unsound(f"targets came back as {arr.dtype}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise Unsound("targets hold NaN or infinity after loading")
        lengths.add(len(arr))
    if len(lengths) > 1:
        raise Unsound(f"arrays of different lengths {sorted(lengths)} came back")


def _check_csv(path: str, x: np.ndarray, y: np.ndarray | None) -> None:
    """Every data row is read, and integral targets equal the file's numbers."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f)][1:]
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) != len(x):
        raise Unsound(f"the file has {len(rows)} data rows, {len(x)} came back")
    if y is None or y.dtype.kind != "i":
        return
    try:
        expected = [float(r[-1]) for r in rows]
    except (ValueError, IndexError):
        return
    if not all(float(a) == b for a, b in zip(y.tolist(), expected)):
        bad = next(i for i, (a, b) in enumerate(zip(y.tolist(), expected)) if float(a) != b)
        raise Unsound(f"data row {bad + 1}: target {rows[bad][-1]!r} came back as {y[bad]}")


def _check_npy_values(path: str, x: Any, y: Any) -> None:
    """Integer targets equal the file's integers (no wrap-around from uint64)."""
    if y is None or Path(path).suffix != ".npz":
        return
    with np.load(path, allow_pickle=False) as npz:
        for name, arr in ([("y", y)] if not isinstance(y, dict) else [(f"y_{k}", v) for k, v in y.items()]):
            ref = npz[name]
            if arr.dtype.kind == "i" and ref.dtype.kind in "iu" and not np.array_equal(arr, ref):
                raise Unsound(f"array {name!r} ({ref.dtype}) came back with other values as {arr.dtype}")


# ---- model: corelib.models.load_model --------------------------------------------------------------------------------

def model_target(path: str) -> None:
    from corelib.models import load_model

    model = load_model(path)
    _check_model(model, "load_model")


# ---- weights: Model.load_weights of a safetensors or Keras .weights.h5 file ------------------------------------------

def weights_model() -> Any:
    """The model every weights seed was written for (named, so a file matched by key fits)."""
    from corelib import layers as L
    from corelib.models import Sequential

    return Sequential([L.Dense(3, activation="relu", input_shape=(4,), name="hidden"), L.Dense(2, name="out")],
                      name="weights_target")


def weights_target(path: str) -> None:
    model = weights_model()
    before = [(p.value.shape, p.value.dtype) for p in model.weights]
    model.load_weights(path)
    after = [(p.value.shape, p.value.dtype) for p in model.weights]
    if after != before:
        raise Unsound(f"load_weights changed the weights' shapes or dtypes: {before} -> {after}")
    model.predict(np.zeros((2, 4), np.float32), verbose=0)


# ---- compose: the layer expressions of `dl compose` ------------------------------------------------------------------

COMPOSE_SHAPE = "--input-shape "


def read_compose_input(data: bytes) -> tuple[list[str], str | None]:
    """A compose input file: one layer expression per line, as `dl compose`'s arguments;
    a line ``--input-shape 8,8,1`` gives the shape. Bytes that are not UTF-8 arrive as
    Python decodes a command line's (surrogate escapes)."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    shape = None
    expressions = []
    for line in lines:
        if line.startswith(COMPOSE_SHAPE):
            shape = line[len(COMPOSE_SHAPE):]
        else:
            expressions.append(line)
    return expressions, shape


def compose_target(path: str) -> None:
    from corelib.errors import DLError
    from corelib.spec import build_model, load_spec
    from corelib.spec.compose import compose, parse_layer, parse_shape, write_spec

    with open(path, "rb") as f:
        expressions, shape_text = read_compose_input(f.read())
    for i, text in enumerate(expressions):
        try:
            parse_layer(text, f"layer {i + 1}")
        except DLError:
            pass
    shape = parse_shape(shape_text, "--input-shape") if shape_text is not None else None
    doc, model = compose(expressions, shape)
    for name in ("composed.yaml", "composed.json"):
        try:
            write_spec(doc, name)
            again = build_model(load_spec(name))
        except DLError as exc:
            raise Unsound(f"dl compose accepted the layers, then its {name[-4:]} spec fails: "
                          f"{type(exc).__name__}: {exc}") from exc
        if again.count_params() != model.count_params():
            raise Unsound(f"composed: {model.count_params()} parameters, {again.count_params()} from its spec")


# ---- the harness's own check: the input says what to do -------------------------------------------------------------

def selftest_target(path: str) -> None:
    from corelib.errors import ConfigError

    with open(path, "rb") as f:
        data = f.read()
    if data == b"typed":
        raise ConfigError("a typed error is allowed")
    if data == b"keyerror":
        raise KeyError("not allowed")
    if data == b"memory":  # twice the bound: fails only because of it
        bytearray(2 * int(os.environ.get("DL_FUZZ_MEMORY_MB", "1024")) * 2**20)
    if data == b"hang":
        while True:
            pass
    if b"bad" in data:
        raise ValueError("bad input")


TARGETS: dict[str, Callable[[str], None]] = {
    "spec": spec_target,
    "data": data_target,
    "model": model_target,
    "compose": compose_target,
    "weights": weights_target,
    "selftest": selftest_target,
}

SUFFIXES = {"spec": (".yaml", ".json"), "data": (".csv", ".npz", ".npy"), "model": (".bin",), "compose": (".txt",),
            "weights": (".safetensors", ".h5")}


def warm_up() -> None:
    """Import and build once what the targets use, before the memory bound is set."""
    import tempfile

    from corelib.models import Sequential, load_model
    from corelib.registry import get_registry
    from corelib import layers as L
    import corelib.spec.compose  # noqa: F401
    import yaml  # noqa: F401

    get_registry().names("layers")
    model = Sequential([L.Dense(2, input_shape=(3,))])
    model.compile(optimizer="adam", loss="mse")
    model.predict(np.zeros((1, 3), np.float32), verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "warm.bin")
        model.save(path)
        load_model(path)
