"""Compiled kernels: the only place in dl with loops over array elements.

Submodules (Cython, built with ``python setup.py build_ext --inplace``):

- ``corelib.kernels.dense``: linear_forward, linear_backward (BLAS gemm).
- ``corelib.kernels.activations``: forward / backward of the named activations.
- ``corelib.kernels.losses``: fused per-sample losses and their gradients.
- ``corelib.kernels.optim``: in-place optimizer updates.
- ``corelib.kernels.blas``: which BLAS the products run on (OpenBLAS or MKL), and the threads.

Each kernel's Python-facing function checks dtypes (float32 or float64, all
arrays alike), shapes, contiguity and writeability, then computes with the GIL
released. Import the submodule you need; this package imports nothing itself.

It sets one default before the first kernel module loads libgomp: idle OpenMP
threads spin for 30,000 rounds before they sleep (``GOMP_SPINCOUNT``; libgomp's
own default is 300,000), unless the environment already says otherwise. With
MKL's products on the same threads, two 2-thread training processes on two
cores took 27-82 ms per MLP step at libgomp's default, each spinning while the
other needed the core, and 6.5 ms at 30,000 (one process alone: 2.16 vs 2.25 ms;
docs/benchmarks.md).
"""

import os as _os

_os.environ.setdefault("GOMP_SPINCOUNT", "30000")
