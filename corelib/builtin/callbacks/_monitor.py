"""Shared by callbacks that watch a logged quantity (EarlyStopping, ReduceLROnPlateau)."""

from __future__ import annotations

import warnings

import numpy as np

from corelib.errors import ConfigError


class Monitor:
    """Tracks the best value of `monitor` in epoch logs.

    Args:
        monitor: the log key, e.g. "val_loss".
        mode: "min", "max" or "auto" (max for accuracy-like names, else min).
        min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float) -> None:
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"{owner}: mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
        self.owner = owner
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.reset()

    def reset(self) -> None:
        self.best = np.inf if self.mode == "min" else -np.inf

    def current(self, logs: dict | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{self.owner} is watching '{self.monitor}', which is not in the logs "
                f"(available: {', '.join(sorted(logs or {})) or 'none'})",
                stacklevel=3,
            )
        return value

    def improved(self, value: float, reference: float | None = None) -> bool:
        ref = self.best if reference is None else reference
        if self.mode == "min":
            return value < ref - self.min_delta
        return value > ref + self.min_delta
