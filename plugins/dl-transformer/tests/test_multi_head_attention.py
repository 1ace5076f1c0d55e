"""MultiHeadAttention: the conformance kit, and forward/backward against torch.nn.MultiheadAttention."""

import numpy as np
import pytest

from corelib import ConfigError, ShapeError, models
from corelib.testing import check_layer
from dl_transformer import MultiHeadAttention


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 4), {"num_heads": 2, "key_dim": 3}),  # self-attention on one tensor
        ([(2, 3, 4), (2, 5, 6)], {"num_heads": 2, "key_dim": 3, "value_dim": 2, "output_shape": 7,
                                  "bias_initializer": "random_normal"}),
        ([(2, 3, 4), (2, 5, 6), (2, 5, 3)], {"num_heads": 3, "key_dim": 2, "dropout": 0.3, "use_bias": False}),
        ((2, 2, 3, 4), {"num_heads": 2, "key_dim": 2, "kernel_regularizer": "l2"}),  # attends over both axes
    ],
)
def test_conformance(shape, kwargs):
    check_layer(MultiHeadAttention, shape, **kwargs)


def _torch_pair(torch, embed, heads, kdim, vdim, rng):
    """Our layer and torch's with the same weights (float64)."""
    head = embed // heads
    layer = MultiHeadAttention(heads, head, dtype="float64")
    layer.ensure_built([(None, 1, embed), (None, 1, vdim), (None, 1, kdim)])
    weights = [rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    ref = torch.nn.MultiheadAttention(embed, heads, kdim=kdim, vdim=vdim, batch_first=True, dtype=torch.float64)
    t = torch.from_numpy
    with torch.no_grad():
        projections = [wq.reshape(embed, embed).T, wk.reshape(kdim, embed).T, wv.reshape(vdim, embed).T]
        if ref._qkv_same_embed_dim:
            ref.in_proj_weight.copy_(t(np.concatenate(projections)))
        else:
            ref.q_proj_weight.copy_(t(projections[0]))
            ref.k_proj_weight.copy_(t(projections[1]))
            ref.v_proj_weight.copy_(t(projections[2]))
        ref.in_proj_bias.copy_(t(np.concatenate([bq.ravel(), bk.ravel(), bv.ravel()])))
        ref.out_proj.weight.copy_(t(wo.reshape(embed, embed).T))
        ref.out_proj.bias.copy_(t(bo))
    return layer, ref


def test_cross_attention_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    embed, heads, kdim, vdim = 8, 2, 5, 6
    layer, ref = _torch_pair(torch, embed, heads, kdim, vdim, rng)
    query, value, key = rng.standard_normal((3, 4, embed)), rng.standard_normal((3, 7, vdim)), rng.standard_normal((3, 7, kdim))
    dy = rng.standard_normal((3, 4, embed))
    y, backprop = layer.forward([query, value, key], training=True)
    dquery, dvalue, dkey = backprop(dy)

    q, k, v = (torch.from_numpy(a).requires_grad_(True) for a in (query, key, value))
    out, _ = ref(q, k, v, need_weights=False)
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((dquery, q), (dvalue, v), (dkey, k)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    grads = {p.name: p.grad for p in layer.weights}
    np.testing.assert_allclose(grads["query_kernel"].reshape(embed, embed), ref.q_proj_weight.grad.numpy().T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["key_kernel"].reshape(kdim, embed), ref.k_proj_weight.grad.numpy().T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["value_kernel"].reshape(vdim, embed), ref.v_proj_weight.grad.numpy().T, rtol=1e-9, atol=1e-12)
    bias = np.concatenate([grads[f"{n}_bias"].ravel() for n in ("query", "key", "value")])
    np.testing.assert_allclose(bias, ref.in_proj_bias.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["output_kernel"].reshape(embed, embed), ref.out_proj.weight.grad.numpy().T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["output_bias"], ref.out_proj.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_self_attention_on_one_tensor_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    layer, ref = _torch_pair(torch, 12, 3, 12, 12, rng)
    x, dy = rng.standard_normal((2, 5, 12)), rng.standard_normal((2, 5, 12))
    y, backprop = layer.forward(x, training=True)
    dx = backprop(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    out, _ = ref(xt, xt, xt, need_weights=False)
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    packed = np.concatenate([p.grad.reshape(12, 12).T for p in layer.weights[0:6:2]])
    np.testing.assert_allclose(packed, ref.in_proj_weight.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_float32_agrees_with_torch_and_works_in_a_sequential():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    layer64, ref = _torch_pair(torch, 8, 4, 8, 8, rng)
    model = models.Sequential([MultiHeadAttention(4, 2, input_shape=(6, 8))])
    model.layers[0].set_weights([w.astype(np.float32) for w in layer64.get_weights()])
    x = rng.standard_normal((5, 6, 8)).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.dtype == np.float32 and y.shape == (5, 6, 8)
    xt = torch.from_numpy(x.astype(np.float64))
    expected = ref(xt, xt, xt, need_weights=False)[0].detach().numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_dropout_on_the_attention_probabilities_only_while_training():
    x = np.random.default_rng(3).standard_normal((2, 5, 4))
    layer = MultiHeadAttention(2, 2, dropout=0.5)
    assert np.array_equal(layer(x), layer(x))  # inference: deterministic
    assert not np.allclose(layer(x, training=True), layer(x))


def test_bad_arguments_and_shapes_are_refused():
    with pytest.raises(ConfigError, match=r"num_heads must be a positive int\. Received: num_heads=0"):
        MultiHeadAttention(0, 4)
    with pytest.raises(ConfigError, match=r"only attention_axes=None .* Received: attention_axes=\(1,\)"):
        MultiHeadAttention(2, 4, attention_axes=(1,))
    with pytest.raises(ConfigError, match=r"output_shape must be an int or a 1-tuple"):
        MultiHeadAttention(2, 4, output_shape=(3, 4))
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)\. Received: dropout=1\.0"):
        MultiHeadAttention(2, 4, dropout=1.0)
    layer = MultiHeadAttention(2, 4)
    with pytest.raises(ShapeError, match=r"key and value must have the same steps; received value shape \(None, 5, 3\)"):
        layer.compute_output_shape([(None, 4, 3), (None, 5, 3), (None, 6, 3)])
    with pytest.raises(ShapeError, match=r"expects query of rank >= 3"):
        layer.compute_output_shape((None, 8))
    with pytest.raises(ShapeError, match=r"takes \[query, value\], \[query, value, key\] or \[query, value, key, "
                                         r"attention_mask\]; received 5 inputs"):
        layer.compute_output_shape([(None, 2, 3)] * 5)
    assert layer.compute_output_shape([(None, 4, 3), (None, 6, 5)]) == (None, 4, 3)
