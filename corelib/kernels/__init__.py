"""Compiled kernels: the only place in dl with loops over array elements.

Submodules (Cython, built with ``python setup.py build_ext --inplace``):

- ``corelib.kernels.dense``: linear_forward, linear_backward (BLAS gemm).
- ``corelib.kernels.activations``: forward / backward of the named activations.
- ``corelib.kernels.losses``: fused per-sample losses and their gradients.
- ``corelib.kernels.optim``: in-place optimizer updates.

Each kernel's Python-facing function checks dtypes (float32 or float64, all
arrays alike), shapes, contiguity and writeability, then computes with the GIL
released. Import the submodule you need; this package imports nothing itself.
"""
