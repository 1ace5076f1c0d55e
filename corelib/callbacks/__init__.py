"""Callbacks: hooks into fit / evaluate / predict, the engine's own callbacks, and the registry view.

`base` holds `Callback` and `CallbackList`; `history` and `progbar` the two
callbacks every `fit` adds (`History`, `ProgbarLogger`); `backup` the
checkpoint-and-resume callback (`BackupAndRestore`), and `interrupt` the one
that turns Ctrl-C or SIGTERM into a clean stop after the step (`StopOnSignal`),
which `BackupAndRestore` then checkpoints. Every other
name (`corelib.callbacks.EarlyStopping`, a plugin's callback) is looked up in
the registry, so callbacks from plugins are reached like the built-in ones.
"""

from __future__ import annotations

from typing import Any

from corelib.callbacks.backup import BackupAndRestore
from corelib.callbacks.base import Callback, CallbackList
from corelib.callbacks.history import History
from corelib.callbacks.interrupt import StopOnSignal
from corelib.callbacks.progbar import ProgbarLogger, format_logs
from corelib.registry import view as _view

__all__ = [
    "BackupAndRestore",
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "StopOnSignal",
    "format_logs",
    "get",
]

KIND = "callbacks"


def get(identifier: Any) -> Callback:
    """A callback instance from a registered name, a {"class_name", "config"} dict or an instance."""
    return _view.resolve(KIND, identifier, Callback, "callback")


def __getattr__(name: str) -> Any:
    return _view.module_getattr(KIND, __name__, name)
