"""dl-mpi: data-parallel training for dl on MPI (mpi4py).

Run a training script or ``dl train`` under an MPI launcher and it trains in
data parallel, with nothing else to change::

    mpiexec -n 4 dl train spec.yaml
    mpiexec -n 4 python train.py

or name the strategy in code: ``corelib.distribute.set_strategy("mpi")``.
See `dl_mpi.strategy.MPIStrategy` and docs/mpi.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MPIStrategy", "world_size_from_environ"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:  # importing dl_mpi must not start MPI
    if name == "MPIStrategy":
        from dl_mpi.strategy import MPIStrategy

        return MPIStrategy
    if name == "world_size_from_environ":
        from dl_mpi._launch import world_size_from_environ

        return world_size_from_environ
    raise AttributeError(f"module 'dl_mpi' has no attribute {name!r}")
