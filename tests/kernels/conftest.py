"""Fixtures for the kernel tests."""

import pytest

from corelib.kernels import activations, dense, losses, optim


@pytest.fixture
def threaded():
    """Thread every loop, however small, so that small test arrays reach the
    OpenMP code paths (by default only enormous loops are threaded)."""
    modules = (activations, dense, losses, optim)
    previous = [m._set_parallel_work(0) for m in modules]
    yield
    for m, work in zip(modules, previous):
        m._set_parallel_work(work)
