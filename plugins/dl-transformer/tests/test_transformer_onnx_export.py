"""The plugin's ONNX exporters (registered with dl's register_onnx_exporters hook): exported
models pass onnx.checker and match dl's predict in onnxruntime at a new batch size."""

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from corelib import Input, Model, Sequential, layers  # noqa: E402
from dl_transformer import MultiHeadAttention, PositionalEmbedding, TransformerEncoder  # noqa: E402

BATCH = 7


def _randomize(model):
    rng = np.random.default_rng(0)
    for p in model.weights:
        p.value[...] = rng.normal(0.0, 0.3, p.value.shape)


def _check(model, tmp_path, xs):
    import onnx

    path = tmp_path / "m.onnx"
    model.export(str(path), format="onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})
    ref = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    refs = list(ref) if isinstance(ref, list) else [ref]
    for g, r in zip(got, refs):
        assert g.shape == r.shape
        assert np.abs(g - r).max() <= 1e-5 * max(1.0, float(np.abs(r).max()))


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, *shape)).astype(np.float32)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_transformer_encoder_stack(normalize_first, tmp_path):
    model = Sequential([Input((6, 8)), PositionalEmbedding(10),
                        TransformerEncoder(16, num_heads=2, normalize_first=normalize_first),
                        layers.GlobalAveragePooling1D(), layers.Dense(3, activation="softmax")])
    _randomize(model)
    _check(model, tmp_path, [_x(6, 8)])


def test_cross_attention_with_mask_causal_and_scores(tmp_path):
    q, v, m = Input((4, 6), name="q"), Input((5, 3), name="v"), Input((4, 5), name="mask")
    y, scores = MultiHeadAttention(2, 3, value_dim=2)(q, v, attention_mask=m, return_attention_scores=True)
    model = Model([q, v, m], [y, scores])
    _randomize(model)
    mask = (np.random.default_rng(1).random((BATCH, 4, 5)) > 0.3).astype(np.float32)
    _check(model, tmp_path, [_x(4, 6), _x(5, 3, seed=1), mask])
    s = Input((5, 4))
    causal = Model(s, MultiHeadAttention(2, 2)(s, s, use_causal_mask=True))
    _randomize(causal)
    _check(causal, tmp_path, [_x(5, 4)])
