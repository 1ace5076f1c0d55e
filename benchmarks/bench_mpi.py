"""Data-parallel training on MPI (dl-mpi): samples per second on 1 and 2 ranks,
the communication share of a step, and the all-reduce at larger sizes.

    python benchmarks/bench_mpi.py [--rounds 3] [--epochs 3] [--batch-size B] [--sizes 1e5,1e6,1e7]

Needs dl-mpi (with mpi4py and an mpiexec) and dl-datasets. The driver
launches ``mpiexec -n R python benchmarks/bench_mpi.py --worker ...`` for each
configuration, alternating them round by round (1 rank, 2 ranks, 1 rank, ...)
because these machines drift within seconds; it prints the median over rounds
and the min-max spread.

Models: the digits MLP and the digits CNN of examples/ (the specs as they
are: batch 32 unless --batch-size, Dropout and BatchNormalization included),
trained with fit on the digits training split (1,437 images); each
configuration runs one untimed epoch first.
Configurations: ranks x threads per rank in {1x1, 1x2, 2x1, 2x2}.

"in all-reduce" is the time each step spends inside the strategy's
all_reduce (the flat gradient buffer and the small float64 vector of losses,
metric sums and flags), waiting for the slower rank included, as a share of
the step; "pure" is the same two all-reduces timed alone after a barrier.
Then the all-reduce of 1e5, 1e6, 1e7 float32 values on 2 ranks: time,
algorithm bandwidth (bytes/time) and bus bandwidth (2(p-1)/p * bytes/time,
what a ring or reduce-scatter + all-gather moves per rank).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"mlp": ROOT / "examples" / "digits_mlp.yaml", "cnn": ROOT / "examples" / "digits_cnn.yaml"}
CONFIGS = [(1, 1), (1, 2), (2, 1), (2, 2)]  # (ranks, threads per rank)


# -- worker: runs under mpiexec ---------------------------------------------------------


def _timed_strategy():
    from corelib import distribute

    strategy = distribute.get_strategy()
    spent = [0.0]
    if strategy.num_replicas_in_sync > 1:
        reduce = strategy.all_reduce

        def timed(*buffers):
            start = time.perf_counter()
            reduce(*buffers)
            spent[0] += time.perf_counter() - start

        strategy.all_reduce = timed
    return strategy, spent


def _fit_speed(kind: str, epochs: int, batch_size: int) -> dict:
    import corelib
    from corelib import spec as specs

    strategy, spent = _timed_strategy()
    spec = specs.load_spec(SPECS[kind])
    corelib.set_seed(0)
    data = specs.load_training_data(spec)
    model = specs.build_model(spec)
    specs.compile_model(model, spec)
    x, y = specs.prepare_arrays(model, spec, data.x, data.y, source=data.source)
    batch = batch_size or spec.training.batch_size
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: workspaces, BLAS threads
    steps = epochs * -(-len(x) // batch)
    spent[0] = 0.0
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    samples = epochs * len(x)
    out = {"samples_per_s": samples / seconds, "step_ms": 1e3 * seconds / steps, "reduce_share": spent[0] / seconds}
    if strategy.num_replicas_in_sync > 1:  # the same all-reduces alone, after a barrier
        engine = model._data_parallel
        buffers = engine._buffers + [engine._stats]
        strategy.comm.Barrier()
        start = time.perf_counter()
        for _ in range(steps):
            for b in buffers:
                strategy.all_reduce(b)
        out["pure_reduce_share"] = (time.perf_counter() - start) / seconds
        out["gradient_values"] = int(sum(b.size for b in engine._buffers))
    return out


def _allreduce_sizes(sizes: list[int]) -> list[dict]:
    import numpy as np
    from mpi4py import MPI

    from corelib import distribute

    strategy = distribute.get_strategy()
    p = strategy.num_replicas_in_sync
    rows = []
    for n in sizes:
        buf = np.ones(n, dtype=np.float32)
        reps = max(3, min(50, int(2e8 // (n * 4))))
        strategy.all_reduce(buf)
        times = []
        for _ in range(reps):
            strategy.comm.Barrier()
            start = MPI.Wtime()
            strategy.all_reduce(buf)
            times.append(MPI.Wtime() - start)
        t = statistics.median(times)
        nbytes = 4 * n
        rows.append({"n": n, "ms": 1e3 * t, "algbw_GBs": nbytes / t / 1e9,
                     "busbw_GBs": 2 * (p - 1) / p * nbytes / t / 1e9})
    return rows


def worker(args: argparse.Namespace) -> None:
    from corelib import distribute

    if args.worker == "fit":
        result = {kind: _fit_speed(kind, args.epochs, args.batch_size) for kind in ("mlp", "cnn")}
    else:
        result = _allreduce_sizes([int(float(s)) for s in args.sizes.split(",")])
    if distribute.is_chief():
        print("RESULT " + json.dumps(result), flush=True)


# -- driver -------------------------------------------------------------------------------


def _launch(ranks: int, threads: int, args: list[str]) -> dict:
    mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_", "MKL_", "DL_MPI"))}
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), DL_MPI_THREADS=str(threads))
    out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, __file__, *args], capture_output=True,
                         text=True, env=env, timeout=900)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not line:
        raise SystemExit(f"mpiexec -n {ranks} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(line[0][7:])


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):9.1f} ({min(values):.1f}-{max(values):.1f})"


def driver(args: argparse.Namespace) -> None:
    runs: dict[tuple[int, int], list[dict]] = {c: [] for c in CONFIGS}
    for _ in range(args.rounds):
        for ranks, threads in CONFIGS:
            runs[(ranks, threads)].append(_launch(ranks, threads, ["--worker", "fit", "--epochs", str(args.epochs),
                                                                   "--batch-size", str(args.batch_size)]))
    for kind in ("mlp", "cnn"):
        batch = args.batch_size or "the spec's"
        print(f"\n{kind} ({SPECS[kind].name}, batch {batch}): samples/s, median (min-max) of {args.rounds} rounds")
        base = [r[kind]["samples_per_s"] for r in runs[(1, 1)]]
        for ranks, threads in CONFIGS:
            rs = [r[kind] for r in runs[(ranks, threads)]]
            speed = [r["samples_per_s"] for r in rs]
            ratio = [s / b for s, b in zip(speed, base)]
            line = (f"  {ranks} rank(s) x {threads} thread(s): {_spread(speed)} samples/s, "
                    f"x{statistics.median(ratio):.2f} of 1x1, step {statistics.median(r['step_ms'] for r in rs):.2f} ms")
            if ranks > 1:
                line += (f", in all-reduce {100 * statistics.median(r['reduce_share'] for r in rs):.0f}% "
                         f"(pure {100 * statistics.median(r['pure_reduce_share'] for r in rs):.0f}%) of a step, "
                         f"{rs[0]['gradient_values']} gradient values")
            print(line)
    print("\nall-reduce of float32 values on 2 ranks (1 thread each), median of repeats:")
    for row in _launch(2, 1, ["--worker", "allreduce", "--sizes", args.sizes]):
        print(f"  n={row['n']:>10,}: {row['ms']:8.3f} ms, algbw {row['algbw_GBs']:.2f} GB/s, "
              f"busbw {row['busbw_GBs']:.2f} GB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per configuration")
    parser.add_argument("--batch-size", type=int, default=0, help="global batch size (default: the spec's)")
    parser.add_argument("--sizes", default="1e5,1e6,1e7")
    parser.add_argument("--worker", choices=["fit", "allreduce"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    worker(args) if args.worker else driver(args)


if __name__ == "__main__":
    main()
