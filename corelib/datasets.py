"""Data sets: a view of the registry's "datasets" kind.

Plugins register data sets with the ``register_datasets`` hook
(``register(name, loader, description)``); install ``dl-datasets`` for
digits, iris, wine, breast_cancer and diabetes.

    from corelib import datasets
    (x_train, y_train), (x_test, y_test) = datasets.load_data("digits")

Keras's spelling works for every registered data set too:
``datasets.mnist.load_data()`` is ``datasets.load_data("mnist")``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from corelib.errors import DataError
from corelib.registry import view as _view

__all__ = ["get", "names", "load_data", "describe"]

KIND = "datasets"

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def get(name: str) -> Callable[..., Split]:
    """The loader registered as `name`; UnknownComponentError (with suggestions) otherwise."""
    return _view.lookup(KIND, name)


def names() -> list[str]:
    """Names of the installed data sets, sorted."""
    return _view.names(KIND)


def describe(name: str) -> str:
    """The one-line description a data set was registered with."""
    return _view.entry(KIND, name).description


def load_data(name: str, **kwargs: Any) -> Split:
    """Load a registered data set.

    Args:
        name: a registered data set name ("digits").
        **kwargs: passed to the data set's loader (e.g. ``test_size``, ``seed``,
            ``normalize`` for the dl-datasets loaders).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as NumPy arrays.

    Raises:
        DataError: the loader returned something else.
    """
    entry = _view.entry(KIND, name)
    result = entry.obj(**kwargs)
    try:
        (x_train, y_train), (x_test, y_test) = result
    except (TypeError, ValueError):
        raise DataError(
            f"Data set {name!r} (plugin {entry.plugin!r}) must return ((x_train, y_train), (x_test, y_test)). "
            f"Received: {type(result).__name__}"
        ) from None
    # y may be a dict of arrays: several targets, one per output of a multi-head model.
    arrays = [_arrays(a) for a in (x_train, y_train, x_test, y_test)]
    for (x, y), split in (((arrays[0], arrays[1]), "train"), ((arrays[2], arrays[3]), "test")):
        for label, target in (y.items() if isinstance(y, dict) else [("y", y)]):
            if isinstance(x, dict) or x.ndim == 0 or target.ndim == 0 or len(x) != len(target):
                raise DataError(
                    f"Data set {name!r} (plugin {entry.plugin!r}): the {split} split has x of shape "
                    f"{getattr(x, 'shape', '?')} and {label} of shape {target.shape}; they must have the same "
                    "number of samples"
                )
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def _arrays(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): np.asarray(v) for k, v in value.items()}
    return np.asarray(value)


class DataSetModule:
    """What ``datasets.<name>`` is: Keras's ``keras.datasets.<name>`` module, for a registered data set.

    ``load_data(**kwargs)`` is ``datasets.load_data(name, **kwargs)``; other
    attributes are the loader's own (``datasets.imdb.get_word_index``).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def load_data(self, **kwargs: Any) -> Split:
        """Load the data set (see `load_data`)."""
        return load_data(self.name, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        loader = get(self.name)
        try:
            return getattr(loader, attr)
        except AttributeError:
            raise AttributeError(f"Data set {self.name!r} has no attribute {attr!r}") from None

    def __repr__(self) -> str:
        return f"<data set {self.name!r}: {describe(self.name)}>"


def __getattr__(name: str) -> DataSetModule:
    _view.module_getattr(KIND, __name__, name)  # AttributeError (UnknownComponentError) for a name not registered
    return DataSetModule(name)
