"""MPIStrategy: dl's data-parallel training over the processes of an MPI job."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Mapping

import numpy as np

from corelib.distribute import Strategy
from dl_mpi import _faults, _launch

__all__ = ["MPIStrategy"]

_WORLD: list[Any] = []  # (communicator, ranks on this node), made once: MPI_Init happens then


def _world() -> tuple[Any, int]:
    if not _WORLD:
        import mpi4py

        mpi4py.rc.thread_level = "multiple"  # dl's calls come from one thread, but the watchdog may abort
        from mpi4py import MPI

        comm = MPI.COMM_WORLD.Dup()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        _WORLD.append((comm, node.Get_size()))
        node.Free()
    return _WORLD[0]


class MPIStrategy(Strategy):
    """Data parallel training over the processes of an MPI job (one replica per rank).

    Used automatically when the process was started by ``mpiexec -n N``
    (N > 1) and dl-mpi is installed; or name it: ``distribute.set_strategy("mpi")``.
    Every rank runs the same program on the same data; fit, evaluate and
    predict are collective (every rank must call them, with the same
    arguments). Rank 0 is the chief: it alone prints progress and writes
    checkpoints and logs. All ranks share one MPI communicator, so creating
    the strategy several times is cheap.

    Args:
        threads_per_rank: BLAS/OpenMP threads of each rank: "auto" shares the
            machine's CPUs out among the ranks on it (1 each when there are as
            many ranks as cores) unless OMP_NUM_THREADS or a BLAS variable is
            set; an int; or None to leave them. ``DL_MPI_THREADS`` overrides it.

    Attributes:
        comm: the mpi4py communicator (a duplicate of COMM_WORLD).
        threads: the threads per rank set, or None when left as they were.
    """

    name = "mpi"

    def __init__(self, threads_per_rank: int | str | None = "auto") -> None:
        self.comm, ranks_on_node = _world()
        self.rank = self.comm.Get_rank()
        self.num_replicas_in_sync = self.comm.Get_size()
        _faults.install(self.comm)
        self.threads = _launch.threads_per_rank(threads_per_rank, os.environ, ranks_on_node,
                                                _launch.cpus_available())
        if self.threads is not None:
            _launch.limit_threads(self.threads)
        if self.rank == 0 and self.num_replicas_in_sync > 1:
            _launch.warn_if_oversubscribed(self.threads, ranks_on_node, _launch.cpus_available())

    @classmethod
    def detect(cls, environ: Mapping[str, str]) -> bool:
        """True under an MPI launcher that started more than one process (MPI not started)."""
        size = _launch.world_size_from_environ(environ)
        return size > 1 or size == _launch.UNKNOWN

    # -- communication ---------------------------------------------------------------

    def all_reduce(self, *buffers: np.ndarray) -> None:
        from mpi4py import MPI

        for buffer in buffers:
            self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> None:
        self.comm.Bcast(buffer, root=root)

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        return self.comm.bcast(obj, root=root)

    def all_gather(self, array: np.ndarray | None) -> np.ndarray:
        """Every rank's rows in rank order. A rank with nothing to give passes None."""
        meta = self.comm.allgather(None if array is None else (array.shape, array.dtype.str))
        known = [m for m in meta if m is not None]
        if not known:
            return None
        tail, dtype = known[0][0][1:], np.dtype(known[0][1])
        rows = [0 if m is None else m[0][0] for m in meta]
        send = np.ascontiguousarray(array if array is not None else np.empty((0,) + tail, dtype), dtype=dtype)
        out = np.empty((sum(rows),) + tail, dtype=dtype)
        per_row = int(np.prod(tail, dtype=np.int64))
        self.comm.Allgatherv(send, [out, [r * per_row for r in rows]])
        return out

    def guard(self, what: str) -> contextlib.AbstractContextManager:
        return _faults.guard(self.comm, what) if self.num_replicas_in_sync > 1 else contextlib.nullcontext()

