"""History: the per-epoch logs that fit returns."""

from __future__ import annotations

from corelib.callbacks.base import Callback


class History(Callback):
    """Records every epoch's logs; `fit` returns it and sets `model.history`.

    Attributes:
        history: {"loss": [...], "val_loss": [...], metric: [...]} per epoch.
        epoch: the epoch indices recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self
