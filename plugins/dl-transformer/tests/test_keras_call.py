"""MultiHeadAttention called as in Keras: mha(query, value, key=None, ..., attention_mask=None,
return_attention_scores=False, training=None, use_causal_mask=False), on arrays and in
functional models, against torch.nn.MultiheadAttention.

Regression: ``mha(q, v)`` used to take `v` as the base layer's `training` flag and attend
q to itself."""

import numpy as np
import pytest

from corelib import ConfigError, ShapeError, models
from corelib.layers import Input
from corelib.testing import check_layer
from dl_transformer import MultiHeadAttention

torch = pytest.importorskip("torch")


def _pair(embed=8, heads=2, kdim=5, vdim=6, seed=0):
    """Our layer (float64) and torch's with the same weights."""
    rng = np.random.default_rng(seed)
    layer = MultiHeadAttention(heads, embed // heads, dtype="float64")
    layer.ensure_built([(None, None, embed), (None, None, vdim), (None, None, kdim)])
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


def _torch_attend(ref, query, value, key, **kwargs):
    return ref(*(torch.from_numpy(a) for a in (query, key, value)), **kwargs)


def test_query_attends_to_value_when_called_with_two_tensors():
    rng = np.random.default_rng(1)
    layer, ref = _pair(embed=8, kdim=8, vdim=8)  # key defaults to value: same features
    query, value = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 7, 8))
    y = layer(query, value)
    expected = _torch_attend(ref, query, value, value, need_weights=False)[0].detach().numpy()
    assert y.shape == (3, 4, 8)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer([query, value]), y, rtol=0, atol=0)  # the list form agrees
    same_len = rng.standard_normal((3, 4, 8))  # the old bug: q attended to itself, ignoring value
    assert not np.allclose(layer(query, same_len), layer(query))


def test_key_is_the_third_argument():
    rng = np.random.default_rng(2)
    layer, ref = _pair()
    query, value, key = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 6, 6)), rng.standard_normal((2, 6, 5))
    expected = _torch_attend(ref, query, value, key, need_weights=False)[0].detach().numpy()
    np.testing.assert_allclose(layer(query, value, key), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer(query, value=value, key=key), expected, rtol=1e-10, atol=1e-12)


def test_training_must_be_a_bool_never_a_misplaced_tensor():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    layer = MultiHeadAttention(2, 2, dropout=0.5)
    with pytest.raises(ConfigError, match=r"value must be a tensor .*pass training as a keyword.*Received: value=True"):
        layer(x, True)  # the base layer's old positional training flag
    with pytest.raises(ConfigError, match=r"value must be a tensor .*Received: value=1"):
        layer(x, 1)
    with pytest.raises(ConfigError, match=r"training must be True or False\. Received: training='yes'"):
        layer(x, x, None, None, None, None, None, False, "yes")  # Keras's ninth positional argument
    with pytest.raises(ConfigError, match=r"training must be True or False"):
        layer(x, x, training=x)
    assert np.array_equal(layer(x, x, training=False), layer(x, x))  # None: inference
    assert not np.allclose(layer(x, x, training=True), layer(x, x))


def test_attention_mask_matches_torch_forward_and_backward():
    rng = np.random.default_rng(4)
    layer, ref = _pair()
    query, value, key = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 5))
    mask = rng.random((2, 4, 5)) > 0.4
    mask[:, :, 0] = True  # every query sees at least one key
    dy = rng.standard_normal((2, 4, 8))
    for p in layer.weights:
        p.grad[...] = 0
    y, backprop = layer.forward([query, value, key, mask.astype(np.float64)], True)
    dquery, dvalue, dkey, dmask = backprop(dy)
    assert not dmask.any()
    np.testing.assert_allclose(layer(query, value, key, attention_mask=mask), y, rtol=0, atol=0)

    tq, tk, tv = (torch.from_numpy(a).requires_grad_(True) for a in (query, key, value))
    # torch's boolean attn_mask marks what may NOT be attended, one per (batch * head)
    blocked = torch.from_numpy(~mask).repeat_interleave(2, dim=0)
    out, _ = ref(tq, tk, tv, attn_mask=blocked, need_weights=False)
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((dquery, tq), (dvalue, tv), (dkey, tk)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    grads = {p.name: p.grad for p in layer.weights}
    np.testing.assert_allclose(grads["query_kernel"].reshape(8, 8), ref.q_proj_weight.grad.numpy().T, rtol=1e-9,
                               atol=1e-12)


def test_causal_mask_matches_torch_forward_and_backward():
    rng = np.random.default_rng(5)
    layer, ref = _pair(embed=8, kdim=8, vdim=8)
    x, dy = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 5, 8))
    y = layer(x, x, use_causal_mask=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    out, _ = ref(xt, xt, xt, attn_mask=causal, is_causal=True, need_weights=False)
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    y1 = layer(x[:, :3], x[:, :3], use_causal_mask=True)  # no position sees the future
    np.testing.assert_allclose(y1, y[:, :3], rtol=1e-10, atol=1e-12)

    inp = Input((5, 8), dtype="float64")
    model = models.Model(inp, layer(inp, inp, use_causal_mask=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), y, rtol=1e-12, atol=1e-12)
    outputs, backprop = model.plan.forward([x], True)
    for p in layer.weights:
        p.grad[...] = 0
    (dx,) = backprop([dy], need_input_grad=True)
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_token_masks_fold_into_the_attention_mask_as_keras_does():
    rng = np.random.default_rng(6)
    layer = MultiHeadAttention(2, 3)
    query, value = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 6, 5))
    query_mask, value_mask = rng.random((2, 4)) > 0.3, rng.random((2, 6)) > 0.3
    value_mask[:, 0] = True
    attention_mask = rng.random((2, 4, 6)) > 0.2
    attention_mask[:, :, 0] = True
    folded = attention_mask & query_mask[:, :, None] & value_mask[:, None, :]
    np.testing.assert_allclose(
        layer(query, value, query_mask=query_mask, value_mask=value_mask, attention_mask=attention_mask),
        layer(query, value, attention_mask=folded), rtol=0, atol=0)
    np.testing.assert_allclose(layer(query, value, key_mask=value_mask),
                               layer(query, value, attention_mask=np.broadcast_to(value_mask[:, None], (2, 4, 6))),
                               rtol=0, atol=0)
    with pytest.raises(ShapeError, match=r"value_mask must have shape \(batch, 6\); received shape \(2, 5\)"):
        layer(query, value, value_mask=np.ones((2, 5)))


def test_return_attention_scores_matches_torch_weights_and_their_gradient():
    rng = np.random.default_rng(7)
    layer, ref = _pair()
    query, value, key = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 4, 5))
    y, scores = layer(query, value, key, return_attention_scores=True)
    out, weights = _torch_attend(ref, query, value, key, need_weights=True, average_attn_weights=False)
    assert scores.shape == (2, 2, 3, 4)
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores, weights.detach().numpy(), rtol=1e-10, atol=1e-12)

    # both outputs in a functional model, and a gradient reaching the scores directly
    inputs = [Input((3, 8), dtype="float64"), Input((4, 6), dtype="float64"), Input((4, 5), dtype="float64")]
    outs = layer(*inputs, return_attention_scores=True)
    assert isinstance(outs, tuple) and outs[1].shape == (None, 2, 3, 4)
    model = models.Model(inputs, list(outs))
    (y_model, s_model), backprop = model.plan.forward([query, value, key], True)
    np.testing.assert_allclose(s_model, scores, rtol=1e-12, atol=1e-12)
    dy, ds = rng.standard_normal(y.shape), rng.standard_normal(scores.shape)
    dquery, _, _ = backprop([dy, ds], need_input_grad=True)
    tq, tk, tv = (torch.from_numpy(a).requires_grad_(True) for a in (query, key, value))
    out, weights = ref(tq, tk, tv, need_weights=True, average_attn_weights=False)
    ((out * torch.from_numpy(dy)).sum() + (weights * torch.from_numpy(ds)).sum()).backward()
    np.testing.assert_allclose(dquery, tq.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_functional_cross_attention_with_a_mask_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(8)
    q_in, v_in, m_in = Input((4, 6)), Input((5, 6)), Input((4, 5))
    attended = MultiHeadAttention(2, 3, name="cross")(q_in, v_in, attention_mask=m_in)
    model = models.Model([q_in, v_in, m_in], attended)
    query = rng.standard_normal((16, 4, 6)).astype(np.float32)
    value = rng.standard_normal((16, 5, 6)).astype(np.float32)
    mask = (rng.random((16, 4, 5)) > 0.3).astype(np.float32)
    mask[:, :, 0] = 1
    layer = model.get_layer("cross")
    np.testing.assert_allclose(model.predict([query, value, mask], verbose=0), layer(query, value, attention_mask=mask),
                               rtol=1e-5, atol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit([query, value, mask], np.zeros((16, 4, 6), np.float32), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.dl")
    loaded = models.load_model(tmp_path / "m.dl")
    np.testing.assert_allclose(loaded.predict([query, value, mask], verbose=0),
                               model.predict([query, value, mask], verbose=0), rtol=1e-6, atol=1e-7)


def test_causal_option_is_saved_with_the_functional_model(tmp_path):
    rng = np.random.default_rng(9)
    inp = Input((5, 4))
    model = models.Model(inp, MultiHeadAttention(2, 2, name="mha")(inp, inp, use_causal_mask=True))
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    model.save(tmp_path / "m.dl")
    loaded = models.load_model(tmp_path / "m.dl")
    assert loaded.get_layer("mha").get_config()["call_options"] == {"use_causal_mask": True,
                                                                     "return_attention_scores": False}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    assert not np.allclose(loaded.predict(x, verbose=0), MultiHeadAttention.from_config(
        {k: v for k, v in loaded.get_layer("mha").get_config().items() if k != "call_options"})(x))


def test_a_shared_layer_keeps_one_set_of_call_options():
    layer = MultiHeadAttention(2, 2)
    a, b = Input((3, 4)), Input((3, 4))
    layer(a, b, use_causal_mask=True)
    with pytest.raises(ConfigError, match=r"every call in a graph must use the same options"):
        layer(b, a)
    with pytest.raises(ConfigError, match=r"all be symbolic tensors .* or all be arrays"):
        layer(a, np.zeros((1, 3, 4)))


@pytest.mark.parametrize("options", [{"use_causal_mask": True, "return_attention_scores": False}, None])
def test_conformance_with_a_mask_and_with_the_causal_option(options):
    cfg = {"num_heads": 2, "key_dim": 2, "value_dim": 3, "bias_initializer": "random_normal", "name": "mha"}
    if options is not None:
        cfg["call_options"] = options
    layer = MultiHeadAttention.from_config(cfg)
    mask = (np.random.default_rng(10).random((2, 3, 4)) > 0.3).astype(np.float64)
    mask[:, :, 0] = 1
    rng = np.random.default_rng(11)
    check_layer(layer, [(2, 3, 4), (2, 4, 5), (2, 4, 3), (2, 3, 4)],
                input_data=[rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5)),
                            rng.standard_normal((2, 4, 3)), mask])
