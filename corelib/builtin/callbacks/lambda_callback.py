"""LambdaCallback: a callback made of plain functions."""

from __future__ import annotations

from typing import Any, Callable

from corelib.callbacks import Callback
from corelib.errors import ConfigError, short_repr

_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """Calls the functions it is given at the matching points of fit / evaluate / predict.

    As Keras 3's. The functions get what the hook gets: `on_epoch_begin` and
    `on_epoch_end` get ``(epoch, logs)``, the batch hooks ``(batch, logs)``,
    `on_train_begin` and `on_train_end` ``(logs)``. Any other hook of
    `Callback` (`on_test_end`, `on_predict_batch_begin`, ...) can be given by
    keyword; an unknown keyword is refused (Keras would store it silently).

    It holds Python functions, so it has no config: `get_config` raises, and
    it cannot appear in a spec or be rebuilt from a dict; create it in Python
    and pass it to ``fit(callbacks=[...])``.

    Args:
        on_epoch_begin, on_epoch_end, on_train_begin, on_train_end,
        on_train_batch_begin, on_train_batch_end: the functions, or None.
        **kwargs: functions for the other ``on_*`` hooks.

    Example:

        print_loss = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None, on_train_batch_end: Callable | None = None,
                 **kwargs: Callable) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise ConfigError(f"LambdaCallback: unknown hook {unknown[0]!r}; the hooks are {', '.join(_HOOKS)}")
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in given.items():
            if fn is not None and not callable(fn):
                raise ConfigError(f"LambdaCallback: {name} must be a function (or None). "
                                  f"Received: {name}={short_repr(fn)}")
        self._functions: dict[str, Callable] = {k: v for k, v in given.items() if v is not None}

    def get_config(self) -> dict:
        raise ConfigError("LambdaCallback holds Python functions, which cannot be written to a config, a spec "
                          "or a model file; create it in Python and pass it to fit(callbacks=[...])")

    # Every hook is a method of the class (not an attribute set per instance, as in Keras):
    # CallbackList calls only the batch hooks that a callback's class overrides.
    def _run(self, hook: str, *args: Any) -> None:
        fn = self._functions.get(hook)
        if fn is not None:
            fn(*args)

    def on_train_begin(self, logs=None): self._run("on_train_begin", logs)
    def on_train_end(self, logs=None): self._run("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._run("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._run("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._run("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._run("on_train_batch_end", batch, logs)
    def on_test_begin(self, logs=None): self._run("on_test_begin", logs)
    def on_test_end(self, logs=None): self._run("on_test_end", logs)
    def on_test_batch_begin(self, batch, logs=None): self._run("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._run("on_test_batch_end", batch, logs)
    def on_predict_begin(self, logs=None): self._run("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._run("on_predict_end", logs)
    def on_predict_batch_begin(self, batch, logs=None): self._run("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._run("on_predict_batch_end", batch, logs)
