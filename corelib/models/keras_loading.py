"""`load_model("m.keras")`: a Keras 3 archive read into a dl model.

The Keras config is translated into dl's (`corelib.saving.keras_config`), the
model is built from it inside a weight budget equal to the size of the
archive's weights file, and the weights are read from model.weights.h5 by
Keras's layout (`corelib.saving.keras_archive`). Nothing in the archive is
imported, unpickled or run.
"""

from __future__ import annotations

import warnings
from typing import Any

from corelib.errors import ConfigError, DLError, ModelFileError, UnknownComponentError, one_line, short_repr
from corelib.layers.base import weight_budget
from corelib.models.functional import Model
from corelib.models.sequential import Sequential
from corelib.saving.keras_archive import is_keras_archive, keras_weights, open_h5, read_keras_archive
from corelib.saving.keras_compile import keras_compile_args
from corelib.saving.keras_config import KerasImportError, keras_to_dl

__all__ = ["load_keras_model", "is_keras_archive", "build_from_config"]

_BUILD_ERRORS = (ValueError, TypeError, OverflowError, MemoryError, KeyError, AttributeError)


def load_keras_model(path: str, compile: bool = True) -> Any:
    """A dl model with the architecture and weights of the Keras 3 archive at `path`.

    Args:
        path: the `.keras` file.
        compile: compile the model with the archive's loss, metrics and optimizer where dl has
            them all (else the model comes back uncompiled, with a warning); optimizer state is
            not restored.

    Raises:
        ModelFileError: the archive is corrupt, not a Keras archive, or holds a layer, class or
            setting dl does not import (the message names it).
    """
    with read_keras_archive(path) as archive:
        try:
            config, layout = keras_to_dl(archive.config)
        except KerasImportError as exc:
            raise ModelFileError(f"{path}: {one_line(exc)}") from None
        except RecursionError:
            raise ModelFileError(f"{path}: config.json is nested too deeply") from None
        with weight_budget(archive.weights_size + 2**20, "the archive's model.weights.h5 holds"):
            model = build_from_config(config, path)
        with open_h5(archive.read_weights(), path) as h5:
            pairs = keras_weights(model, h5, layout, path)
    for array, p in pairs:
        p.value[...] = array
    if compile:
        _compile(model, archive.config.get("compile_config"), path)
    return model


def build_from_config(config: Any, path: str, custom_objects: dict | None = None,
                      keep_unknown: bool = False) -> Any:
    """The model a {"class_name": "Sequential" | "Model" | "Functional", "config": ...} describes, for a
    file at `path`: every failure a one-line ModelFileError naming the file (an unknown component stays
    an UnknownComponentError with `keep_unknown`, as dl's model files report it)."""
    kinds = {"Sequential": Sequential, "Model": Model, "Functional": Model}
    try:
        kind = config.get("class_name") if isinstance(config, dict) else None
        if kind not in kinds:
            raise ConfigError(f"unsupported model class {short_repr(kind if isinstance(config, dict) else config)}; "
                              f"expected one of {sorted(kinds)}")
        model = kinds[kind].from_config(config.get("config"), custom_objects=custom_objects)
    except UnknownComponentError as exc:
        if keep_unknown:
            raise UnknownComponentError(f"{path}: {exc}") from None
        raise ModelFileError(f"{path}: {one_line(exc)}") from None
    except DLError as exc:
        raise ModelFileError(f"{path}: {one_line(exc)}") from None
    except RecursionError:
        raise ModelFileError(f"{path}: config.json is nested too deeply") from None
    except _BUILD_ERRORS as exc:
        raise ModelFileError(f"{path}: the model config cannot be built "
                             f"({type(exc).__name__}: {one_line(exc)})") from None
    if not model.built:
        raise ModelFileError(f"{path}: the model's first layer has no input shape")
    return model


def _compile(model: Any, cfg: Any, path: str) -> None:
    """Compile as the archive says, or warn and leave the model uncompiled (as Keras does)."""
    try:
        args = keras_compile_args(cfg)
        if args is not None:
            if len(model.output_names) < 2:
                args["loss_weights"] = None
            model.compile(**args)
    except (DLError, ValueError, TypeError, KeyError) as exc:
        warnings.warn(f"{path}: the model is loaded uncompiled: its compile_config cannot be restored "
                      f"({one_line(exc) or short_repr(exc)}); call model.compile(...) yourself", stacklevel=3)
