"""The dl plugin: registers `MPIStrategy` (as "MPIStrategy" and "mpi") through ``register_strategies``.

Importing this module imports neither mpi4py nor the strategy's module: dl asks
`MPIStrategy.detect` (environment variables only) whether the process runs under
``mpiexec`` before anything starts MPI.
"""

from __future__ import annotations

from typing import Callable

from corelib import hookimpl


@hookimpl
def register_strategies(register: Callable[..., None]) -> None:
    """Register MPIStrategy, also found as "mpi"."""
    from dl_mpi.strategy import MPIStrategy

    register(MPIStrategy, aliases=("mpi",))
