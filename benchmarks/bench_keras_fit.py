"""End to end: `model.fit` in dl against Keras 3 on its PyTorch backend (issue 16, item 5).

    OMP_NUM_THREADS=2 python benchmarks/bench_keras_fit.py [--rounds 5] [--threads 2] [--json]

The same three models are written once against the Keras API and built with each
library (`keras` / `corelib`, the imports are the only difference), compiled alike and
trained one epoch at a time, alternating dl's epoch and Keras's in one process; the
table gives the median epoch time and the median per-round ratio (Keras time / dl time,
>1 means dl is faster) with its spread. Keras's `fit` runs its torch training step
eagerly, as it does by default. Without Keras (``pip install keras``) it says so and stops.

Models (synthetic data with a fixed seed; speed does not depend on the values):
  - the digits CNN of bench_cnn.py, 28x28x1, batch 64, SGD, 4,096 samples;
  - a two-layer bidirectional LSTM(64), 50 steps x 32 features, batch 64, Adam, 2,048 samples;
  - the MLP 784-512-512-10, batch 128, SGD, 8,192 samples.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _interleave import pin_threads  # noqa: E402


def _build(lib, name: str):
    layers = lib.layers
    if name == "cnn":
        model = lib.Sequential([
            layers.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dense(10)])
        optimizer = lib.optimizers.SGD(learning_rate=0.01)
    elif name == "bilstm":
        model = lib.Sequential([
            layers.Input((50, 32)),
            layers.Bidirectional(layers.LSTM(64, return_sequences=True)),
            layers.Bidirectional(layers.LSTM(64)), layers.Dense(10)])
        optimizer = lib.optimizers.Adam(learning_rate=0.001)
    else:
        model = lib.Sequential([layers.Input((784,)), layers.Dense(512, activation="relu"),
                                layers.Dense(512, activation="relu"), layers.Dense(10)])
        optimizer = lib.optimizers.SGD(learning_rate=0.01)
    model.compile(optimizer=optimizer, loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


CASES = {
    # name: (input shape, samples, batch size)
    "cnn": ((28, 28, 1), 4096, 64),
    "bilstm": ((50, 32), 2048, 64),
    "mlp": ((784,), 8192, 128),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=0.25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pin_threads(args.threads)
    try:
        import keras
    except ImportError:
        sys.exit("bench_keras_fit: Keras 3 is not installed (pip install keras); nothing to compare")
    import numpy as np

    import corelib
    from corelib.kernels import blas

    if keras.config.backend() != "torch":
        sys.exit(f"bench_keras_fit: KERAS_BACKEND must be torch; Keras runs on {keras.config.backend()}")
    rng = np.random.default_rng(0)
    results = {}
    for name, (shape, samples, batch) in CASES.items():
        x = rng.standard_normal((samples, *shape)).astype(np.float32)
        y = rng.integers(0, 10, size=samples)
        corelib.set_seed(0)
        keras.utils.set_random_seed(0)
        ours, theirs = _build(corelib, name), _build(keras, name)
        for model in (ours, theirs):  # first epoch untimed: builds, traces, warms caches
            model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0)
        times = {"dl": [], "keras": []}
        for _ in range(args.rounds):
            for label, model in (("dl", ours), ("keras", theirs)):
                time.sleep(args.settle)
                start = time.perf_counter()
                model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
                times[label].append(time.perf_counter() - start)
        ratios = [k / d for d, k in zip(times["dl"], times["keras"])]
        results[name] = {"dl_epoch_s": statistics.median(times["dl"]),
                         "keras_epoch_s": statistics.median(times["keras"]),
                         "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                         "ratio_max": max(ratios)}
        if not args.json:
            r = results[name]
            print(f"{name}: dl {r['dl_epoch_s']:.2f} s/epoch, keras {r['keras_epoch_s']:.2f} s/epoch, ratio "
                  f"{r['ratio_median']:.2f}x (spread {r['ratio_min']:.2f}-{r['ratio_max']:.2f}) "
                  f"[dl on {blas.backend()}, keras {keras.__version__}]", flush=True)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
