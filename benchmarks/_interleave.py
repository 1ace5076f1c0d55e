"""Interleaved timing of dl against a peer in one process.

These machines drift by 1.5-2x within seconds, so two separate runs are never
compared: each round times dl then the peer back to back (A B A B ...), the
per-round speed ratio is recorded, and the median ratio is reported with the
min-max spread of the rounds.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable


def pin_threads(n: int) -> None:
    """Use `n` threads in OpenMP, BLAS (through threadpoolctl) and PyTorch."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def time_steps(step: Callable[[], object], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def compare(ours: Callable[[], object], peer: Callable[[], object], *, steps: int, rounds: int,
            warmup: int = 5) -> dict:
    """Time `steps` calls of each, `rounds` times interleaved; ratios are peer_time / our_time."""
    for _ in range(warmup):
        ours()
        peer()
    ratios, ours_t, peer_t = [], [], []
    for _ in range(rounds):
        a = time_steps(ours, steps)
        b = time_steps(peer, steps)
        ours_t.append(a)
        peer_t.append(b)
        ratios.append(b / a)
    return {
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ours_step_s": statistics.median(ours_t) / steps,
        "peer_step_s": statistics.median(peer_t) / steps,
    }
