"""The data a spec trains on (or `dl evaluate` scores), shaped and checked for a model.

`load_data` reads a registered data set or a .npz/.npy/.csv file;
`prepare_arrays` splits column groups, shapes the targets for each loss and
checks every array against the model's inputs and outputs, so a wrong file
is refused with one line naming it before training starts (and before any
output file is touched). Re-exported by `corelib.spec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from corelib.spec.fields import SpecError
from corelib.errors import DataError, DLError, one_line

__all__ = ["TrainingData", "data_argument", "load_data", "load_training_data", "prepare_arrays", "prepare_targets",
           "check_for_model"]


@dataclass(frozen=True)
class TrainingData:
    """Arrays to train on; the test split is None when the data came from one file.

    x and y are arrays, or dicts by input / output name (from a .npz with
    ``x_<name>`` / ``y_<name>`` arrays).
    """

    x: Any
    y: Any
    x_test: Any
    y_test: Any
    source: str


def load_data(data: dict, source: str, field: str = "training.data", need_y: bool = True) -> TrainingData:
    """Load a parsed ``data`` field: ``{"dataset", "options"}`` or ``{"path", "target"}``.

    Args:
        data: the field as `corelib.spec` parses it.
        source: the spec file (or "--data") named in errors about the data set's options.
        field: the field named in those errors.
        need_y: whether a file must hold targets.

    Raises:
        SpecError: an unknown data set or bad options.
        DataError: the data file is missing or malformed.
    """
    if "dataset" in data:
        from corelib import datasets

        name = data["dataset"]
        try:
            (x, y), (x_test, y_test) = datasets.load_data(name, **data["options"])
        except (DLError, TypeError, ValueError) as exc:
            raise SpecError(f"{source}: {field}: {one_line(exc)}") from exc
        return TrainingData(x, y, x_test, y_test, f"data set {name!r}")
    from corelib.spec import files as data_files

    path = data["path"]
    if _is_folder_or_glob(path):
        raise DataError(f"{path}: a folder of images or a glob of shards is read batch by batch, by `dl train` "
                        "only; give a .npz, .npy or .csv file")
    x, y = data_files.load(path, target=data.get("target"))
    if y is None and need_y:
        raise DataError(
            f"{path}: holds inputs only (.npy); training needs targets: use a .npz with arrays x and y "
            "or a .csv with a target column"
        )
    return TrainingData(x, y, None, None, str(path))


def _is_folder_or_glob(path: Any) -> bool:
    import glob

    try:
        return glob.has_magic(str(path)) or path.is_dir()
    except OSError:
        return False


def data_argument(value: str, target: str | None = None, flag: str = "--data") -> dict:
    """A command-line data argument (a data set name or a file, relative to the
    current directory) parsed as `load_data` takes it; `target` names a .csv column."""
    from pathlib import Path

    import corelib.spec.fields as F

    data = F.data_field(value, flag, "command line", Path.cwd())
    if target is not None:
        if "path" not in data:
            raise SpecError(f"--target names a column of a .csv data file, but {flag} names the data set {value!r}")
        data["target"] = target
    return data


def load_training_data(spec: Any) -> TrainingData:
    """Load the spec's ``training.data``: a registered data set (train and test
    splits) or a .npz/.csv file (train only).

    Raises:
        SpecError: no data given, or the data set name/options are wrong.
        DataError: the data file is missing or malformed.
    """
    if spec.training.data is None:
        raise SpecError(
            f"{spec.source}: training.data is required: a data set name (see `dl list datasets`) "
            "or a .npz/.csv file; or pass --data"
        )
    return load_data(spec.training.data, spec.source)


def prepare_arrays(model: Any, spec: Any, x: Any, y: Any, source: str | None = None) -> tuple[Any, Any]:
    """x split into the model's named inputs (the spec's training.inputs column
    groups) and y shaped for each output's loss (see `prepare_targets`), both
    checked against the model (see `check_for_model`).

    Args:
        model: a compiled model.
        spec: the `Spec` (for training.inputs), or None.
        x, y: the arrays (or dicts by name); y may be None (prediction).
        source: the data's name in errors (a file path or "data set 'iris'").

    Raises:
        SpecError / DataError: a column group, input or target that does not fit the model.
    """
    from corelib.spec.graph import split_columns

    where = source or (spec.source if spec is not None else "the data")
    groups = spec.training.inputs if spec is not None else None
    if groups and isinstance(x, dict):
        raise DataError(f"{where}: holds named inputs (x_<name> arrays), so the spec's training.inputs "
                        "column groups do not apply; remove one or the other")
    xs = split_columns(x, groups, model.input_names, spec.source) if groups else x
    check_for_model(model, xs, None, where)
    if y is not None:
        y = _prepare_y(model, y, where)
        check_for_model(model, xs, y, where)
    return xs, y


def _prepare_y(model: Any, y: Any, where: str) -> Any:
    losses = model.compiled_losses
    dims = [s[-1] if s else None for s in _shapes(model.outputs)] if model.built else [None] * len(model.output_names)
    names = model.output_names
    try:
        if isinstance(y, dict):
            _same_names(where, "y", y, names, "output")
            return {n: prepare_targets(y[n], loss, d) for n, loss, d in zip(names, losses, dims)}
        if len(names) != 1:
            raise DataError(f"has one target array, but the model has {len(names)} outputs {names}: give a .npz "
                            "with one y_<output name> array per output")
        return prepare_targets(y, losses[0], dims[0])
    except DataError as exc:
        message = one_line(exc)
        raise DataError(message if message.startswith(where) else f"{where}: {message}") from None


def _shapes(tensors: Any) -> list[tuple]:
    return [tuple(t.shape) for t in tensors]


def _same_names(where: str, prefix: str, arrays: dict, names: list[str], what: str) -> None:
    for n in names:
        if n not in arrays:
            held = ", ".join(f"{prefix}_{k}" for k in arrays)
            raise DataError(f"{where}: has no array {prefix}_{n} for the model's {what} '{n}' (it holds {held}); "
                            f"the model's {what}s are {names}")
    for k in arrays:
        if k not in names:
            raise DataError(f"{where}: holds {prefix}_{k}, but the model has no {what} '{k}'; "
                            f"its {what}s are {names}")


def _fits(sample_shape: tuple, expected: tuple) -> bool:
    return len(sample_shape) == len(expected) and all(e is None or e == g for g, e in zip(sample_shape, expected))


def check_for_model(model: Any, x: Any, y: Any, source: str) -> None:
    """Refuse inputs or targets that do not fit `model`, with one line naming `source`.

    Checks the input and output names, each input's sample shape, each
    target's shape for its output, and class labels for sparse losses.
    """
    names = model.input_names
    if isinstance(x, dict):
        _same_names(source, "x", x, names, "input")
        inputs = [(f"x_{n}", x[n], n) for n in names]
    elif len(names) != 1:
        raise DataError(f"{source}: has one x array, but the model has {len(names)} inputs {names}: give a .npz "
                        "with one x_<input name> array per input (or training.inputs column groups in a spec)")
    else:
        inputs = [("x", x, None)]
    if model.built:
        for (label, arr, name), expected in zip(inputs, _shapes(model.inputs)):
            arr = np.asarray(arr)
            if not _fits(arr.shape[1:], expected[1:]):
                which = f"input '{name}'" if name else "input"
                raise DataError(f"{source}: {label} has samples of shape {arr.shape[1:]}, but the model's {which} "
                                f"takes {expected[1:]}")
    if y is None or not model.built:
        return
    outs = model.output_names
    targets = [(f"y_{n}", y[n], n) for n in outs] if isinstance(y, dict) else [("y", y, None)]
    for (label, arr, name), loss, shape in zip(targets, model.compiled_losses, _shapes(model.outputs)):
        arr = np.asarray(arr)
        which = f"output '{name}'" if name else "output"
        check_targets = getattr(loss, "check_targets", None)
        if callable(check_targets):  # a loss whose targets are not shaped like the output (CTC)
            try:
                check_targets(arr, shape)
            except DLError as exc:
                raise DataError(f"{source}: {label}: {one_line(exc)}") from None
        elif getattr(loss, "sparse_targets", False):
            _check_labels(source, label, arr, which, shape)
        elif not _fits(arr.shape[1:], shape[1:]):
            raise DataError(f"{source}: {label} has targets of shape {arr.shape[1:]}, but the model's {which} "
                            f"gives {shape[1:]}")


def _check_labels(source: str, label: str, y: np.ndarray, which: str, shape: tuple) -> None:
    labels = y[..., 0] if y.ndim == len(shape) and y.shape[-1] == 1 else y
    if not _fits(labels.shape[1:], shape[1:-1]):
        raise DataError(f"{source}: {label} has labels of shape {labels.shape[1:]}, but the model's {which} "
                        f"gives {shape[1:]} (one label per {shape[1:-1] or 'sample'})")
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise DataError(f"{source}: {label} holds non-integer values, but the loss takes integer class labels")
    classes = shape[-1]
    lo, hi = int(labels.min()), int(labels.max())
    if classes is not None and (lo < 0 or hi >= classes):
        raise DataError(f"{source}: {label} holds class labels from {lo} to {hi}, but the model's {which} has "
                        f"{classes} classes (labels 0 to {classes - 1})")


def prepare_targets(y: np.ndarray, loss: Any, output_dim: int | None) -> np.ndarray:
    """Shape integer labels or 1-D targets for `loss` as Keras users expect.

    Integer class labels with categorical cross-entropy become one-hot rows
    of width `output_dim`; 1-D targets for a model with one output unit become
    a column (n, 1). Anything else is returned unchanged.

    Raises:
        DataError: a label is outside the model's output classes.
    """
    y = np.asarray(y)
    if y.ndim != 1 or getattr(loss, "sparse_targets", False):
        return y
    if _loss_name(loss) == "categorical_crossentropy" and y.dtype.kind in "iu":
        top = int(y.max())
        classes = output_dim if output_dim is not None else top + 1
        if y.min() < 0 or top >= classes:
            raise DataError(
                f"Labels run from {int(y.min())} to {top}, but the model's output has {classes} classes; "
                "the last layer needs one unit per class"
            )
        return _to_categorical(y, classes)
    if output_dim == 1:
        from corelib import config

        return y.reshape(-1, 1).astype(config.floatx())
    return y


def _loss_name(loss: Any) -> str:
    from corelib.layers.base import snake_case
    from corelib.registry import get_registry

    entry = get_registry().provider_of(loss, kind="losses")
    name = entry.name if entry is not None else getattr(loss, "__name__", type(loss).__name__)
    return snake_case(name)


def _to_categorical(y: np.ndarray, classes: int) -> np.ndarray:
    from corelib import config

    try:
        from corelib.utils import to_categorical
    except ImportError:  # corelib.utils is optional here; one-hot by indexing is the same thing
        return np.eye(classes, dtype=config.floatx())[y]
    return np.asarray(to_categorical(y, num_classes=classes), dtype=config.floatx())
