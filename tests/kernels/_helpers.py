"""Shared helpers for the kernel tests: layouts, tolerances, finite differences."""

from __future__ import annotations

from typing import Callable

import numpy as np

DTYPES = (np.float32, np.float64)
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def rtol(dtype) -> float:
    """The comparison tolerance for a dtype (float32 ~1e-5, float64 ~1e-12)."""
    return RTOL[np.dtype(dtype).type]


def layout(a: np.ndarray, kind: str) -> np.ndarray:
    """A copy of `a` with the same values in the memory layout `kind`.

    "c": C-contiguous. "strided": every other element of a wider buffer (no
    axis has unit stride). "rows": rows of a wider buffer (inner stride 1,
    padded row stride). "fortran": column-major (a transposed C array).
    """
    a = np.asarray(a)
    if kind == "c":
        return np.array(a, order="C")  # ascontiguousarray would make a 0-d array 1-d
    if kind == "strided":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype) if a.ndim else a.copy()
        if a.ndim == 0:
            return wide
        view = wide[..., 1::2]
        view[...] = a
        return view
    if kind == "rows":
        wide = np.zeros(a.shape[:-1] + (a.shape[-1] + 3,), a.dtype)
        view = wide[..., : a.shape[-1]]
        view[...] = a
        return view
    if kind == "fortran":
        return np.asfortranarray(a)
    raise ValueError(kind)


def assert_close(actual, expected, dtype, scale=None, rtol_factor=1.0) -> None:
    """assert_allclose with the dtype's rtol and an absolute floor of rtol*scale
    (scale: magnitude of the terms summed, for results that can cancel)."""
    tol = rtol(dtype) * rtol_factor
    atol = 0.0 if scale is None else tol * float(np.max(scale, initial=1.0))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=atol)


def directional_fd(f: Callable[[np.ndarray], float], x: np.ndarray, v: np.ndarray,
                   h: float = 1e-6) -> float:
    """Central difference of scalar f at x along direction v (float64)."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)
