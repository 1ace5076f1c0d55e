"""Interleaved timing of dl against a peer in one process.

These machines drift by 1.5-2x within seconds, so two separate runs are never
compared: each round times dl then the peer back to back (A B A B ...), the
per-round speed ratio is recorded, and the median ratio is reported with the
min-max spread of the rounds.

Each block starts after an untimed pause (`settle`, 0.25 s by default): both
libraries' thread pools spin for a while after a call (OpenBLAS's for up to
~0.1 s), and a block that starts while the other library's threads still spin
is slowed by them (measured: PyTorch's CNN step 16 -> 24 ms). The pause lets
each block start from idle threads, as a user's program would.
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
            warmup: int = 5, settle: float = 0.25) -> dict:
    """Time `steps` calls of each, `rounds` times interleaved, each block after
    an untimed pause of `settle` seconds; ratios are peer_time / our_time."""
    for _ in range(warmup):
        ours()
        peer()
    ratios, ours_t, peer_t = [], [], []
    for _ in range(rounds):
        time.sleep(settle)
        a = time_steps(ours, steps)
        time.sleep(settle)
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
