"""ModelCheckpoint: save the model (or its weights) during training."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from corelib.builtin.callbacks._monitor import Monitor
from corelib.callbacks import Callback
from corelib.distribute import is_chief
from corelib.errors import ConfigError, one_line
from corelib.validation import positive_int


class ModelCheckpoint(Callback):
    """Saves the model, or only its weights, at each epoch's end or every `save_freq` batches.

    As Keras 3's. `filepath` may hold format fields filled from the epoch
    (counted from 1), the batch (from 1, when saving every `save_freq`
    batches) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.dl"``. Each file
    is written to a temporary name beside it and renamed into place
    (`model.save` / `model.save_weights`), so an interrupted save leaves the
    previous file whole and no partial one. A missing folder is created.
    Under a distribution strategy only the chief writes.

    dl writes its own formats, whatever the extension: the model file of
    `model.save` (``.dl`` by convention; `models.load_model` reads it) or,
    with `save_weights_only`, the weights `.npz` of `model.save_weights`
    (``.weights.npz`` by convention; `model.load_weights` reads it). Keras
    requires ``.keras`` / ``.weights.h5``; dl requires no extension.

    Args:
        filepath: where to save; may hold ``{epoch}``, ``{batch}`` and log keys.
        monitor: the log key compared with `save_best_only`. Default "val_loss".
        verbose: 1 prints a line for each save (and each skipped one).
        save_best_only: save only when `monitor` improves on the best value
            so far (with a fixed `filepath`, the best model is what remains).
            When `monitor` is not in the logs it warns and saves, as Keras 3.
        save_weights_only: save with `model.save_weights` instead of `model.save`.
        mode: "auto", "min" or "max": whether a lower or higher value is
            better; "auto" takes max for accuracy-like names ("acc", "auc",
            "precision", "recall") and min otherwise.
        save_freq: "epoch", or a positive int: save every that many batches
            (the logs then are the running values of the epoch in progress).
        initial_value_threshold: the value `monitor` must beat for the first
            save with `save_best_only`; None starts from +-infinity.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None) -> None:
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
            raise ConfigError(f"ModelCheckpoint: filepath must be a file path. Received: filepath={filepath!r}")
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ConfigError(f"ModelCheckpoint: unrecognized save_freq: {save_freq!r}; expected 'epoch' "
                                  "or a positive int (a number of batches)")
            positive_int(save_freq, "save_freq", "ModelCheckpoint")
        self._monitor = Monitor("ModelCheckpoint", monitor, mode, 0.0)
        if initial_value_threshold is not None:
            self._monitor.best = float(initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        self._batches_since_save = 0
        self._epoch = 0

    @property
    def best(self) -> float:
        """The best value of `monitor` seen so far (or `initial_value_threshold`)."""
        return self._monitor.best

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: dict) -> None:
        path = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if not is_chief():  # under a distribution strategy every replica holds the same weights; one writes
            return
        if os.path.isdir(path):
            raise ConfigError("Please specify a non-directory filepath for ModelCheckpoint. "
                              f"Filepath used is an existing directory: {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)
        self._say(f"Epoch {epoch + 1}: finished saving model to {path}")

    def _should_save(self, epoch: int, logs: dict, path: str) -> bool:
        if not self.save_best_only:
            self._say(f"Epoch {epoch + 1}: saving model to {path}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available "
                          f"(the logs hold: {', '.join(sorted(logs)) or 'nothing'}); saving anyway.", stacklevel=3)
            return True
        best = self._monitor.best
        if self._monitor.improved(float(current)):
            self._say(f"Epoch {epoch + 1}: {self.monitor} improved from {best:.5f} to {float(current):.5f}, "
                      f"saving model to {path}")
            self._monitor.best = float(current)
            return True
        self._say(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best:.5f}")
        return False

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields: dict[str, Any] = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            return self.filepath.format(**fields)
        except KeyError as exc:
            raise ConfigError(f'ModelCheckpoint: failed to format the filepath "{self.filepath}": no field '
                              f"{exc} (available: {', '.join(sorted(fields))})") from None
        except (IndexError, ValueError) as exc:
            raise ConfigError(f'ModelCheckpoint: failed to format the filepath "{self.filepath}": '
                              f"{one_line(exc)}") from None

    def _say(self, text: str) -> None:
        if self.verbose > 0 and is_chief():
            print(text, file=sys.stderr)
