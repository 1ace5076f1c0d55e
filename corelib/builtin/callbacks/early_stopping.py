"""EarlyStopping: stop when a monitored quantity stops improving."""

from __future__ import annotations

import sys

from corelib.builtin.callbacks._monitor import Monitor
from corelib.callbacks import Callback
from corelib.distribute import is_chief


class EarlyStopping(Callback):
    """Stops training after `patience` epochs without improvement.

    Args:
        monitor: quantity to watch. Default "val_loss".
        min_delta: smallest change that counts as improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints a line when stopping.
        mode: "auto", "min" or "max".
        baseline: a value the quantity must beat at all.
        restore_best_weights: put back the weights of the best epoch at the end.
        start_from_epoch: epochs to wait before watching at all.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        self._monitor = Monitor("EarlyStopping", monitor, mode, min_delta)
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self._monitor.reset()
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._monitor.current(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._monitor.improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0 and is_chief():
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", file=sys.stderr)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0 and is_chief():
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.",
                      file=sys.stderr)
            self.model.set_weights(self.best_weights)

    @property
    def best(self) -> float:
        return self._monitor.best
