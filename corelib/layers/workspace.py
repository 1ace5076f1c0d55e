"""Workspace sets that are safe to reuse across training steps.

A layer reuses its buffers from step to step (fresh large arrays cost a page
fault per 4 KiB). A buffer is only free again once the backprop closure that
reads it is gone: a layer shared by two nodes of a graph runs forward twice
before either backprop, and each call needs its own set. `Workspaces` hands
out the lowest-numbered set whose closure has been dropped.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

__all__ = ["Workspaces"]


class Workspaces:
    """Numbered buffer sets, each held while its backprop closure is alive.

    Usage in a layer's forward (training mode)::

        slot = self._ws.acquire()
        z = self.buffer(("z", slot), shape)
        ...
        self._ws.bind(slot, backprop)
    """

    __slots__ = ("_owners",)

    def __init__(self) -> None:
        self._owners: list[Any] = []

    def acquire(self) -> int:
        """The number of a set no live closure holds."""
        owners = self._owners
        for i, ref in enumerate(owners):
            if ref is None or ref() is None:
                return i
        owners.append(None)
        return len(owners) - 1

    def bind(self, slot: int, closure: Callable) -> None:
        """Mark `slot` as held until `closure` is garbage."""
        self._owners[slot] = weakref.ref(closure)

    def __getstate__(self) -> dict:  # copies of a layer start with no sets held
        return {}

    def __setstate__(self, state: dict) -> None:
        self._owners = []
