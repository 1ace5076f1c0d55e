"""Distribution strategies: how fit, evaluate and predict spread over processes.

A strategy is the one object the training loop consults to train one model in
several processes at once (its *replicas*), data-parallel: every replica holds
the whole model, takes its contiguous share of each global batch, and the
gradients are summed over replicas every step, so the model trains exactly as
one process would on the same global batches (`corelib.trainers.data_parallel` does
that on top of the few communication methods below).

    from corelib import distribute

    distribute.get_strategy()            # the strategy in effect
    distribute.set_strategy("mpi")       # a registered name or an instance; "default": one process
    with distribute.get("mpi").scope():  # or for a block only, as with tf.distribute
        model.fit(x, y)

The strategy in effect is, in this order: the one entered with ``scope()`` or
set with `set_strategy`; the one named by the ``DL_STRATEGY`` environment
variable ("default" turns distribution off); the first registered strategy
whose ``detect(os.environ)`` recognises the process's launcher (dl-mpi's
recognises ``mpiexec -n N`` with N > 1, from the launcher's environment
variables, without starting MPI); otherwise `DefaultStrategy`, one process,
which the training loop does not even call. Strategies come from plugins
through the ``register_strategies`` hook, like every other component.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from typing import Any, Iterator, Mapping

import numpy as np

from corelib.errors import ConfigError, DLError, PluginError, UnknownComponentError, one_line
from corelib.registry import view as _view

__all__ = ["Strategy", "DefaultStrategy", "get", "get_strategy", "set_strategy", "is_chief", "collective"]

ENV_STRATEGY = "DL_STRATEGY"
KIND = "strategies"
# Only to warn when a launcher started several copies of a program and no plugin claims it.
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
# What to install for the strategies of dl's own plugins, for the message when one is missing or cannot start.
_MPI = ("dl-mpi", "pip install 'dl-mpi[mpich]' (or dl-mpi with your system's MPI library)")
_INSTALL_HINTS = {"mpi": _MPI, "MPIStrategy": _MPI}


class Strategy:
    """Base class of distribution strategies; as it is, one process that does nothing.

    A plugin's strategy sets `num_replicas_in_sync` and `rank` and implements
    the communication methods (`all_reduce`, `broadcast`, `broadcast_object`,
    `all_gather`); it may override `guard` (what happens when one replica
    fails) and `detect` (automatic activation). Everything about *what* is
    communicated (one flat gradient buffer, the metric state, the weights) is
    dl's, in `corelib.trainers.data_parallel`.

    Attributes:
        num_replicas_in_sync: the number of replicas (processes) training together.
        rank: this replica's index, 0 to num_replicas_in_sync - 1.
    """

    name = "default"
    num_replicas_in_sync: int = 1
    rank: int = 0

    @property
    def is_chief(self) -> bool:
        """Whether this replica is the one that prints and writes files (rank 0)."""
        return self.rank == 0

    @classmethod
    def detect(cls, environ: Mapping[str, str]) -> bool:
        """Whether the environment shows this process was started by this strategy's
        launcher with several replicas. Must be cheap and start nothing."""
        return False

    def shard(self, n: int) -> slice:
        """This replica's contiguous part of `n` items: sizes differ by at most one."""
        p, r = self.num_replicas_in_sync, self.rank
        return slice(r * n // p, (r + 1) * n // p)

    # -- communication: identity for one process -------------------------------------

    def all_reduce(self, *buffers: np.ndarray) -> None:
        """Sum each C-contiguous buffer over all replicas, in place (the same on every replica)."""

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        """Overwrite `buffer` with replica `root`'s, in place."""

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        """Replica `root`'s `obj` (picklable), returned on every replica."""
        return obj

    def all_gather(self, array: np.ndarray) -> np.ndarray:
        """Every replica's `array` concatenated along axis 0, in rank order.
        The arrays may differ in length but not in their other axes or dtype."""
        return array

    def guard(self, what: str) -> contextlib.AbstractContextManager:
        """The context fit / evaluate / predict run in. A multi-process strategy
        stops every replica when one raises (the others wait in a collective)."""
        return contextlib.nullcontext()

    # -- use ------------------------------------------------------------------------

    @contextlib.contextmanager
    def scope(self) -> Iterator["Strategy"]:
        """Make this the strategy in effect inside the block (nested scopes stack)."""
        _STACK.append(self)
        try:
            yield self
        finally:
            _STACK.pop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} rank {self.rank} of {self.num_replicas_in_sync}>"


class DefaultStrategy(Strategy):
    """One process: no replicas, no communication."""


_DEFAULT = DefaultStrategy()
_STACK: list[Strategy] = []
_SET: Strategy | None = None
_AUTO: Strategy | None = None
_LOCK = threading.Lock()


def get(identifier: Any) -> Strategy:
    """A strategy from an instance, a registered name ("mpi") or "default".

    Raises:
        UnknownComponentError: no plugin registered that name (e.g. dl-mpi is not installed).
        PluginError: the strategy cannot start because a library it needs is
            missing (mpi4py, or the MPI library itself); the message says what
            to install.
    """
    if isinstance(identifier, Strategy):
        return identifier
    if identifier is None or identifier == "default":
        return _DEFAULT
    if not isinstance(identifier, str):
        raise ConfigError(f"A strategy must be a name or a Strategy instance. Received: {identifier!r}")
    try:
        obj = _view.lookup(KIND, identifier)
    except UnknownComponentError as exc:
        if identifier not in _INSTALL_HINTS:
            raise
        plugin, command = _INSTALL_HINTS[identifier]
        raise UnknownComponentError(f"{one_line(exc)} It comes with the plugin {plugin}: {command}") from None
    return _instantiate(obj, identifier)


def _instantiate(obj: Any, name: str) -> Strategy:
    try:
        strategy = obj() if isinstance(obj, type) else obj
    except DLError:
        raise
    except (ImportError, OSError, RuntimeError) as exc:  # what a missing library (mpi4py, libmpi) raises
        if name in _INSTALL_HINTS:
            hint = f"install what it needs: {_INSTALL_HINTS[name][1]}"
        elif isinstance(exc, ImportError) and exc.name:
            hint = f"install what it needs: pip install {exc.name.partition('.')[0]}"
        else:
            hint = f"install what its plugin {_view.entry(KIND, name).plugin!r} needs"
        raise PluginError(f"The strategy {name!r} cannot start ({type(exc).__name__}: {one_line(exc)}); "
                          f"{hint}") from None
    if not isinstance(strategy, Strategy):
        raise ConfigError(f"The strategy registered as {name!r} is not a corelib.distribute.Strategy: {strategy!r}")
    return strategy


def set_strategy(identifier: Any) -> None:
    """Use this strategy from now on: an instance, a registered name, "default"
    (one process, whatever the launcher), or None (back to automatic)."""
    global _SET, _AUTO
    _SET = None if identifier is None else get(identifier)
    _AUTO = None


def get_strategy() -> Strategy:
    """The strategy in effect (see the module's docstring for the order)."""
    if _STACK:
        return _STACK[-1]
    if _SET is not None:
        return _SET
    auto = _AUTO
    if auto is None:
        with _LOCK:
            auto = _AUTO if _AUTO is not None else _automatic(os.environ)
            globals()["_AUTO"] = auto
    return auto


def is_chief() -> bool:
    """Whether this process is the one that prints and writes files (always, for one process).

    Callbacks that write (checkpoints, logs) ask this; so can a script:
    ``if distribute.is_chief(): model.save("model.dl")``.
    """
    return get_strategy().is_chief


def _automatic(environ: Mapping[str, str]) -> Strategy:
    named = environ.get(ENV_STRATEGY, "").strip()
    if named:
        try:
            return get(named)
        except DLError as exc:
            raise type(exc)(f"{ENV_STRATEGY}={named}: {one_line(exc)}") from None
    for entry in _view.entries(KIND):
        detect = getattr(entry.obj, "detect", None)
        try:
            found = bool(detect(environ)) if detect is not None else False
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop a plain run
            warnings.warn(f"Strategy {entry.name!r} from {entry.plugin!r}: detect() raised "
                          f"{type(exc).__name__}: {exc}; not used", stacklevel=4)
            continue
        if found:
            return _instantiate(entry.obj, entry.name)
    size = max((_int(environ.get(v)) for v in _LAUNCHER_SIZE_VARS), default=0)
    if size > 1:
        warnings.warn(f"This process is one of {size} started by an MPI launcher, but no installed plugin "
                      "provides a distribution strategy for it, so each trains on its own (and writes the "
                      f"same files). Install dl-mpi, or set {ENV_STRATEGY}=default to silence this.",
                      stacklevel=4)
    return _DEFAULT


def _int(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def collective(what: str):
    """Decorator of fit / evaluate / predict: run the method inside the strategy's
    `guard` when several replicas train together (nothing at all otherwise)."""
    import functools

    def decorate(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            strategy = get_strategy()
            if strategy.num_replicas_in_sync == 1:
                return method(self, *args, **kwargs)
            with strategy.guard(f"{what}()"):
                return method(self, *args, **kwargs)

        return run

    return decorate
