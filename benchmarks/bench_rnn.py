"""Recurrent layers and CTC of dl against PyTorch on the CPU (float32, same thread count).

    OMP_NUM_THREADS=2 python benchmarks/bench_rnn.py [--threads 2] [--rounds 15]

Prints the median of the per-round speed ratios (>1 means dl is faster) with
its min-max spread, dl and torch interleaved in one process. Cases (issue 4):
  - a training step of LSTM(128) -> Dense(10) at batch 64, 50 steps of 32
    features (Adam, softmax cross-entropy), and the same with GRU(128);
  - the CTC loss forward and backward alone: T=50, batch 32, 20 classes +
    blank, label length 10 (logits in, gradient w.r.t. the logits out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _interleave import compare, pin_threads  # noqa: E402

BATCH, STEPS, FEATURES, UNITS, CLASSES = 64, 50, 32, 128, 10


def build_rnn_pair(kind: str, seed: int = 0):
    import numpy as np
    import torch

    import corelib
    from corelib import layers, losses, models, optimizers

    corelib.set_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=BATCH)
    model = models.Sequential()
    model.add(getattr(layers, kind)(UNITS, input_shape=(STEPS, FEATURES)))
    model.add(layers.Dense(CLASSES))
    model.compile(optimizer=optimizers.Adam(), loss=losses.SparseCategoricalCrossentropy(from_logits=True))

    rnn = getattr(torch.nn, kind)(FEATURES, UNITS, batch_first=True)
    head = torch.nn.Linear(UNITS, CLASSES)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def dl_step():
        model.train_on_batch(x, y)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(tx)
        loss = torch.nn.functional.cross_entropy(head(out[:, -1]), ty)
        loss.backward()
        opt.step()

    return dl_step, torch_step


def build_ctc_pair(seed: int = 0):
    import numpy as np
    import torch

    from corelib import losses

    T, B, C, L = 50, 32, 21, 10
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((B, T, C)).astype(np.float32)
    labels = rng.integers(1, C, (B, L))
    loss = losses.get({"class_name": "CTC", "config": {"from_logits": True}})
    zt = torch.tensor(z.transpose(1, 0, 2).copy(), requires_grad=True)  # torch's (T, B, C)
    lt, il, ll = torch.tensor(labels), torch.full((B,), T), torch.full((B,), L)

    def dl_step():
        loss.forward_backward(labels, z)

    def torch_step():
        zt.grad = None
        value = torch.nn.functional.ctc_loss(torch.log_softmax(zt, -1), lt, il, ll, reduction="mean")
        value.backward()

    return dl_step, torch_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--settle", type=float, default=0.25, help="untimed pause before each block (seconds)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this (lstm, gru, ctc)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)
    cases = {
        "lstm128_dense10_b64_t50": (lambda: build_rnn_pair("LSTM"), 5),
        "gru128_dense10_b64_t50": (lambda: build_rnn_pair("GRU"), 5),
        "ctc_t50_b32_c21_l10": (build_ctc_pair, 50),
    }
    results = {}
    for name, (build, steps) in cases.items():
        if args.only not in name:
            continue
        ours, peer = build()
        r = compare(ours, peer, steps=steps, rounds=args.rounds, settle=args.settle)
        results[name] = r
        if not args.json:
            print(f"{name}: dl {r['ours_step_s'] * 1e3:.2f} ms/step, torch {r['peer_step_s'] * 1e3:.2f} ms/step, "
                  f"ratio {r['ratio_median']:.2f}x (spread {r['ratio_min']:.2f}-{r['ratio_max']:.2f})")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
