"""Merge layers against NumPy (and PyTorch): Concatenate, Add, Subtract, Multiply,
Average, Maximum, Minimum and Dot — forward, gradients of every input, shape
errors and configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corelib import layers
from corelib.errors import ConfigError, ShapeError
from corelib.testing import relative_error


def _inputs(*shapes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _numeric_input_grads(layer, xs, upstream, eps=1e-6):
    """d sum(layer(xs) * upstream) / d xs[i] for every input, by central differences."""
    grads = []
    for x in xs:
        g = np.zeros_like(x)
        flat, out = x.reshape(-1), g.reshape(-1)
        for k in range(flat.size):  # test utility: one forward per entry is inherent
            old = flat[k]
            flat[k] = old + eps
            plus = float(np.sum(layer.forward(xs, False)[0] * upstream))
            flat[k] = old - eps
            minus = float(np.sum(layer.forward(xs, False)[0] * upstream))
            flat[k] = old
            out[k] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def _check_gradients(layer, xs, seed=1, tolerance=1e-7):
    """float64 analytic input gradients against central differences, input by input."""
    layer.ensure_built([(None,) + x.shape[1:] for x in xs])
    y, backprop = layer.forward(xs, True)
    upstream = np.random.default_rng(seed).standard_normal(y.shape)
    analytic = [np.array(g, copy=True) for g in backprop(upstream)]
    assert len(analytic) == len(xs)
    numeric = _numeric_input_grads(layer, xs, upstream)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        assert a.shape == xs[i].shape, f"input {i}"
        assert relative_error(a, n) < tolerance, f"input {i}: relative error {relative_error(a, n):.3g}"
    assert backprop(upstream, need_input_grad=False) is None
    return analytic


# -- forward against NumPy ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_elementwise_merges_match_numpy(dtype):
    xs = _inputs((4, 3, 2), (4, 3, 2), (4, 3, 2), dtype=dtype)
    ref = {
        "Add": xs[0] + xs[1] + xs[2],
        "Multiply": xs[0] * xs[1] * xs[2],
        "Average": (xs[0] + xs[1] + xs[2]) / 3,
        "Maximum": np.maximum(np.maximum(xs[0], xs[1]), xs[2]),
        "Minimum": np.minimum(np.minimum(xs[0], xs[1]), xs[2]),
    }
    tol = 1e-6 if dtype == "float32" else 1e-14
    for name, want in ref.items():
        layer = getattr(layers, name)(dtype=dtype)
        for training in (False, True):
            y, _ = layer.forward(xs, training)
            assert y.dtype == dtype and y.shape == want.shape
            np.testing.assert_allclose(y, want, rtol=tol, atol=tol, err_msg=name)
    y, _ = layers.Subtract(dtype=dtype).forward(xs[:2], False)
    np.testing.assert_allclose(y, xs[0] - xs[1], rtol=tol, atol=tol)


def test_concatenate_matches_numpy_on_every_axis(float64):
    a, b, c = _inputs((2, 3, 4), (2, 3, 1), (2, 3, 2))
    y, backprop = layers.Concatenate().forward([a, b, c], True)
    np.testing.assert_array_equal(y, np.concatenate([a, b, c], axis=-1))
    dy = np.arange(y.size, dtype=float).reshape(y.shape)
    da, db, dc = backprop(dy)
    np.testing.assert_array_equal(da, dy[..., :4])
    np.testing.assert_array_equal(db, dy[..., 4:5])
    np.testing.assert_array_equal(dc, dy[..., 5:])
    p, q = _inputs((2, 3, 4), (2, 5, 4))
    for axis in (1, -2):
        layer = layers.Concatenate(axis=axis)
        assert layer.compute_output_shape([(None, 3, 4), (None, 5, 4)]) == (None, 8, 4)
        np.testing.assert_array_equal(layer.forward([p, q], False)[0], np.concatenate([p, q], axis=1))
    assert layers.Concatenate().compute_output_shape([(None, 3, None), (None, 3, 2)]) == (None, 3, None)


def test_unknown_dimensions_take_the_known_size():
    assert layers.Add().compute_output_shape([(None, None, 4), (None, 3, 4)]) == (None, 3, 4)
    assert layers.Concatenate(axis=1).compute_output_shape([(None, 2, None), (None, 3, 5)]) == (None, 5, 5)
    assert layers.Dot(axes=(2, 1)).compute_output_shape([(None, 3, None), (None, 4, 6)]) == (None, 3, 6)


@pytest.mark.parametrize("shapes, axes, einsum", [
    ([(3, 4), (3, 4)], 1, "bi,bi->b"),
    ([(3, 4), (3, 4)], -1, "bi,bi->b"),
    ([(3, 2, 4), (3, 4, 5)], (2, 1), "bmk,bkn->bmn"),
    ([(3, 4, 2), (3, 4, 5)], 1, "bkm,bkn->bmn"),
    ([(3, 2, 4), (3, 5, 4)], 2, "bmk,bnk->bmn"),
    ([(3, 2, 4), (3, 4)], (2, 1), "bmk,bk->bm"),
    ([(3, 4), (3, 5, 4)], (1, 2), "bk,bnk->bn"),
])
def test_dot_matches_einsum(shapes, axes, einsum, float64):
    x0, x1 = _inputs(*shapes)
    layer = layers.Dot(axes=axes)
    y, _ = layer.forward([x0, x1], False)
    want = np.einsum(einsum, x0, x1)
    want = want[:, None] if want.ndim == 1 else want
    assert layer.compute_output_shape([(None,) + s[1:] for s in shapes]) == (None,) + want.shape[1:]
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def test_dot_normalize_gives_cosine_similarity(float64):
    x0, x1 = _inputs((5, 6), (5, 6))
    y, _ = layers.Dot(axes=1, normalize=True).forward([x0, x1], False)
    cos = np.sum(x0 * x1, 1) / (np.linalg.norm(x0, axis=1) * np.linalg.norm(x1, axis=1))
    np.testing.assert_allclose(y[:, 0], cos, rtol=1e-12)
    a, b = _inputs((2, 4, 3), (2, 4, 5))
    y, _ = layers.Dot(axes=1, normalize=True).forward([a, b], False)
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(y, np.einsum("bkm,bkn->bmn", an, bn), rtol=1e-12)


def test_dot_normalize_of_a_zero_vector_is_finite():
    x0 = np.zeros((2, 3))
    x1 = _inputs((2, 3))[0]
    y, backprop = layers.Dot(axes=1, normalize=True).forward([x0, x1], True)
    np.testing.assert_array_equal(y, 0.0)
    d0, d1 = backprop(np.ones_like(y))
    assert np.all(np.isfinite(d0)) and np.all(np.isfinite(d1))
    np.testing.assert_array_equal(d1, 0.0)  # its partner is 0 after normalising


# -- gradients: every layer, every input ----------------------------------------------------


@pytest.mark.parametrize("name, shapes, kwargs", [
    ("Concatenate", [(2, 3), (2, 4)], {}),
    ("Concatenate", [(2, 3, 4), (2, 1, 4), (2, 2, 4)], {"axis": 1}),
    ("Add", [(2, 3, 2)] * 3, {}),
    ("Subtract", [(3, 4), (3, 4)], {}),
    ("Multiply", [(2, 5)] * 3, {}),
    ("Multiply", [(2, 5)] * 2, {}),
    ("Average", [(2, 5)] * 4, {}),
    ("Maximum", [(3, 4)] * 3, {}),
    ("Minimum", [(3, 4)] * 2, {}),
    ("Dot", [(3, 4), (3, 4)], {"axes": 1}),
    ("Dot", [(2, 3, 4), (2, 4, 5)], {"axes": (2, 1)}),
    ("Dot", [(2, 4, 3), (2, 4)], {"axes": (1, 1), "normalize": True}),
    ("Dot", [(2, 3, 4), (2, 5, 4)], {"axes": -1, "normalize": True}),
])
def test_input_gradients_match_central_differences(name, shapes, kwargs):
    _check_gradients(getattr(layers, name)(dtype="float64", **kwargs), _inputs(*shapes))


def test_multiply_gradient_with_zeros_in_the_inputs():
    xs = _inputs((2, 4), (2, 4), (2, 4))
    xs[0][0, :2] = 0.0
    xs[1][0, 1:3] = 0.0  # entry (0, 1) is zero in two inputs
    grads = _check_gradients(layers.Multiply(dtype="float64"), xs)
    assert np.all(np.isfinite(grads[2]))


@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
def test_extremum_gradient_goes_to_the_winner_and_ties_to_the_first(name):
    a = np.array([[1.0, 5.0, 2.0, 3.0]])
    b = np.array([[4.0, 5.0, 2.0, 1.0]])
    c = np.array([[0.0, 5.0, 7.0, 3.0]])
    layer = getattr(layers, name)(dtype="float64")
    y, backprop = layer.forward([a, b, c], True)
    dy = np.array([[10.0, 20.0, 30.0, 40.0]])
    ga, gb, gc = backprop(dy)
    if name == "Maximum":
        np.testing.assert_array_equal(y, [[4, 5, 7, 3]])
        # entry 1: a three-way tie goes to a; entry 3: a and c tie, a gets it
        np.testing.assert_array_equal(ga, [[0, 20, 0, 40]])
        np.testing.assert_array_equal(gb, [[10, 0, 0, 0]])
        np.testing.assert_array_equal(gc, [[0, 0, 30, 0]])
    else:
        np.testing.assert_array_equal(y, [[0, 5, 2, 1]])
        np.testing.assert_array_equal(ga, [[0, 20, 30, 0]])  # entry 2: a and b tie, a gets it
        np.testing.assert_array_equal(gb, [[0, 0, 0, 40]])
        np.testing.assert_array_equal(gc, [[10, 0, 0, 0]])
    assert sum(g.sum() for g in (ga, gb, gc)) == dy.sum()


def test_shared_layer_keeps_each_calls_workspace():
    """A layer called twice before either backprop (a shared layer in a graph)."""
    layer = layers.Multiply(dtype="float64")
    a, b, c, d = _inputs((2, 3), (2, 3), (2, 3), (2, 3))
    y1, bp1 = layer.forward([a, b], True)
    y1_copy = y1.copy()
    y2, bp2 = layer.forward([c, d], True)
    np.testing.assert_array_equal(y1, y1_copy)
    dy = np.ones((2, 3))
    g2 = [g.copy() for g in bp2(dy)]
    g1 = bp1(dy)
    np.testing.assert_array_equal(g1[0], b)
    np.testing.assert_array_equal(g1[1], a)
    np.testing.assert_array_equal(g2[0], d)
    np.testing.assert_array_equal(g2[1], c)


def test_inference_outputs_are_fresh_arrays():
    for layer in (layers.Add(), layers.Concatenate(), layers.Maximum(), layers.Dot(axes=1)):
        y1, _ = layer.forward(_inputs((2, 3), (2, 3), seed=0), False)
        keep = y1.copy()
        layer.forward(_inputs((2, 3), (2, 3), seed=1), False)
        np.testing.assert_array_equal(y1, keep)


def test_calling_on_a_list_of_arrays_builds_and_casts():
    layer = layers.Add()
    y = layer([np.ones((2, 3)), np.full((2, 3), 2.0)])
    assert layer.built and y.dtype == np.float32
    np.testing.assert_array_equal(y, 3.0)
    assert layer.input_shape == [(None, 3), (None, 3)] and layer.output_shape == (None, 3)


# -- shape errors ---------------------------------------------------------------------------


def test_concatenate_error_names_the_layer_and_both_inputs():
    layer = layers.Concatenate(name="concatenate")
    with pytest.raises(ShapeError) as info:
        layer.compute_output_shape([(None, 4, 3), (None, 5, 3)])
    assert str(info.value) == (
        "Concatenate 'concatenate' needs inputs whose shapes match except on axis -1; "
        "received input 0 (None, 4, 3) and input 1 (None, 5, 3)"
    )


@pytest.mark.parametrize("layer, shapes, words", [
    (layers.Add(name="a"), [(None, 3), (None, 3), (None, 4)], ["Add 'a'", "input 0 (None, 3)", "input 2 (None, 4)"]),
    (layers.Multiply(name="m"), [(None, 3), (None, 3, 1)], ["Multiply 'm'", "same shape", "(None, 3, 1)"]),
    (layers.Average(name="v"), [(2, 3), (5, 3)], ["Average 'v'", "input 0 (2, 3)", "input 1 (5, 3)"]),
    (layers.Maximum(name="x"), [(None, 1), (None, 4)], ["Maximum 'x'", "(None, 1)", "(None, 4)"]),
    (layers.Subtract(name="s"), [(None, 3)], ["Subtract 's'", "exactly 2 inputs", "received 1"]),
    (layers.Subtract(name="s"), [(None, 3)] * 3, ["exactly 2 inputs", "received 3"]),
    (layers.Concatenate(name="c"), [(None, 3), (None, 3, 1)], ["Concatenate 'c'", "input 1 (None, 3, 1)"]),
    (layers.Concatenate(axis=-3, name="c"), [(None, 3, 2), (None, 3, 2)], ["axis -3", "batch axis"]),
    (layers.Concatenate(axis=3, name="c"), [(None, 3, 2), (None, 3, 2)], ["axis 3", "(None, 3, 2)"]),
    (layers.Dot(axes=1, name="d"), [(None, 4), (None, 5)], ["Dot 'd'", "input 0 (None, 4)", "input 1 (None, 5)"]),
    (layers.Dot(axes=(2, 1), name="d"), [(None, 3, 4), (None, 5, 6)], ["axis 2 of input 0", "(None, 5, 6)"]),
    (layers.Dot(axes=1, name="d"), [(None, 2, 2, 2), (None, 2)], ["rank 2 or 3", "(None, 2, 2, 2)"]),
    (layers.Dot(axes=3, name="d"), [(None, 2, 2), (None, 2, 2)], ["non-batch axis", "(None, 2, 2)"]),
    (layers.Dot(axes=1, name="d"), [(None, 2), (None, 2), (None, 2)], ["exactly 2 inputs", "received 3"]),
    (layers.Dot(axes=1, name="d"), [(3, 2), (4, 2)], ["batch size", "(3, 2)", "(4, 2)"]),
])
def test_shape_errors_name_the_layer_and_the_inputs(layer, shapes, words):
    with pytest.raises(ShapeError) as info:
        layer.compute_output_shape(shapes)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_a_single_input_is_refused():
    with pytest.raises(ShapeError, match=r"Add 'add' must be called on a list of inputs; received a single shape"):
        layers.Add(name="add").ensure_built((None, 3))
    with pytest.raises(ShapeError, match="must be called on a list of inputs"):
        layers.Add().forward(np.ones((2, 3)), False)


def test_forward_checks_the_real_shapes():
    with pytest.raises(ShapeError, match=r"input 0 \(2, 3\) and input 1 \(2, 4\)"):
        layers.Add().forward(_inputs((2, 3), (2, 4)), False)
    with pytest.raises(ShapeError, match=r"input 0 \(2, 3\) and input 1 \(3, 3\)"):
        layers.Concatenate().forward(_inputs((2, 3), (3, 3)), False)


def test_a_built_layer_refuses_other_shapes():
    layer = layers.Add()
    layer.ensure_built([(None, 3), (None, 3)])
    assert layer.ensure_built([(7, 3), (7, 3)]) == (None, 3)
    with pytest.raises(ShapeError):
        layer.ensure_built([(None, 4), (None, 4)])


@pytest.mark.parametrize("make", [
    lambda: layers.Concatenate(axis=0),
    lambda: layers.Concatenate(axis="last"),
    lambda: layers.Concatenate(axis=True),
    lambda: layers.Dot(axes=0),
    lambda: layers.Dot(axes=(1, 0)),
    lambda: layers.Dot(axes=(1, 2, 3)),
    lambda: layers.Dot(axes=1.5),
    lambda: layers.Add(units=3),
])
def test_bad_arguments_raise_config_errors(make):
    with pytest.raises(ConfigError, match="Received"):
        make()


# -- configs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", [
    ("Concatenate", {"axis": 1}), ("Add", {}), ("Subtract", {}), ("Multiply", {}), ("Average", {}),
    ("Maximum", {}), ("Minimum", {}), ("Dot", {"axes": 2}), ("Dot", {"axes": [1, 2], "normalize": True}),
])
def test_config_round_trip(name, kwargs):
    layer = getattr(layers, name)(name="merge_me", dtype="float64", **kwargs)
    cfg = json.loads(json.dumps(layer.get_config()))
    for key, value in kwargs.items():
        assert cfg[key] == value
    assert type(layer).from_config(cfg).get_config() == cfg
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(again) is type(layer) and again.get_config() == cfg
    assert layers.get(name.lower()) is type(layer)


# -- PyTorch reference ----------------------------------------------------------------------


def _torch_grads(fn, xs, dy):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    out = fn(torch, *ts)
    out.backward(torch.tensor(dy))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name, fn", [
    ("Multiply", lambda torch, a, b, c: a * b * c),
    ("Maximum", lambda torch, a, b, c: torch.maximum(torch.maximum(a, b), c)),
    ("Minimum", lambda torch, a, b, c: torch.minimum(torch.minimum(a, b), c)),
    ("Average", lambda torch, a, b, c: (a + b + c) / 3),
    ("Concatenate", lambda torch, a, b, c: torch.cat([a, b, c], dim=-1)),
])
def test_against_torch_autograd(name, fn):
    xs = _inputs((4, 6), (4, 6), (4, 6), seed=3)
    y, backprop = getattr(layers, name)(dtype="float64").forward(xs, True)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    want_y, want_grads = _torch_grads(fn, xs, dy)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    for got, want in zip(backprop(dy), want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shapes, axes, fn", [
    ([(3, 5), (3, 5)], 1,
     lambda torch, a, b: (torch.nn.functional.normalize(a, dim=1, eps=1e-7)
                          * torch.nn.functional.normalize(b, dim=1, eps=1e-7)).sum(1, keepdim=True)),
    ([(3, 2, 4), (3, 5, 4)], 2,
     lambda torch, a, b: torch.bmm(torch.nn.functional.normalize(a, dim=2, eps=1e-7),
                                   torch.nn.functional.normalize(b, dim=2, eps=1e-7).transpose(1, 2))),
])
def test_dot_normalize_against_torch(shapes, axes, fn):
    xs = _inputs(*shapes, seed=5)
    y, backprop = layers.Dot(axes=axes, normalize=True, dtype="float64").forward(xs, True)
    dy = np.random.default_rng(6).standard_normal(y.shape)
    want_y, want_grads = _torch_grads(fn, xs, dy)
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
    for got, want in zip(backprop(dy), want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
