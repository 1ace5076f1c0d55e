"""Turning what fit / evaluate / predict are given into checked batches: arrays (converted
once, up front) or a stream of batches (each converted as it arrives). A mixin of `Trainer`."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from corelib.errors import ConfigError, DataError
from corelib.trainers.arguments import first_batches, resolve_batch_size
from corelib.trainers.batching import (
    as_inputs,
    as_target_array,
    as_targets,
    check_input_shape,
    check_sample_counts,
    class_weights,
)
from corelib.trainers.streams import Stream, is_stream, unpack_batch

__all__ = ["InputsMixin"]


class InputsMixin:
    """Input checks and conversion for `Trainer` (which supplies the model's names, dtypes
    and shapes, `_build_for` and the compiled losses)."""

    def _prepare_x(self, x: Any, where: str = "x") -> list[np.ndarray]:
        if not self.built:  # integer data builds (traces) an integer input, kept exact
            raw = as_inputs(x, self.input_names, None, where)
            self._build_for([(None,) + a.shape[1:] for a in raw],
                            ["int64" if a.dtype.kind in "iu" else None for a in raw])
        xs = as_inputs(x, self.input_names, self._input_dtypes(), where)
        for a, shape, name in zip(xs, self._input_shapes(), self.input_names):
            check_input_shape(a, shape, where if len(xs) == 1 else f"{where}['{name}']")
        return xs

    def _prepare_xy(self, x, y, sample_weight=None, where: str = ""):
        compiled = self.compiled_loss
        xs = self._prepare_x(x, f"{where}x")
        if y is None:
            raise DataError(f"{where}y is required for training and evaluation")
        ys = as_targets(y, self.output_names, self.dtype, compiled.sparse, f"{where}y")
        sw = None
        if sample_weight is not None:
            sw = as_target_array(sample_weight, self.dtype, False, f"{where}sample_weight")
            if sw.ndim != 1:
                raise DataError(f"{where}sample_weight must be 1-D (one weight per sample), got shape {sw.shape}")
        check_sample_counts(xs, ys, sw, where)
        return xs, ys, sw

    def _with_class_weight(self, ys, sw, class_weight):
        if not class_weight:
            return sw
        if len(ys) != 1:
            raise ConfigError("class_weight needs a model with one output; use sample_weight instead")
        cw = class_weights(ys[0], class_weight, self.compiled_loss.sparse[0], self.dtype)
        return cw if sw is None else sw * cw

    def _batch_preparer(self, class_weight: dict | None = None,
                        where: str = "") -> Callable[[Any, int], tuple]:
        """prepare(raw batch, index) -> (xs, ys, sample_weight) for the batches of a stream; an
        error names the batch."""
        def prepare(raw: Any, index: int) -> tuple:
            x, y, sw = unpack_batch(raw)
            label = f"{where}batch {index}: "
            if y is None:
                raise DataError(f"{label}a batch for training or evaluation must be (x, y) or (x, y, sample_weight);"
                                " it has no targets")
            xs, ys, sw = self._prepare_xy(x, y, sw, where=label)
            return xs, ys, self._with_class_weight(ys, sw, class_weight)
        return prepare

    def _validation_source(self, validation_data: Any, split: tuple | None, batch_size: int | None,
                           steps: int | None) -> tuple | None:
        """fit's validation data: ("arrays", xs, ys, sw, batch size) or ("stream", Stream, steps), or None."""
        if validation_data is None and split is None:
            return None
        if is_stream(validation_data):
            return ("stream", Stream(validation_data), steps)
        if split is not None:
            xs, ys, sw = split
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise DataError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                                "a generator or a PyDataset")
            xs, ys, sw = self._prepare_xy(*validation_data, where="validation_data ")
        n = xs[0].shape[0]
        # Keras: validation_batch_size, else fit's batch_size argument, else from validation_steps, else 32
        size = resolve_batch_size(batch_size, steps, n, "validation_batch_size")
        keep = first_batches(steps, n, size, "validation_steps")
        return ("arrays", [a[:keep] for a in xs], [a[:keep] for a in ys], None if sw is None else sw[:keep], size)

    def _validate(self, val: tuple) -> dict:
        """The val_ logs of one validation run over `val` (see `_validation_source`)."""
        if val[0] == "arrays":
            return self._evaluate_arrays(*val[1:], "val_")
        _, stream, steps = val
        return self._evaluate_stream(stream, steps, "val_", self._batch_preparer(where="validation_data "))
