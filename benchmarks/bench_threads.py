"""One thread pool: training steps with the kernels' loops and products on separate
pools against one shared pool (issue 16, item 2).

    OMP_NUM_THREADS=2 python benchmarks/bench_threads.py [--rounds 11] [--threads 2] [--json]

Three configurations of the same dl models, switched in one process with
`corelib.kernels.blas.select` and interleaved round by round (the machine drifts):

- ``openblas``: SciPy's OpenBLAS, whose pthreads are a pool of their own, and
  the kernels' loops serial (the default before issue 16; threaded loops beside
  OpenBLAS's threads were 2-4x slower);
- ``mkl, serial loops``: MKL's products on libgomp's threads, loops serial;
- ``mkl, one pool``: MKL's products and the kernels' threaded loops on the same
  libgomp threads (the default with MKL installed).

Models: the mixed model of the issue (Conv1D + Dense + two LSTMs), the digit-strings
CTC model (examples/digit_strings_ctc.yaml: Conv2D, pooling, a bidirectional LSTM,
the CTC loss), the digits CNN and the MLP. Needs MKL (``pip install "dl[mkl]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _interleave import pin_threads, time_steps  # noqa: E402
from bench_cnn import _dl_model  # noqa: E402

CONFIGS = ("openblas", "mkl, serial loops", "mkl, one pool")


def _models():
    import numpy as np

    import corelib
    from corelib import layers, losses, models, optimizers

    corelib.set_seed(0)
    rng = np.random.default_rng(0)
    out = {}

    mixed = models.Sequential([
        layers.Conv1D(64, 5, activation="relu", padding="same", input_shape=(100, 16)),
        layers.Dense(64, activation="relu"),
        layers.LSTM(64, return_sequences=True), layers.LSTM(64), layers.Dense(10)])
    mixed.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    out["mixed Conv1D+Dense+2xLSTM b64"] = (mixed, rng.standard_normal((64, 100, 16)).astype(np.float32),
                                            rng.integers(0, 10, size=64), 5)

    ctc = models.Sequential([
        layers.Conv2D(32, 3, padding="same", activation="relu", input_shape=(48, 8, 1)),
        layers.MaxPooling2D((1, 2)),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Reshape((24, 128)),
        layers.Bidirectional(layers.LSTM(64, return_sequences=True)),
        layers.Dense(11, activation="softmax")])
    ctc.compile(optimizer=optimizers.Adam(learning_rate=0.003),
                loss=losses.get({"class_name": "CTC", "config": {"blank_index": 10}}))
    lengths = rng.integers(1, 7, size=32)
    labels = np.full((32, 6), -1)
    for i, n in enumerate(lengths):
        labels[i, :n] = rng.integers(0, 10, size=n)
    out["digit-strings CTC b32"] = (ctc, rng.random((32, 48, 8, 1)).astype(np.float32), labels, 5)

    cnn = _dl_model("cnn")
    out["digits CNN b64"] = (cnn, rng.standard_normal((64, 28, 28, 1)).astype(np.float32),
                             rng.integers(0, 10, size=64), 10)

    mlp = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                             layers.Dense(512, activation="relu"), layers.Dense(10)])
    mlp.compile(optimizer=optimizers.SGD(learning_rate=0.01),
                loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    out["MLP 784-512-512-10 b128"] = (mlp, rng.standard_normal((128, 784)).astype(np.float32),
                                      rng.integers(0, 10, size=128), 20)
    return out


def _configure(name: str) -> None:
    import importlib

    from corelib.kernels import blas

    blas.select("openblas" if name == "openblas" else "mkl")
    for module in blas._KERNEL_MODULES:  # the backend's default threshold, or serial loops
        importlib.import_module(f"corelib.kernels.{module}")._set_parallel_work(
            1 << 30 if name == "mkl, serial loops" else -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--settle", type=float, default=0.25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)
    from corelib.kernels import blas

    if "mkl" not in blas.available():
        sys.exit("bench_threads: MKL is not installed (pip install \"dl[mkl]\")")
    results = {}
    for label, (model, x, y, steps) in _models().items():
        for config in CONFIGS:
            _configure(config)
            for _ in range(3):
                model.train_on_batch(x, y)
        times = {c: [] for c in CONFIGS}
        for _ in range(args.rounds):
            for config in CONFIGS:
                _configure(config)
                time.sleep(args.settle)
                times[config].append(time_steps(lambda: model.train_on_batch(x, y), steps) / steps)
        base = times["openblas"]
        row = {c: {"ms": 1e3 * statistics.median(t),
                   "speedup_median": statistics.median(b / a for a, b in zip(t, base)),
                   "speedup_min": min(b / a for a, b in zip(t, base)),
                   "speedup_max": max(b / a for a, b in zip(t, base))} for c, t in times.items()}
        results[label] = row
        if not args.json:
            cells = ", ".join(f"{c} {r['ms']:.2f} ms ({r['speedup_median']:.2f}x, {r['speedup_min']:.2f}-"
                              f"{r['speedup_max']:.2f})" for c, r in row.items())
            print(f"{label}: {cells}", flush=True)
    _configure("mkl, one pool")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
