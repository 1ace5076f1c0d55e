"""Where a dl training step's time goes, kernel by kernel.

    OMP_NUM_THREADS=2 python benchmarks/profile_step.py [--model mlp|mlp_b32|mlp_b1024|cnn|cnn_b256] [--steps 300]

Every public function of every compiled kernel module is wrapped in a timer
(a few hundred nanoseconds each), the model trains `--steps` steps with
`train_on_batch`, and the table gives each kernel's microseconds per step,
its share of the step, and for the matrix-product kernels the GFLOP/s they
reached. "python and numpy" is the step's time outside the kernels: the
framework's bookkeeping plus NumPy calls such as zeroing the gradients.
The wrapped step is a few percent slower than a plain one.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _interleave import pin_threads  # noqa: E402
from bench_cnn import _dl_model  # noqa: E402

KERNEL_MODULES = ("activations", "batchnorm", "conv", "ctc", "dense", "global_pooling", "losses", "optim",
                  "optim_more", "pooling", "recurrent")

_spent: dict[str, float] = collections.defaultdict(float)
_flops: dict[str, float] = collections.defaultdict(float)


def _dense_flops(name: str, args: tuple) -> float:
    if name == "linear_forward":
        x, w = args[0], args[1]
        return 2.0 * x.shape[0] * x.shape[1] * w.shape[1]
    if name == "linear_backward":
        x, w, dy, dx, dw = args[:5]
        n, m, k = dy.shape[0], dy.shape[1], w.shape[0]
        return 2.0 * n * m * k * ((dx is not None) + (dw is not None))
    return 0.0


def _wrap(module_name: str, name: str, fn):
    key = f"{module_name}.{name}"

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _spent[key] += time.perf_counter() - start
            if module_name == "dense":
                _flops[key] += _dense_flops(name, args)

    return timed


def instrument() -> None:
    for module_name in KERNEL_MODULES:
        module = importlib.import_module(f"corelib.kernels.{module_name}")
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            fn = getattr(module, name, None)
            if callable(fn) and not isinstance(fn, type):
                setattr(module, name, _wrap(module_name, name, fn))


def build(model_name: str):
    import numpy as np

    import corelib
    from corelib import layers, losses, models, optimizers

    corelib.set_seed(0)
    rng = np.random.default_rng(0)
    if model_name.startswith("mlp"):
        batch = {"mlp": 128, "mlp_b32": 32, "mlp_b1024": 1024}[model_name]
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        y = rng.integers(0, 10, size=batch)
        model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                                   layers.Dense(512, activation="relu"), layers.Dense(10)])
    else:
        batch = 256 if model_name == "cnn_b256" else 64
        x = rng.standard_normal((batch, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, size=batch)
        return _dl_model("cnn"), x, y
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mlp", choices=["mlp", "mlp_b32", "mlp_b1024", "cnn", "cnn_b256"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pin_threads(args.threads)
    instrument()
    from corelib.kernels import blas

    model, x, y = build(args.model)
    for _ in range(20):
        model.train_on_batch(x, y)
    _spent.clear()
    _flops.clear()
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    total = (time.perf_counter() - start) / args.steps
    print(f"{args.model}: {total * 1e6:,.0f} us per step ({blas.backend()}, {args.threads} threads)")
    rows = sorted(_spent.items(), key=lambda kv: -kv[1])
    kernels = 0.0
    for key, spent in rows:
        per_step = spent / args.steps
        kernels += per_step
        rate = f"{_flops[key] / spent / 1e9:7.1f} GFLOP/s" if _flops.get(key) else ""
        print(f"  {key:36s} {per_step * 1e6:9.1f} us  {100 * per_step / total:5.1f}%  {rate}")
    print(f"  {'python and numpy':36s} {(total - kernels) * 1e6:9.1f} us  {100 * (total - kernels) / total:5.1f}%")


if __name__ == "__main__":
    main()
