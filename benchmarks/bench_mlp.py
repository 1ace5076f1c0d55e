"""A training step of dl against PyTorch on the CPU (float32, same thread count).

    OMP_NUM_THREADS=2 python benchmarks/bench_mlp.py [--threads 2] [--rounds 15]

Prints samples per second for both and the median of the per-round ratios
(>1 means dl is faster) with its min-max spread. Cases (issue 2):
  - MLP 784-512-512-10 at batch 128 (SGD, softmax cross-entropy): compute-bound;
    and the same at batch 32, 256, 512 and 1024 (issue 16).
  - MLP 64-32-10 at batch 32: per-step overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _interleave import compare, pin_threads  # noqa: E402


def build_pair(sizes: list[int], batch: int, seed: int = 0):
    import numpy as np
    import torch

    import corelib
    from corelib import layers, losses, models, optimizers

    corelib.set_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=batch)

    model = models.Sequential()
    model.add(layers.Dense(sizes[1], activation="relu", input_shape=(sizes[0],)))
    for units in sizes[2:-1]:
        model.add(layers.Dense(units, activation="relu"))
    model.add(layers.Dense(sizes[-1]))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))

    mods = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*mods, torch.nn.Linear(sizes[-2], sizes[-1]))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def dl_step():
        model.train_on_batch(x, y)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()

    return dl_step, torch_step


CASES = {
    "mlp_784_512_512_10_b128": ([784, 512, 512, 10], 128, 20),
    "mlp_784_512_512_10_b32": ([784, 512, 512, 10], 32, 60),
    "mlp_784_512_512_10_b256": ([784, 512, 512, 10], 256, 10),
    "mlp_784_512_512_10_b512": ([784, 512, 512, 10], 512, 5),
    "mlp_784_512_512_10_b1024": ([784, 512, 512, 10], 1024, 3),
    "mlp_64_32_10_b32": ([64, 32, 10], 32, 400),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--settle", type=float, default=0.25, help="untimed pause before each block (seconds)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)
    results = {}
    for name, (sizes, batch, steps) in CASES.items():
        ours, peer = build_pair(sizes, batch)
        r = compare(ours, peer, steps=steps, rounds=args.rounds, settle=args.settle)
        r["dl_samples_per_s"] = batch / r["ours_step_s"]
        r["torch_samples_per_s"] = batch / r["peer_step_s"]
        results[name] = r
        if not args.json:
            print(f"{name}: dl {r['dl_samples_per_s']:,.0f} samples/s, torch {r['torch_samples_per_s']:,.0f} "
                  f"samples/s, ratio {r['ratio_median']:.2f}x (spread {r['ratio_min']:.2f}-{r['ratio_max']:.2f})")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
