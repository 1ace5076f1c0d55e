"""What the launcher tells a process before MPI starts, and threads per rank.

Launchers put the job's size in the environment of every process they start:
MPICH's and Intel MPI's hydra and Slurm's PMI-2 set ``PMI_SIZE``, Open MPI
``OMPI_COMM_WORLD_SIZE``, MVAPICH ``MV2_COMM_WORLD_SIZE``. A PMIx launcher
(Open MPI 5's prterun, ``srun --mpi=pmix``) always sets ``PMIX_RANK``; the size
then comes from Slurm's ``SLURM_STEP_NUM_TASKS`` or, failing that, from MPI.
Reading these never starts MPI, so a plain ``python train.py`` stays a plain
single process.
"""

from __future__ import annotations

import os
import warnings
from typing import Mapping

__all__ = ["world_size_from_environ", "UNKNOWN", "threads_per_rank", "limit_threads", "warn_if_oversubscribed"]

UNKNOWN = -1
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
ENV_THREADS = "DL_MPI_THREADS"


def world_size_from_environ(environ: Mapping[str, str]) -> int:
    """The number of processes the launcher started: 0 when none did, `UNKNOWN` (-1)
    when a PMIx launcher did but did not say how many."""
    for var in _SIZE_VARS:
        value = environ.get(var, "")
        if value.strip().isdigit():
            return int(value)
    if "PMIX_RANK" in environ:
        value = environ.get("SLURM_STEP_NUM_TASKS", "")
        return int(value) if value.strip().isdigit() else UNKNOWN
    return 0


def cpus_available() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_rank(setting: int | str | None, environ: Mapping[str, str], ranks_on_node: int,
                     cpus: int) -> int | None:
    """How many BLAS/OpenMP threads each rank should use; None leaves them as they are.

    Args:
        setting: an int; "auto" (the node's CPUs shared out among its ranks,
            unless the user set OMP_NUM_THREADS or a BLAS library's variable);
            or None to leave the libraries alone. ``DL_MPI_THREADS`` (a number,
            "auto" or "keep") overrides it ("auto" from there applies even when
            OMP_NUM_THREADS is set).
        ranks_on_node: the ranks sharing this machine.
        cpus: the CPUs they share.
    """
    override = environ.get(ENV_THREADS, "").strip().lower()
    if override:
        setting = None if override == "keep" else override
    if setting is None:
        return None
    if setting == "auto":
        if not override and any(environ.get(v) for v in _THREAD_VARS):
            return None
        return max(1, cpus // max(1, ranks_on_node))
    try:
        n = int(setting)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        from corelib.errors import ConfigError

        raise ConfigError(f"MPIStrategy: threads_per_rank must be a positive int, 'auto' or None "
                          f"({ENV_THREADS}: a number, 'auto' or 'keep'). Received: {setting!r}")
    return n


def limit_threads(n: int) -> None:
    """Use `n` threads in dl's kernels (their OpenMP pool and MKL, loaded now if they were not)
    and in every other BLAS and OpenMP library loaded in this process."""
    from corelib.config import set_num_threads

    set_num_threads(n)


def warn_if_oversubscribed(threads: int | None, ranks_on_node: int, cpus: int) -> None:
    """Warn when the ranks on this machine run more BLAS/OpenMP threads than it has CPUs
    (measured: 2 ranks x 2 threads on 2 cores made a CNN step 10-17x slower than 2 x 1)."""
    if threads is None:
        from threadpoolctl import threadpool_info

        threads = max((int(info.get("num_threads") or 1) for info in threadpool_info()), default=1)
    if ranks_on_node > cpus:
        warnings.warn(f"dl-mpi: {ranks_on_node} ranks on {cpus} CPUs: every step waits for the ranks that "
                      f"are not running; use at most {cpus} ranks on this machine", stacklevel=3)
    elif threads * ranks_on_node > cpus:
        warnings.warn(f"dl-mpi: {ranks_on_node} ranks x {threads} threads each on {cpus} CPUs: the threads "
                      f"compete for the CPUs and training slows down many times over. Unset OMP_NUM_THREADS, "
                      f"or set {ENV_THREADS}=auto for {max(1, cpus // ranks_on_node)} thread(s) per rank.",
                      stacklevel=3)
