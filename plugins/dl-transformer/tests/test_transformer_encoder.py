"""TransformerEncoder: the conformance kit, and forward/backward against
torch.nn.TransformerEncoderLayer (post-norm and pre-norm)."""

import numpy as np
import pytest

from corelib import ShapeError, models
from corelib.testing import check_layer
from dl_transformer import TransformerEncoder


@pytest.mark.parametrize(
    "kwargs",
    [
        {"intermediate_dim": 6, "num_heads": 2},
        {"intermediate_dim": 5, "num_heads": 2, "dropout": 0.2, "normalize_first": True, "activation": "gelu"},
    ],
)
def test_conformance(kwargs):
    check_layer(TransformerEncoder, (2, 3, 4), **kwargs)


@pytest.mark.parametrize("normalize_first, activation", [(False, "relu"), (True, "gelu")])
def test_matches_torch_transformer_encoder_layer(normalize_first, activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    embed, heads, hidden = 8, 2, 16
    layer = TransformerEncoder(hidden, heads, activation=activation, normalize_first=normalize_first, dtype="float64")
    layer.ensure_built((None, 5, embed))
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape) * 0.4
    w = {p.path.split("/", 1)[1]: p for p in layer.weights}
    ref = torch.nn.TransformerEncoderLayer(embed, heads, hidden, dropout=0.0, activation=activation,
                                           layer_norm_eps=1e-5, batch_first=True, norm_first=normalize_first,
                                           dtype=torch.float64)
    t = torch.from_numpy
    pairs = {  # torch parameter -> (ours as torch lays it out)
        "self_attn.in_proj_weight": np.concatenate(
            [w[f"self_attention/{n}_kernel"].value.reshape(embed, embed).T for n in ("query", "key", "value")]),
        "self_attn.in_proj_bias": np.concatenate(
            [w[f"self_attention/{n}_bias"].value.ravel() for n in ("query", "key", "value")]),
        "self_attn.out_proj.weight": w["self_attention/output_kernel"].value.reshape(embed, embed).T,
        "self_attn.out_proj.bias": w["self_attention/output_bias"].value,
        "linear1.weight": w["feedforward_intermediate/kernel"].value.T,
        "linear1.bias": w["feedforward_intermediate/bias"].value,
        "linear2.weight": w["feedforward_output/kernel"].value.T,
        "linear2.bias": w["feedforward_output/bias"].value,
        "norm1.weight": w["self_attention_norm/gamma"].value,
        "norm1.bias": w["self_attention_norm/beta"].value,
        "norm2.weight": w["feedforward_norm/gamma"].value,
        "norm2.bias": w["feedforward_norm/beta"].value,
    }
    params = dict(ref.named_parameters())
    with torch.no_grad():
        for name, value in pairs.items():
            params[name].copy_(t(np.ascontiguousarray(value)))
    x, dy = rng.standard_normal((3, 5, embed)), rng.standard_normal((3, 5, embed))
    y, backprop = layer.forward(x, training=True)
    dx = backprop(dy)
    ref.train()
    xt = t(x).requires_grad_(True)
    out = ref(xt)
    out.backward(t(dy))
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(w["feedforward_intermediate/kernel"].grad.T, params["linear1.weight"].grad.numpy(),
                               rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(w["self_attention_norm/gamma"].grad, params["norm1.weight"].grad.numpy(),
                               rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(w["self_attention/value_kernel"].grad.reshape(embed, embed).T,
                               params["self_attn.in_proj_weight"].grad.numpy()[2 * embed:], rtol=1e-9, atol=1e-11)


def test_stacks_in_a_sequential_and_survives_save_and_load(tmp_path):
    from corelib import layers

    model = models.Sequential([
        TransformerEncoder(8, 2, input_shape=(4, 6)),
        TransformerEncoder(8, 3, dropout=0.1),
        layers.Flatten(),
        layers.Dense(2),
    ])
    names = [p.path for p in model.weights]
    assert len(names) == len(set(names)) and "transformer_encoder_1/feedforward_norm/beta" in names
    x = np.random.default_rng(0).standard_normal((5, 4, 6)).astype(np.float32)
    model.compile("adam", "mse")
    model.fit(x, np.zeros((5, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.dl")
    np.testing.assert_array_equal(models.load_model(tmp_path / "m.dl").predict(x, verbose=0), model.predict(x, verbose=0))


def test_features_must_split_across_heads():
    with pytest.raises(ShapeError, match=r"the features \(6\) must be divisible by num_heads=4"):
        TransformerEncoder(8, 4).compute_output_shape((None, 3, 6))
