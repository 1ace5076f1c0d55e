"""Bidirectional, Embedding (masking), TimeDistributed and RepeatVector; models of them."""

from __future__ import annotations

import numpy as np
import pytest

from corelib import Input, layers, models
from corelib.errors import ConfigError, DataError

torch = pytest.importorskip("torch")

B, T, F, U = 3, 5, 4, 3


def _torch_bilstm(layer):
    tm = torch.nn.LSTM(F, U, batch_first=True, bidirectional=True).double()
    fk, fr, fb, bk, br, bb = layer.get_weights()
    with torch.no_grad():
        tm.weight_ih_l0.copy_(torch.tensor(fk.T))
        tm.weight_hh_l0.copy_(torch.tensor(fr.T))
        tm.bias_ih_l0.copy_(torch.tensor(fb))
        tm.bias_hh_l0.zero_()
        tm.weight_ih_l0_reverse.copy_(torch.tensor(bk.T))
        tm.weight_hh_l0_reverse.copy_(torch.tensor(br.T))
        tm.bias_ih_l0_reverse.copy_(torch.tensor(bb))
        tm.bias_hh_l0_reverse.zero_()
    return tm


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_lstm_matches_torch(merge_mode):
    rng = np.random.default_rng(0)
    layer = layers.Bidirectional(layers.LSTM(U, return_sequences=True), merge_mode=merge_mode, dtype="float64")
    x = rng.standard_normal((B, T, F))
    layer(x)
    tm = _torch_bilstm(layer)
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = tm(xt)
    f, b = yt[..., :U], yt[..., U:]
    ref = {"concat": [yt], "sum": [f + b], "mul": [f * b], "ave": [(f + b) / 2], None: [f, b]}[merge_mode]
    ys, backprop = layer.forward(x, True)
    ys = ys if isinstance(ys, list) else [ys]
    dys = [rng.standard_normal(y.shape) for y in ys]
    sum((r * torch.tensor(d)).sum() for r, d in zip(ref, dys)).backward()
    for p in layer.weights:
        p.grad[...] = 0
    dx = backprop(dys if len(dys) > 1 else dys[0])
    for y, r in zip(ys, ref):
        np.testing.assert_allclose(y, r.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.weights[0].grad.T, tm.weight_ih_l0.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.weights[4].grad.T, tm.weight_hh_l0_reverse.grad.numpy(), rtol=1e-9,
                               atol=1e-12)


def test_bidirectional_with_packed_sequences_matches_masked_layer():
    """Post-padded sequences: the masked layer agrees with torch's packed sequences."""
    rng = np.random.default_rng(2)
    layer = layers.Bidirectional(layers.LSTM(U, return_sequences=True), dtype="float64")
    x = rng.standard_normal((B, T, F))
    lengths = np.array([5, 3, 1])
    mask = np.arange(T)[None, :] < lengths[:, None]
    layer(x)
    tm = _torch_bilstm(layer)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), batch_first=True)
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(tm(packed)[0], batch_first=True, total_length=T)
    y, _ = layer.forward(x, False, mask=mask)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_bidirectional_return_state_lists_forward_then_backward_states():
    layer = layers.Bidirectional(layers.LSTM(U, return_state=True))
    out = layer(np.random.default_rng(0).standard_normal((B, T, F)))
    assert [o.shape for o in out] == [(B, 2 * U)] + [(B, U)] * 4
    np.testing.assert_allclose(out[0][:, :U], out[1], rtol=1e-6)
    np.testing.assert_allclose(out[0][:, U:], out[3], rtol=1e-6)
    assert layer.compute_output_shape((None, T, F)) == [(None, 2 * U)] + [(None, U)] * 4


def test_embedding_mask_zero_through_lstm_equals_unpadded_sequences():
    inp = Input(shape=(6,))
    emb = layers.Embedding(10, 4, mask_zero=True)
    lstm = layers.LSTM(3)
    model = models.Model(inp, lstm(emb(inp)))
    tokens = np.array([[3, 4, 5, 0, 0, 0], [7, 1, 2, 9, 8, 6]])
    y = model.predict(tokens)
    unpadded, _ = lstm.forward(emb.forward(tokens[:1, :3])[0], False)
    np.testing.assert_allclose(y[0], unpadded[0], rtol=1e-5)
    assert not np.allclose(y[0], model.predict(np.array([[3, 4, 5, 1, 1, 1]]))[0])


def test_masked_model_trains_and_padding_gets_no_gradient():
    inp = Input(shape=(4,))
    emb = layers.Embedding(6, 3, mask_zero=True)
    model = models.Model(inp, layers.Dense(1)(layers.GRU(2)(emb(inp))))
    model.compile(loss="mse", optimizer="sgd")
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    before = emb.embeddings.value.copy()
    model.fit(x, np.ones((2, 1)), epochs=1, batch_size=2, verbose=0)
    np.testing.assert_array_equal(emb.embeddings.value[4:], before[4:])  # unused rows
    np.testing.assert_array_equal(emb.embeddings.value[0], before[0])    # padding
    assert not np.array_equal(emb.embeddings.value[1], before[1])


def test_embedding_rejects_out_of_range_indices():
    emb = layers.Embedding(5, 2)
    with pytest.raises(DataError, match=r"indices in \[0, 5\)"):
        emb(np.array([[1, 5]]))


def test_embedding_gradient_accumulates_repeated_indices():
    emb = layers.Embedding(4, 2, dtype="float64")
    emb(np.zeros((1, 3), np.int64))
    _, backprop = emb.forward(np.array([[1, 1, 3]]), True)
    backprop(np.ones((1, 3, 2)))
    np.testing.assert_array_equal(emb.embeddings.grad, [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_time_distributed_dense_equals_dense_on_each_step():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    td = layers.TimeDistributed(layers.Dense(5))
    y = td(x)
    dense = td.layer
    np.testing.assert_allclose(y[:, 1], dense(x[:, 1]), rtol=1e-6)
    assert td.compute_output_shape((None, 3, 4)) == (None, 3, 5)
    assert len(td.weights) == 2


def test_repeat_vector():
    x = np.arange(6.0).reshape(2, 3)
    y, backprop = layers.RepeatVector(4).forward(x)
    assert y.shape == (2, 4, 3) and np.all(y[:, 2] == x)
    np.testing.assert_array_equal(backprop(np.ones((2, 4, 3))), np.full((2, 3), 4.0))


def test_wrapper_errors():
    with pytest.raises(ConfigError, match="merge_mode must be one of"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")
    with pytest.raises(ConfigError, match="SimpleRNN, LSTM or GRU"):
        layers.Bidirectional(layers.Dense(2))


def test_sequence_model_saves_and_loads(tmp_path):
    inp = Input(shape=(5, 3))
    h = layers.Bidirectional(layers.GRU(4, return_sequences=True))(inp)
    out = layers.TimeDistributed(layers.Dense(2))(layers.LSTM(3, return_sequences=True)(h))
    model = models.Model(inp, out)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    model.save(tmp_path / "m.dl")
    again = models.load_model(tmp_path / "m.dl")
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-6)
