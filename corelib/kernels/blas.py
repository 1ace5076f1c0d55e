"""Which BLAS the kernels' matrix products run on, and how many threads.

Every gemm in the kernels (dense, convolution, recurrent) goes through one
pair of function pointers (`_blas.pxi`). They start at SciPy's OpenBLAS; when
Intel MKL is installed (``pip install "dl[mkl]"``), `select("auto")` points them
at MKL's LP64 sgemm/dgemm with MKL's GNU threading layer, so MKL's threads are
the same libgomp OpenMP threads the kernels' own parallel loops use: one pool
for the whole library. On the 2-core development machine MKL's sgemm runs the
MLP's products at 230-316 GFLOP/s against 114-275 for SciPy's OpenBLAS
(docs/benchmarks.md, "Choosing the BLAS").

`DL_BLAS` chooses when the first kernel module is imported: ``auto`` (the
default: MKL when it can be loaded), ``mkl`` or ``openblas``. `DL_MKL_LIBRARY`
names an MKL runtime library (libmkl_rt) to load instead of searching for one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import site
import sys
import warnings

__all__ = ["backend", "available", "select", "set_num_threads", "get_num_threads"]

_GEMM_MODULES = ("dense", "conv", "recurrent")
_KERNEL_MODULES = ("activations", "batchnorm", "conv", "ctc", "dense", "global_pooling", "losses", "optim",
                   "optim_more", "pooling", "recurrent")
# The kernels' threshold for threaded loops (see _common.pxi): with MKL on
# libgomp the loops share MKL's threads and pay from ~128k units of work up;
# beside OpenBLAS's own threads they only lose, so they stay serial.
_PARALLEL_WORK = {"mkl": 1 << 17, "openblas": 1 << 30}
_MKL_THREADING_GNU = 3  # mkl_service.h: INTEL 0, SEQUENTIAL 1, PGI 2, GNU 3, TBB 4
_MKL_INTERFACE_LP64 = 0
_BACKENDS = ("auto", "mkl", "openblas")

_state = {"backend": None, "mkl": None, "mkl_error": None, "addresses": (0, 0, 0)}


def _mkl_candidates() -> list[str]:
    named = os.environ.get("DL_MKL_LIBRARY")
    if named:
        return [named]
    prefixes = [sys.prefix, sys.base_prefix, getattr(site, "USER_BASE", None) or ""]
    found = []
    for prefix in dict.fromkeys(p for p in prefixes if p):
        for pattern in ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so", "libmkl_rt.*.dylib"):
            found += sorted(glob.glob(os.path.join(prefix, "lib", pattern)))
    system = ctypes.util.find_library("mkl_rt")
    if system:
        found.append(system)
    return list(dict.fromkeys(found))


def _load_mkl():
    """MKL's runtime library, set to LP64 and the GNU (libgomp) threading
    layer, or None with the reason kept in `_state["mkl_error"]`."""
    if _state["mkl"] is not None:
        return _state["mkl"]
    reasons = []
    for path in _mkl_candidates():
        try:
            lib = ctypes.CDLL(path)
            set_layer = lib.MKL_Set_Threading_Layer
            set_interface = lib.MKL_Set_Interface_Layer
        except (OSError, AttributeError) as exc:
            reasons.append(f"{path}: {exc}")
            continue
        set_interface.argtypes = set_layer.argtypes = [ctypes.c_int]
        set_interface.restype = set_layer.restype = ctypes.c_int
        if set_interface(_MKL_INTERFACE_LP64) != _MKL_INTERFACE_LP64 or \
                set_layer(_MKL_THREADING_GNU) != _MKL_THREADING_GNU:
            reasons.append(f"{path}: MKL refused the LP64 interface or the GNU threading layer "
                           "(was MKL already in use with other settings?)")
            continue
        lib.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
        lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
        lib.MKL_Set_Num_Threads.argtypes = [ctypes.c_int]
        lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        _state["mkl"] = lib
        return lib
    _state["mkl_error"] = "; ".join(reasons) or "no libmkl_rt found (pip install \"dl[mkl]\")"
    return None


def available() -> tuple[str, ...]:
    """The BLAS libraries the kernels can use here ("openblas" always)."""
    return ("openblas", "mkl") if _load_mkl() is not None else ("openblas",)


def backend() -> str:
    """The BLAS the kernels use now: "mkl" or "openblas"."""
    _initial_addresses()
    return _state["backend"]


def _choose(name: str) -> tuple[int, int, int]:
    if name not in _BACKENDS:
        raise ValueError(f"BLAS backend must be one of {', '.join(_BACKENDS)}. Received: {name!r}")
    lib = _load_mkl() if name in ("auto", "mkl") else None
    if name == "mkl" and lib is None:
        warnings.warn(f"dl: DL_BLAS=mkl but MKL cannot be loaded ({_state['mkl_error']}); using OpenBLAS",
                      RuntimeWarning, stacklevel=3)
    if lib is None:
        addresses = (0, 0, 0)
    else:
        addresses = tuple(ctypes.cast(f, ctypes.c_void_p).value
                          for f in (lib.sgemm, lib.dgemm, lib.MKL_Set_Num_Threads_Local))
    _state["backend"] = "mkl" if lib is not None else "openblas"
    _state["addresses"] = addresses
    return addresses


def _initial_addresses() -> tuple[int, int, int]:
    """(sgemm, dgemm, per-thread thread setter) for a kernel module being
    imported: the choice `DL_BLAS` makes, on the first call; then whatever
    `select` chose last (0s: SciPy's OpenBLAS)."""
    if _state["backend"] is None:
        name = os.environ.get("DL_BLAS", "auto").strip().lower() or "auto"
        if name not in _BACKENDS:
            warnings.warn(f"dl: DL_BLAS must be one of {', '.join(_BACKENDS)}, not {name!r}; using auto",
                          RuntimeWarning, stacklevel=3)
            name = "auto"
        return _choose(name)
    return _state["addresses"]


def _initial_parallel_work() -> int:
    """The threaded-loop threshold for a kernel module being imported."""
    _initial_addresses()
    return _PARALLEL_WORK[_state["backend"]]


def select(name: str = "auto") -> str:
    """Point every kernel's gemm at `name` ("auto", "mkl" or "openblas") and
    return the one chosen. "mkl" where MKL cannot be loaded warns and keeps
    OpenBLAS (the results agree to rounding; only the speed differs)."""
    import importlib

    sgemm, dgemm, local = _choose(name)
    for module in _KERNEL_MODULES:
        kernels = importlib.import_module(f"corelib.kernels.{module}")
        kernels._set_default_parallel_work(_PARALLEL_WORK[_state["backend"]])
        if module in _GEMM_MODULES:
            kernels._use_gemm(sgemm, dgemm)
        if module == "recurrent":
            kernels._use_local_threads(local)
    return _state["backend"]


def set_num_threads(n: int) -> None:
    """Use `n` threads in the kernels' OpenMP loops, in MKL, and in every
    other BLAS and OpenMP runtime loaded in the process (through threadpoolctl:
    SciPy's and NumPy's OpenBLAS)."""
    from threadpoolctl import threadpool_limits

    from corelib.kernels import dense

    dense._set_omp_threads(n)
    threadpool_limits(limits=n)
    lib = _state["mkl"]
    if lib is not None:
        lib.MKL_Set_Num_Threads(n)


def get_num_threads() -> int:
    """The thread count the kernels' parallel work uses now."""
    from corelib.kernels import dense

    return int(dense._omp_threads())
