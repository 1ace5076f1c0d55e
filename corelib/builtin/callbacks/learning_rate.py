"""Callbacks that change the optimizer's learning rate between epochs."""

from __future__ import annotations

import sys
from typing import Callable

from corelib.builtin.callbacks._monitor import Monitor
from corelib.callbacks import Callback
from corelib.distribute import is_chief
from corelib.errors import ConfigError


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to `schedule(epoch, lr)`.

    Args:
        schedule: function (epoch index from 0, current lr) -> new lr.
        verbose: 1 prints the new rate.
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise ConfigError(f"LearningRateScheduler: schedule must be callable. Received: {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(self.schedule(epoch, float(optimizer.current_learning_rate())))
        if lr != lr or lr < 0:
            raise ConfigError(f"LearningRateScheduler: schedule returned an invalid learning rate: {lr}")
        optimizer.learning_rate = lr
        if self.verbose > 0 and is_chief():
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.", file=sys.stderr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.current_learning_rate())


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
