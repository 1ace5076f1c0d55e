"""The BLAS choice (corelib.kernels.blas) and the thread count: every kernel that multiplies
matrices gives the same results on SciPy's OpenBLAS and on MKL, a backend that cannot be
loaded falls back with a warning, and the thread count is settable."""

import os
import subprocess
import sys

import numpy as np
import pytest

import corelib
from corelib import layers, losses, models
from corelib.errors import ConfigError
from corelib.kernels import blas, conv, dense, optim, recurrent

BACKENDS = blas.available()
needs_mkl = pytest.mark.skipif("mkl" not in BACKENDS, reason="MKL is not installed (pip install 'dl[mkl]')")


@pytest.fixture
def restore_backend():
    before = blas.backend()
    yield
    blas.select(before)
    for module in (conv, dense, optim, recurrent):
        module._set_parallel_work(-1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_kernels_match_numpy_on_each_backend(backend, dtype, restore_backend):
    assert blas.select(backend) == backend
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((37, 53)).astype(dtype), rng.standard_normal((53, 29)).astype(dtype)
    b, dy = rng.standard_normal(29).astype(dtype), rng.standard_normal((37, 29)).astype(dtype)
    out = np.empty((37, 29), dtype)
    dense.linear_forward(x, w, b, out)
    dx, dw, db = np.empty_like(x), np.full_like(w, np.nan), np.full_like(b, np.nan)
    dense.linear_backward(x, w, dy, dx, dw, db, accumulate=False)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, x64 @ w64 + b, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, dy64 @ w64.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(dw, x64.T @ dy64, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, dy64.sum(0), rtol=tol, atol=tol)


def _conv_lstm_outputs_and_gradients():
    """Predictions and gradients, in float64, of a model whose every layer multiplies
    matrices in the kernels: Conv2D, an LSTM whose batch is sliced across threads, Dense."""
    corelib.set_floatx("float64")
    try:
        corelib.set_seed(3)
        model = models.Sequential([
            layers.Conv2D(6, 3, padding="same", activation="relu", input_shape=(12, 4, 2)),
            layers.Reshape((12, 24)),
            layers.LSTM(48, return_sequences=True),
            layers.GRU(40),
            layers.Dense(5)])
        model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(4)
        x, y = rng.standard_normal((64, 12, 4, 2)), rng.integers(0, 5, size=64)
        pred = model.predict(x, verbose=0)
        model.compute_gradients([x], [y])
        return pred, [p.grad.copy() for p in model.trainable_weights]
    finally:
        corelib.set_floatx("float32")


@needs_mkl
def test_convolution_and_recurrent_kernels_agree_across_backends(restore_backend):
    blas.select("openblas")
    pred_a, grads_a = _conv_lstm_outputs_and_gradients()
    blas.select("mkl")
    pred_b, grads_b = _conv_lstm_outputs_and_gradients()
    np.testing.assert_allclose(pred_b, pred_a, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


@needs_mkl
def test_parallel_loops_follow_the_backend(restore_backend):
    blas.select("openblas")
    optim._set_parallel_work(-1)
    assert optim._set_parallel_work(-1) == blas._PARALLEL_WORK["openblas"]
    blas.select("mkl")
    assert optim._set_parallel_work(-1) == blas._PARALLEL_WORK["mkl"]
    # a threshold the user chose is kept across a change of backend
    optim._set_parallel_work(12345)
    blas.select("openblas")
    assert optim._set_parallel_work(-1) == 12345


def test_select_refuses_an_unknown_backend():
    with pytest.raises(ValueError, match="one of auto, mkl, openblas. Received: 'atlas'"):
        blas.select("atlas")


def _in_subprocess(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_an_mkl_that_cannot_be_loaded_warns_and_keeps_openblas(tmp_path):
    code = "from corelib.kernels import dense, blas; print(blas.backend(), dense._set_parallel_work())"
    result = _in_subprocess(code, DL_BLAS="mkl", DL_MKL_LIBRARY=str(tmp_path / "libmkl_rt.so.3"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["openblas", str(blas._PARALLEL_WORK["openblas"])]
    assert "DL_BLAS=mkl but MKL cannot be loaded" in result.stderr and "using OpenBLAS" in result.stderr


def test_an_unknown_dl_blas_warns_and_chooses_automatically():
    result = _in_subprocess("from corelib.kernels import dense, blas; print(blas.backend())", DL_BLAS="atlas")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == BACKENDS[-1]  # mkl where it is installed
    assert "DL_BLAS must be one of auto, mkl, openblas, not 'atlas'; using auto" in result.stderr


def test_dl_blas_openblas_is_honoured_at_import():
    result = _in_subprocess("from corelib.kernels import conv, blas; print(blas.backend())", DL_BLAS="openblas")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "openblas"


def test_set_num_threads_sets_the_kernels_thread_count():
    code = ("import corelib.config as c; c.set_num_threads(1); a = c.get_num_threads(); "
            "c.set_num_threads(3); print(a, c.get_num_threads())")
    result = _in_subprocess(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "3"]


@pytest.mark.parametrize("n", [0, -2, 1.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_int(n):
    with pytest.raises(ConfigError, match="set_num_threads expects a positive int"):
        corelib.config.set_num_threads(n)


def test_the_spin_count_default_is_set_only_when_the_environment_has_none():
    code = "import os, corelib.kernels.dense; print(os.environ['GOMP_SPINCOUNT'])"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    unset = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert unset.stdout.strip() == "30000", unset.stderr
    assert _in_subprocess(code, GOMP_SPINCOUNT="5").stdout.strip() == "5"
