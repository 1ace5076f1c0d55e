"""corelib.kernels.ctc: the rescaled probability-space recursions against the
log-space ones (which tests/test_ctc.py checks against torch), on ordinary
inputs and on inputs that underflow in probability space."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corelib.kernels import ctc

from ._helpers import DTYPES, layout

MODES = ("logits", "log_probs", "probs")


def _inputs(z, mode):
    """z (logits) as the kernel's `mode` expects them."""
    lp = z - z.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    return {"logits": z, "log_probs": lp, "probs": np.exp(lp)}[mode].astype(z.dtype)


def _run(x, labels, label_len, input_len, mode, blank=0, zero_infinity=False, grad=True, log_space=False):
    loss = np.empty(x.shape[0], x.dtype)
    g = np.empty(x.shape, x.dtype) if grad else None
    previous = ctc._set_log_space_only(log_space)
    try:
        ctc.ctc_loss(x, labels, label_len, input_len, blank, mode, zero_infinity, loss, g)
    finally:
        ctc._set_log_space_only(previous)
    return loss, g


def _assert_same_as_log_space(x, labels, label_len, input_len, mode, blank=0, zero_infinity=False, rtol=1e-12):
    loss, grad = _run(x, labels, label_len, input_len, mode, blank, zero_infinity)
    ref_loss, ref_grad = _run(x, labels, label_len, input_len, mode, blank, zero_infinity, log_space=True)
    # a loss near 0 (p(labels) near 1) is exact only to absolute rounding
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol, atol=1e-13)
    scale = np.abs(ref_grad).max(initial=1.0)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale)
    only_loss, _ = _run(x, labels, label_len, input_len, mode, blank, zero_infinity, grad=False)
    np.testing.assert_array_equal(only_loss, loss)


def _case(seed, B=12, T=20, C=7, L=8, blank=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((B, T, C)) * 2
    classes = [c for c in range(C) if c != blank]
    labels = rng.choice(classes, (B, L))
    labels[0, :5] = labels[0, 0]                      # a run of repeats
    labels[1, 1::2] = labels[1, 0::2]                 # pairs of repeats
    label_len = rng.integers(0, L + 1, B)
    input_len = rng.integers(0, T + 1, B)
    label_len[:2] = L
    input_len[0], input_len[1] = L + 4, L + L // 2     # exactly enough steps for the repeats
    label_len[2], input_len[2] = L, L - 1              # impossible
    label_len[3], input_len[3] = 0, T                  # empty label
    input_len[4] = 0                                   # no steps
    label_len[5], input_len[5] = 1, 1
    return z, labels, label_len, input_len


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed,blank", [(0, 0), (1, 6), (2, 3)])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_rescaled_recursions_match_log_space(mode, seed, blank, zero_infinity):
    z, labels, label_len, input_len = _case(seed, blank=blank)
    _assert_same_as_log_space(_inputs(z, mode), labels, label_len, input_len, mode, blank, zero_infinity)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["strided", "rows", "fortran"])
def test_non_contiguous_inputs_give_the_contiguous_results(dtype, kind):
    z, labels, label_len, input_len = _case(3)
    x = z.astype(dtype)
    loss, grad = _run(x, labels, label_len, input_len, "logits")
    loss2, grad2 = _run(layout(x, kind), labels, label_len, input_len, "logits")
    np.testing.assert_array_equal(loss2, loss)
    np.testing.assert_array_equal(grad2, grad)


@pytest.mark.parametrize("mode", MODES)
def test_float32_agrees_with_float64(mode):
    z, labels, label_len, input_len = _case(4)
    loss64, grad64 = _run(_inputs(z, mode), labels, label_len, input_len, mode, zero_infinity=True)
    loss32, grad32 = _run(_inputs(z.astype(np.float32), mode), labels, label_len, input_len, mode,
                          zero_infinity=True)
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5, atol=1e-5)
    scale = 1.0 if mode != "probs" else np.abs(grad64).max()
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-5 * scale)


def test_threaded_batch_gives_the_serial_results():
    z, labels, label_len, input_len = _case(5, B=16)
    loss, grad = _run(z, labels, label_len, input_len, "logits")
    previous = ctc._set_parallel_work(0)
    try:
        loss2, grad2 = _run(z, labels, label_len, input_len, "logits")
    finally:
        ctc._set_parallel_work(previous)
    np.testing.assert_array_equal(loss2, loss)
    np.testing.assert_array_equal(grad2, grad)


@pytest.mark.parametrize("mode", MODES)
def test_emissions_far_below_the_best_class_fall_back_to_log_space(mode):
    """Logits ~1e3 apart: probabilities like e^-2000 underflow in double, yet
    the loss is finite; the kernel must notice and use log space."""
    z, labels, label_len, input_len = _case(6)
    big = z * 500
    loss, _ = _run(_inputs(big, "logits"), labels, label_len, input_len, "logits", zero_infinity=True)
    assert np.all(np.isfinite(loss)) and loss.max() > 1e3
    _assert_same_as_log_space(_inputs(big, mode), labels, label_len, input_len, mode, zero_infinity=True)


def test_confident_blank_probabilities_keep_a_finite_loss():
    """A softmax output that gives the labels probability 0 (clipped to 1e-37):
    ten labels make alignments ~1e-370 apart, below double's range."""
    B, T, C, L = 3, 30, 12, 10
    p = np.zeros((B, T, C))
    p[..., 0] = 1.0
    labels = np.tile(np.arange(1, L + 1), (B, 1))
    _assert_same_as_log_space(p, labels, [L, L, 5], [T, T, T], "probs")
    loss, grad = _run(p, labels, [L, L, 5], [T, T, T], "probs")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


def test_minus_infinity_log_probabilities_fall_back_to_log_space():
    z, labels, label_len, input_len = _case(7)
    lp = _inputs(z, "log_probs")
    lp[:, ::3, 2] = -np.inf
    _assert_same_as_log_space(lp, labels, label_len, input_len, "log_probs", zero_infinity=True)


def test_long_sequences_keep_full_precision():
    """T=2000: the per-step rescaling keeps the loss (~1e4) exact to rounding."""
    rng = np.random.default_rng(8)
    z = rng.standard_normal((2, 2000, 30)) * 2
    labels = rng.integers(1, 30, (2, 200))
    _assert_same_as_log_space(z, labels, [200, 150], [2000, 1700], "logits", rtol=1e-11)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("log_space", [False, True])
def test_grad_scale_multiplies_each_samples_gradient(mode, log_space):
    z, labels, label_len, input_len = _case(9)
    z[-1] *= 500  # one sample in log space whatever the setting
    x = _inputs(z, mode)
    scale = np.linspace(-1.0, 2.0, x.shape[0])
    loss, grad = _run(x, labels, label_len, input_len, mode, zero_infinity=True, log_space=log_space)
    loss2 = np.empty_like(loss)
    grad2 = np.empty_like(grad)
    previous = ctc._set_log_space_only(log_space)
    try:
        ctc.ctc_loss(x, labels, label_len, input_len, 0, mode, True, loss2, grad2, scale)
    finally:
        ctc._set_log_space_only(previous)
    np.testing.assert_array_equal(loss2, loss)
    np.testing.assert_allclose(grad2, grad * scale[:, None, None], rtol=1e-14, atol=1e-300)


def test_grad_scale_must_have_one_factor_per_sample():
    z, labels, label_len, input_len = _case(9)
    with pytest.raises(ValueError, match="grad_scale"):
        ctc.ctc_loss(z, labels, label_len, input_len, 0, "logits", True, np.empty(len(z)), np.empty(z.shape),
                     np.ones(3))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 12), C=st.integers(2, 5), L=st.integers(0, 6),
       scale=st.sampled_from([0.1, 3.0, 40.0]))
def test_random_shapes_match_log_space(seed, T, C, L, scale):
    rng = np.random.default_rng(seed)
    B, blank = 4, int(rng.integers(0, C))
    z = rng.standard_normal((B, T, C)) * scale
    classes = [c for c in range(C) if c != blank]
    labels = rng.choice(classes, (B, L)) if L else np.zeros((B, 0), np.int64)
    label_len = rng.integers(0, L + 1, B)
    input_len = rng.integers(0, T + 1, B)
    _assert_same_as_log_space(z, labels, label_len, input_len, "logits", blank, zero_infinity=False, rtol=1e-10)
