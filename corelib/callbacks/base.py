"""Callback and CallbackList: the hooks fit / evaluate / predict call."""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["Callback", "CallbackList"]


class Callback:
    """Base class: override any of the ``on_*`` methods.

    Attributes:
        model: the model being trained (set by fit).
        params: {"epochs", "steps", "verbose", "batch_size", "samples"}.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class CallbackList(Callback):
    """Calls each callback in order; skips the per-batch hooks nobody overrides."""

    _BATCH_HOOKS = (
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_predict_batch_begin",
        "on_predict_batch_end",
    )

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        super().__init__()
        self.callbacks = list(callbacks)
        # Per-batch hooks run every step: bind only the overridden ones once.
        for hook in self._BATCH_HOOKS:
            bound = [getattr(cb, hook) for cb in self.callbacks
                     if getattr(type(cb), hook) is not getattr(Callback, hook)]
            setattr(self, f"_{hook}", bound)

    def append(self, callback: Callback) -> None:
        self.__init__(self.callbacks + [callback])

    def set_model(self, model: Any) -> None:
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict) -> None:
        for cb in self.callbacks:
            cb.set_params(params)

    def _all(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None): self._all("on_train_begin", logs)
    def on_train_end(self, logs=None): self._all("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._all("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._all("on_epoch_end", epoch, logs)
    def on_test_begin(self, logs=None): self._all("on_test_begin", logs)
    def on_test_end(self, logs=None): self._all("on_test_end", logs)
    def on_predict_begin(self, logs=None): self._all("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._all("on_predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        for f in self._on_train_batch_begin: f(batch, logs)
    def on_train_batch_end(self, batch, logs=None):
        for f in self._on_train_batch_end: f(batch, logs)
    def on_test_batch_begin(self, batch, logs=None):
        for f in self._on_test_batch_begin: f(batch, logs)
    def on_test_batch_end(self, batch, logs=None):
        for f in self._on_test_batch_end: f(batch, logs)
    def on_predict_batch_begin(self, batch, logs=None):
        for f in self._on_predict_batch_begin: f(batch, logs)
    def on_predict_batch_end(self, batch, logs=None):
        for f in self._on_predict_batch_end: f(batch, logs)

    def wants_batch_logs(self) -> bool:
        """Whether any callback reads per-batch logs (so fit must compute them)."""
        return bool(self._on_train_batch_end)
