"""Which BLAS: single-precision gemm throughput of each library on the MLP's products.

    OMP_NUM_THREADS=2 python benchmarks/bench_blas.py [--threads 2] [--json]

For each (m, k, n) product of the 784-512-512-10 MLP's training step (forward,
weight gradient and input gradient at batch 128, and at batch 32 and 1024), the
GFLOP/s of, in one process, each timed as the best of 7 blocks:
  - dl's dense kernel on SciPy's OpenBLAS (`corelib.kernels.blas.select("openblas")`);
  - dl's dense kernel on MKL (`select("mkl")`; skipped without ``dl[mkl]``);
  - NumPy's `matmul` (NumPy's own OpenBLAS build);
  - BLIS through the `blis` package, if installed (``pip install blis``);
  - PyTorch's `matmul` (MKL, linked into PyTorch), if installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _interleave import pin_threads  # noqa: E402

SHAPES = [  # (m, k, n): C(m, n) = A(m, k) @ B(k, n)
    (128, 784, 512), (128, 512, 512), (128, 512, 10),   # forward, batch 128
    (784, 128, 512), (512, 128, 512),                   # weight gradients
    (128, 512, 784),                                    # an input gradient's shape
    (32, 784, 512), (1024, 784, 512), (1024, 1024, 1024),
]


def _best(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)
    import numpy as np

    from corelib.kernels import blas, dense

    peers = {}
    try:
        import blis.py

        peers["blis"] = lambda a, b, c: blis.py.gemm(a, b, out=c)
    except ImportError:
        pass
    try:
        import torch

        peers["torch (mkl)"] = lambda a, b, c: torch.matmul(torch.from_numpy(a), torch.from_numpy(b),
                                                            out=torch.from_numpy(c))
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    results = {}
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c = np.empty((m, n), np.float32)
        flops, reps = 2.0 * m * n * k, max(5, int(2e9 / (2 * m * n * k)))
        row = {}
        for backend in blas.available():
            blas.select(backend)
            row[f"dl on {backend}"] = flops / _best(lambda: dense.linear_forward(a, b, None, c), reps) / 1e9
        row["numpy"] = flops / _best(lambda: np.matmul(a, b, out=c), reps) / 1e9
        for name, fn in peers.items():
            row[name] = flops / _best(lambda: fn(a, b, c), reps) / 1e9
        results[f"{m}x{k}x{n}"] = row
        if not args.json:
            print(f"{m}x{k}x{n}: " + ", ".join(f"{name} {g:.0f}" for name, g in row.items()) + " GFLOP/s", flush=True)
    blas.select("auto")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
