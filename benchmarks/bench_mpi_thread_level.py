"""What MPI_THREAD_MULTIPLE (which dl-mpi asks for, so that its watchdog thread may call
MPI_Abort) costs an all-reduce, against MPI_THREAD_SINGLE, at the sizes of the digits MLP's and
CNN's gradients and at 1e6 values:

    for level in single multiple single multiple; do
        OMP_NUM_THREADS=1 mpiexec -n 2 python benchmarks/bench_mpi_thread_level.py $level
    done

Run the levels alternately (these machines drift); rank 0 prints the mean time per all-reduce.
"""

from __future__ import annotations

import sys
import time

import mpi4py
import numpy as np

LEVEL = sys.argv[1] if len(sys.argv) > 1 else "multiple"
if LEVEL not in ("single", "multiple"):
    raise SystemExit("usage: bench_mpi_thread_level.py single|multiple")
mpi4py.rc.thread_level = LEVEL
from mpi4py import MPI  # noqa: E402 - the level is read when MPI starts

comm = MPI.COMM_WORLD.Dup()
for n in (4810, 31018, 1_000_000):
    buffer = np.ones(n, np.float32)
    repeats = 3000 if n < 100_000 else 200
    for _ in range(50):
        comm.Allreduce(MPI.IN_PLACE, buffer)
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(repeats):
        comm.Allreduce(MPI.IN_PLACE, buffer)
    seconds = (time.perf_counter() - start) / repeats
    if comm.Get_rank() == 0:
        print(f"{LEVEL:8s} (provided {MPI.Query_thread()}): all-reduce of {n:>9,} float32 {seconds * 1e6:8.1f} us")
