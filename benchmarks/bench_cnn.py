"""A convolutional training step of dl against PyTorch on the CPU (float32, same thread count).

    OMP_NUM_THREADS=2 python benchmarks/bench_cnn.py [--threads 2] [--rounds 15] [--profile]

Prints samples per second for both and the median of the per-round ratios
(>1 means dl is faster) with its min-max spread; dl and PyTorch run
interleaved in one process (see _interleave.py). Cases (issue 3), SGD with
softmax cross-entropy from logits:
  - cnn_28x28_b64 vs torch channels_last and vs torch NCHW (its default):
    Conv2D 32 3x3 relu -> MaxPool 2 -> Conv2D 64 3x3 relu -> MaxPool 2 ->
    Flatten -> Dense 128 relu -> Dense 10, on 28x28x1 images, batch 64.
  - conv1d_100x16_b64: Conv1D 64 kernel 5 relu -> GlobalAveragePooling1D ->
    Dense 10, on sequences of 100 steps x 16 channels, batch 64.
--profile adds, per case, where dl's step time goes: each layer's forward and
backward, the loss and the optimizer, timed over the same steps.

--settle S is the untimed pause before each block (see _interleave.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _interleave import compare, pin_threads  # noqa: E402


def _dl_model(kind: str):
    from corelib import layers, losses, models, optimizers

    model = models.Sequential()
    if kind == "cnn":
        model.add(layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)))
        model.add(layers.MaxPooling2D(2))
        model.add(layers.Conv2D(64, 3, activation="relu"))
        model.add(layers.MaxPooling2D(2))
        model.add(layers.Flatten())
        model.add(layers.Dense(128, activation="relu"))
        model.add(layers.Dense(10))
    else:
        model.add(layers.Conv1D(64, 5, activation="relu", input_shape=(100, 16)))
        model.add(layers.GlobalAveragePooling1D())
        model.add(layers.Dense(10))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _torch_model(kind: str):
    from torch import nn

    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv1d(16, 64, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 10))


def build_pair(kind: str, batch: int, torch_format: str, seed: int = 0):
    """dl's and PyTorch's training-step closures for the same model and batch."""
    import numpy as np
    import torch

    import corelib

    corelib.set_seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shape = (batch, 28, 28, 1) if kind == "cnn" else (batch, 100, 16)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, size=batch)
    model = _dl_model(kind)

    net = _torch_model(kind)
    tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))  # NCHW / NCW
    if torch_format == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        tx = tx.contiguous(memory_format=torch.channels_last)
    ty = torch.from_numpy(y)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def dl_step():
        model.train_on_batch(x, y)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()

    return dl_step, torch_step, model, x, y


def profile_step(model, x, y, steps: int) -> dict:
    """Milliseconds per step in each layer's forward and backward, the loss
    and the optimizer (the training loop's own work, done by hand here)."""
    import numpy as np

    layers = model.layers
    names = [f"{l.name} ({type(l).__name__})" for l in layers]
    fwd, bwd = np.zeros(len(layers)), np.zeros(len(layers))
    loss_t = opt_t = 0.0
    params = model.trainable_weights
    for _ in range(steps):
        for p in model.weights:
            p.grad.fill(0)
        h, backprops = x, []
        for i, layer in enumerate(layers):
            t = time.perf_counter()
            h, bp = layer.forward(h, True)
            fwd[i] += time.perf_counter() - t
            backprops.append(bp)
        t = time.perf_counter()
        _, dy = model.loss.forward_backward(y, h, None)
        loss_t += time.perf_counter() - t
        for i in range(len(layers) - 1, -1, -1):
            t = time.perf_counter()
            dy = backprops[i](dy, need_input_grad=i > 0)
            bwd[i] += time.perf_counter() - t
        t = time.perf_counter()
        model.optimizer.apply(params)
        opt_t += time.perf_counter() - t
    scale = 1e3 / steps
    out = {f"{n} forward": f * scale for n, f in zip(names, fwd)}
    out.update({f"{n} backward": b * scale for n, b in zip(names, bwd)})
    out["loss"], out["optimizer"] = loss_t * scale, opt_t * scale
    return out


CASES = {
    # name: (model kind, batch, torch memory format, steps per round)
    "cnn_28x28_b64_vs_channels_last": ("cnn", 64, "channels_last", 10),
    "cnn_28x28_b8_vs_channels_last": ("cnn", 8, "channels_last", 60),
    "cnn_28x28_b256_vs_channels_last": ("cnn", 256, "channels_last", 3),
    "cnn_28x28_b64_vs_nchw": ("cnn", 64, "nchw", 10),
    "conv1d_100x16_b64": ("conv1d", 64, "nchw", 40),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="also print where dl's step time goes")
    parser.add_argument("--settle", type=float, default=0.25, help="untimed pause before each block (seconds)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)
    results = {}
    for name, (kind, batch, fmt, steps) in CASES.items():
        if args.only not in name:
            continue
        ours, peer, model, x, y = build_pair(kind, batch, fmt)
        r = compare(ours, peer, steps=steps, rounds=args.rounds, settle=args.settle)
        r["dl_samples_per_s"] = batch / r["ours_step_s"]
        r["torch_samples_per_s"] = batch / r["peer_step_s"]
        if args.profile and (fmt != "nchw" or kind == "conv1d"):
            r["profile_ms"] = profile_step(model, x, y, steps * 5)
        results[name] = r
        if not args.json:
            print(f"{name}: dl {r['dl_samples_per_s']:,.0f} samples/s, torch {r['torch_samples_per_s']:,.0f} "
                  f"samples/s, ratio {r['ratio_median']:.2f}x (spread {r['ratio_min']:.2f}-{r['ratio_max']:.2f})")
            if "profile_ms" in r:
                total = sum(r["profile_ms"].values())
                print(f"  profile (dl, {total:.2f} ms per step):")
                for part, ms in sorted(r["profile_ms"].items(), key=lambda kv: -kv[1]):
                    print(f"    {part:<40} {ms:7.3f} ms  {100 * ms / total:5.1f}%")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
