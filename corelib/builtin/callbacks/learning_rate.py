"""Callbacks that change the optimizer's learning rate between epochs."""

from __future__ import annotations

import inspect
import sys
from typing import Callable

import numpy as np

from corelib.builtin.callbacks._monitor import Monitor
from corelib.callbacks import Callback
from corelib.distribute import is_chief
from corelib.errors import ConfigError, short_repr


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to `schedule(epoch, lr)` or `schedule(epoch)`.

    As in Keras 3, the schedule gets the epoch index (from 0) and the current
    rate; a schedule of one argument (``lambda epoch: ...``, the Keras 2 form)
    gets the epoch only. Which form is decided once from the function's
    signature, so a TypeError raised inside the schedule reaches the caller
    (Keras retries with one argument on any TypeError).

    Args:
        schedule: function (epoch index from 0, current lr) -> new lr, or
            (epoch index) -> new lr.
        verbose: 1 prints the new rate.
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise ConfigError(f"LearningRateScheduler: schedule must be callable. Received: {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _takes_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        current = float(optimizer.current_learning_rate())
        if self._takes_lr is None:  # no signature to read: Keras's way, two arguments then one
            try:
                lr = self.schedule(epoch, current)
            except TypeError:
                lr = self.schedule(epoch)
        else:
            lr = self.schedule(epoch, current) if self._takes_lr else self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
            raise ConfigError(f"LearningRateScheduler: the output of the `schedule` function should be a float. "
                              f"Got: {short_repr(lr)}")
        lr = float(lr)
        if lr != lr or lr < 0:
            raise ConfigError(f"LearningRateScheduler: schedule returned an invalid learning rate: {lr}")
        optimizer.learning_rate = lr
        if self.verbose > 0 and is_chief():
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.", file=sys.stderr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.current_learning_rate())


def _takes_two_arguments(schedule: Callable[..., float]) -> bool | None:
    """Whether `schedule` accepts (epoch, lr); False when it takes (epoch) only; None when its
    signature cannot be read (some built-ins)."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return None
    for args in ((0, 0.0), (0,)):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return len(args) == 2
    raise ConfigError(f"LearningRateScheduler: schedule must accept (epoch, lr) or (epoch). "
                      f"Received: {short_repr(schedule)} with signature {signature}")


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when a quantity stops improving.

    Args:
        monitor: quantity to watch. Default "val_loss".
        factor: new_lr = lr * factor (must be < 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "auto", "min" or "max".
        min_delta: smallest change that counts as improvement.
        cooldown: epochs to wait after a reduction before watching again.
        min_lr: lower bound of the learning rate.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"ReduceLROnPlateau: factor must be in (0, 1). Received: factor={factor}")
        self._monitor = Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)

    def on_train_begin(self, logs=None):
        self._monitor.reset()
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.current_learning_rate())
        value = self._monitor.current(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.improved(value):
            self._monitor.best = value
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.current_learning_rate())
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0 and is_chief():
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.",
                              file=sys.stderr)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
