"""CTC loss and decoding against PyTorch and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corelib
from corelib import losses
from corelib.ctc import character_error_rate, ctc_decode, ctc_loss
from corelib.errors import DataError
from corelib.kernels import ctc as _k

torch = pytest.importorskip("torch")


def _random_case(seed, B=8, T=15, C=6, L=7, blank=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((B, T, C)) * 2
    classes = [c for c in range(C) if c != blank]
    labels = rng.choice(classes, (B, L))
    labels[0, :4] = labels[0, 0]          # repeats need a blank between them
    label_len = rng.integers(0, L + 1, B)
    input_len = rng.integers(0, T + 1, B)
    label_len[1], input_len[1] = L, min(L - 2, T)  # impossible: too few steps
    label_len[2], input_len[2] = 0, 4     # empty label (B >= 4 keeps the full-length row below apart)
    input_len[-1] = T
    return z, labels, label_len, input_len


def _torch_ctc(z, labels, label_len, input_len, blank, zero_infinity, dtype=torch.float64):
    zt = torch.tensor(z, dtype=dtype, requires_grad=True)
    lp = torch.log_softmax(zt, -1).transpose(0, 1)
    loss = torch.nn.functional.ctc_loss(lp, torch.tensor(labels), torch.tensor(input_len), torch.tensor(label_len),
                                        blank=blank, reduction="none", zero_infinity=zero_infinity)
    loss.sum().backward()
    return loss.detach().numpy(), zt.grad.numpy()


@pytest.mark.parametrize("seed,blank", [(0, 0), (1, 5), (2, 2)])
def test_loss_and_gradient_match_torch_on_logits(seed, blank):
    z, labels, label_len, input_len = _random_case(seed, blank=blank)
    loss, grad = ctc_loss(z, labels, label_len, input_len, blank_index=blank, from_logits=True,
                          zero_infinity=True, return_grad=True)
    ref_loss, ref_grad = _torch_ctc(z, labels, label_len, input_len, blank, True)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)


def test_impossible_alignments_are_inf_without_zero_infinity():
    z, labels, label_len, input_len = _random_case(3)
    loss = ctc_loss(z, labels, label_len, input_len, from_logits=True)
    ref, _ = _torch_ctc(z, labels, label_len, input_len, 0, False)
    assert np.isinf(loss[1]) and np.isinf(ref[1])
    np.testing.assert_allclose(loss[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-9)


def test_float32_matches_torch():
    z, labels, label_len, input_len = _random_case(4)
    loss, grad = ctc_loss(z.astype(np.float32), labels, label_len, input_len, from_logits=True,
                          zero_infinity=True, return_grad=True)
    ref_loss, ref_grad = _torch_ctc(z, labels, label_len, input_len, 0, True)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-5)


def test_probability_inputs_give_the_true_gradient():
    """On probabilities the gradient is d loss / d p = -posterior / p (finite differences)."""
    z, labels, label_len, input_len = _random_case(5, B=3, T=6, C=4, L=2)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    loss, grad = ctc_loss(p, labels, label_len, input_len, zero_infinity=True, return_grad=True)
    ref_loss, _ = _torch_ctc(z, labels, label_len, input_len, 0, True)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9)
    eps = 1e-6
    numeric = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        d = np.zeros_like(p)
        d[i] = eps
        numeric[i] = (ctc_loss(p + d, labels, label_len, input_len, zero_infinity=True)[i[0]]
                      - ctc_loss(p - d, labels, label_len, input_len, zero_infinity=True)[i[0]]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_loss_class_uses_padded_labels_and_all_steps():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 8, 5))
    y_true = np.array([[1, 2, 2, -1], [4, -1, -1, -1], [3, 1, 4, 2]])
    loss = losses.get({"class_name": "CTC", "config": {"from_logits": True}})
    value, grad = loss.forward_backward(y_true, z)
    ref_loss, ref_grad = _torch_ctc(z, np.maximum(y_true, 0), np.array([3, 1, 4]), np.full(3, 8), 0, False)
    assert value == pytest.approx(ref_loss.mean(), rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad / 3, rtol=1e-9, atol=1e-12)
    w = np.array([1.0, 0.0, 2.0])
    value_w, _ = loss.forward_backward(y_true, z, sample_weight=w)
    assert value_w == pytest.approx((ref_loss * w).sum() / 3, rel=1e-12)


@pytest.mark.parametrize("reduction,denom", [("sum_over_batch_size", 3.0), ("sum", 1.0)])
def test_loss_class_weights_each_samples_gradient(reduction, denom):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3, 8, 5)).astype(np.float32)
    y_true = np.array([[1, 2, 2, -1], [4, -1, -1, -1], [3, 1, 4, 2]])
    loss = losses.get({"class_name": "CTC", "config": {"from_logits": True, "reduction": reduction}})
    ref_loss, ref_grad = _torch_ctc(z.astype(np.float64), np.maximum(y_true, 0), np.array([3, 1, 4]),
                                    np.full(3, 8), 0, False)
    w = np.array([0.5, 0.0, 2.0])
    value, grad = loss.forward_backward(y_true, z, sample_weight=w)
    assert grad.dtype == np.float32
    assert value == pytest.approx((ref_loss * w).sum() / denom, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad * w[:, None, None] / denom, rtol=1e-4, atol=1e-6)
    value, grad = loss.forward_backward(y_true, z)
    assert value == pytest.approx(ref_loss.sum() / denom, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad / denom, rtol=1e-4, atol=1e-6)


def test_loss_rejects_bad_targets():
    loss = losses.get("ctc")
    p = np.full((2, 4, 3), 1 / 3)
    with pytest.raises(DataError, match="labels first"):
        loss(np.array([[1, -1, 2], [1, 2, -1]]), p)
    with pytest.raises(DataError, match="not the blank"):
        loss(np.array([[1, 0], [1, 2]]), p)


def _paths_prob(lp, labelling, blank):
    """Brute force: the probability of `labelling` summed over all alignments."""
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(labelling):
            total += np.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return total


def test_loss_equals_brute_force_sum_over_alignments():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((1, 5, 3))
    lp = z[0] - np.log(np.exp(z[0]).sum(-1, keepdims=True))
    for labelling in ([1], [1, 1], [2, 1, 2], []):
        lab = np.array([labelling + [0] * (3 - len(labelling))])
        loss = ctc_loss(z, lab, [len(labelling)], from_logits=True)
        assert loss[0] == pytest.approx(-np.log(_paths_prob(lp, labelling, 0)), rel=1e-10)


def test_greedy_decode_merges_repeats_and_drops_blanks():
    best = np.array([[1, 1, 0, 1, 2, 2, 0, 0], [0, 0, 3, 3, 3, 0, 3, 1]])
    probs = np.full((2, 8, 4), 0.1)
    np.put_along_axis(probs, best[..., None], 0.7, axis=-1)
    decoded, scores = ctc_decode(probs)
    np.testing.assert_array_equal(decoded[:, :4], [[1, 1, 2, -1], [3, 3, 1, -1]])
    assert np.all(decoded[:, 4:] == -1)
    np.testing.assert_allclose(scores, -8 * np.log(0.7))
    short, _ = ctc_decode(probs, input_length=[3, 8])
    np.testing.assert_array_equal(short[0, :2], [1, -1])


def test_beam_search_finds_the_most_probable_labelling():
    """Where the best path is not the best labelling, beam search beats greedy."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        z = rng.standard_normal((1, 4, 3)) * 1.5
        lp = z[0] - np.log(np.exp(z[0]).sum(-1, keepdims=True))
        candidates = [list(s) for n in range(5) for s in itertools.product([1, 2], repeat=n)]
        probs = [_paths_prob(lp, c, 0) for c in candidates]
        best = candidates[int(np.argmax(probs))]
        decoded, scores = ctc_decode(z, greedy=False, beam_width=16, from_logits=True)
        assert decoded[0][decoded[0] >= 0].tolist() == best
        assert scores[0] == pytest.approx(np.log(max(probs)), rel=1e-9)


def test_character_error_rate():
    assert character_error_rate(np.array([[1, 2, 3, -1], [5, -1, -1, -1]]),
                                np.array([[1, 3, -1], [5, 6, 7]])) == pytest.approx(3 / 5)


def test_kernel_checks_arguments():
    x = np.zeros((2, 3, 4))
    out = np.empty(2)
    with pytest.raises(ValueError, match="input_lengths"):
        _k.ctc_loss(x, np.zeros((2, 1)), [0, 0], [4, 1], 0, "logits", False, out, None)
    with pytest.raises(ValueError, match="mode"):
        _k.ctc_loss(x, np.zeros((2, 1)), [0, 0], [3, 1], 0, "softmax", False, out, None)
    with pytest.raises(TypeError, match="dtype"):
        _k.ctc_loss(x, np.zeros((2, 1)), [0, 0], [3, 1], 0, "logits", False, np.empty(2, np.float32), None)


def test_ctc_checks_whole_target_arrays_before_training():
    from corelib import losses

    ctc = losses.get({"class_name": "CTC", "config": {"blank_index": 10}})
    ctc.check_targets(np.array([[1, 2, -1], [3, -1, -1]]), (None, 24, 11))
    with pytest.raises(corelib.DataError, match="other than the blank 10"):
        ctc.check_targets(np.array([[10, -1]]), (None, 24, 11))
    with pytest.raises(corelib.DataError, match="cannot be read from 2 time steps"):
        ctc.check_targets(np.array([[1, 2, 3]]), (None, 2, 11))
    with pytest.raises(corelib.ShapeError, match="timesteps, classes"):
        ctc.check_targets(np.array([[1]]), (None, 11))
