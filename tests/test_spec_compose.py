"""corelib.spec.compose: layer expressions are parsed (never run), checked, and become a spec that loads back."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corelib.spec import compose as C
from corelib import spec
from corelib.errors import ConfigError, ShapeError, UnknownComponentError
from corelib.registry import Registry, use_registry

pytest.importorskip("corelib.builtin.plugin")


@pytest.fixture(autouse=True)
def builtin():
    with use_registry(Registry(entry_points=False)):
        yield


@pytest.mark.parametrize("text, expected", [
    ("Flatten", ("Flatten", [], {})),
    ("  Dense(10)  ", ("Dense", [10], {})),
    ("Conv2D(32, (3, 3), strides=[1, 1], padding='same', use_bias=False, name=None)",
     ("Conv2D", [32, [3, 3]], {"strides": [1, 1], "padding": "same", "use_bias": False, "name": None})),
    ("LeakyReLU(negative_slope=-0.5, x=+2, y=1e-3)", ("LeakyReLU", [], {"negative_slope": -0.5, "x": 2, "y": 1e-3})),
])
def test_parse_layer(text, expected):
    assert C.parse_layer(text) == expected


NOT_LITERAL = "only literal arguments are allowed (numbers, strings, True/False/None, tuples and lists)"
REFUSED = [
    ("__import__('os').system('rm -rf /')", "must be a layer name or a call of one"),
    ("os.system('ls')", "must be a layer name or a call of one"),
    ("Dense(10)(x)", "must be a layer name or a call of one"),
    ("Dense(10) + Dense(3)", "must be a layer name or a call of one"),
    ("lambda: 1", "must be a layer name or a call of one"),
    ("Dense(units=eval('1'))", NOT_LITERAL + "; found \"eval('1')\""),
    ("Dense(units)", NOT_LITERAL + "; found 'units'"),
    ("Dense(10, activation=relu)", NOT_LITERAL + "; found 'relu'"),
    ("Dense(2 ** 100)", NOT_LITERAL),
    ("Dense(1j)", NOT_LITERAL),
    ("Dense(b'x')", NOT_LITERAL),
    ("Dense(...)", NOT_LITERAL),
    ("Dense({'a': 1})", NOT_LITERAL),
    ("Dense([x for x in y])", NOT_LITERAL),
    ("Dense(-'a')", NOT_LITERAL),
    ("Dense(*args)", "*arguments are not allowed"),
    ("Dense(**kw)", "**arguments are not allowed"),
    ("Dense(10", "is not valid: '(' was never closed"),
    ("Dense(10); import os", "is not valid"),
    ("Dense(units=1, units=2)", "the argument 'units' is given twice"),
    ("", "is empty"),
    ("Dense(" + "[" * 2000 + ")", "longer than 1000 characters"),
    ("Dense(" + "[" * 50 + "]" * 50 + ")", NOT_LITERAL),
    ("Dense(" + "[" * 300 + "]" * 300 + ")", "is not valid"),
    ("Dense(1\x00)", "is not valid"),
]


@pytest.mark.parametrize("text, expected", REFUSED, ids=[r[0][:30] for r in REFUSED])
def test_anything_but_literals_is_refused_in_one_line(text, expected):
    with pytest.raises(ConfigError) as info:
        C.parse_layer(text, "layer 3")
    message = str(info.value)
    assert message.startswith("layer 3") and expected in message and "\n" not in message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_with_a_config_error(text):
    try:
        name, args, kwargs = C.parse_layer(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert name.isidentifier() and isinstance(args, list) and isinstance(kwargs, dict)


@pytest.mark.parametrize("text, expected", [
    ("28,28,1", [28, 28, 1]), ("(28, 28, 1)", [28, 28, 1]), ("[784]", [784]), ("28x28x1", [28, 28, 1]),
    ("784", [784]), ("None,8", [None, 8]),
])
def test_parse_shape(text, expected):
    assert C.parse_shape(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-3", "a,b", "2.5", "()", "1,a", "28;28"])
def test_bad_shapes(text):
    with pytest.raises(ConfigError, match=r"--input-shape must be positive ints separated by commas"):
        C.parse_shape(text, "--input-shape")


def test_compose_builds_and_the_spec_loads_back(tmp_path):
    exprs = ["Conv2D(8, 3, activation='relu', padding='same')", "MaxPooling2D", "Flatten",
             "Dropout(0.25)", "Dense(10, activation='softmax')"]
    doc, model = C.compose(exprs, [8, 8, 1], name="tiny")
    assert doc["model"][0] == {"Conv2D": {"filters": 8, "kernel_size": 3, "activation": "relu", "padding": "same",
                                          "input_shape": [8, 8, 1]}}
    assert doc["model"][1] == {"MaxPooling2D": {}} and doc["name"] == "tiny"
    assert model.output_shape == (None, 10)
    for name in ("cnn.yaml", "cnn.json"):
        C.write_spec(doc, tmp_path / name)
        again = spec.build_model(spec.load_spec(tmp_path / name))
        assert again.name == "tiny"
        assert [type(l).__name__ for l in again.layers] == [type(l).__name__ for l in model.layers]
        assert [l.output_shape for l in again.layers] == [l.output_shape for l in model.layers]
        assert again.count_params() == model.count_params()
    lines = (tmp_path / "cnn.yaml").read_text().splitlines()
    assert lines[1:4] == ['name: "tiny"', "model:",
                          "  - Conv2D: {filters: 8, kernel_size: 3, padding: same, activation: relu, "
                          "input_shape: [8, 8, 1]}"]


def test_compose_errors_name_the_layer():
    with pytest.raises(ShapeError) as info:
        C.compose(["Dense(4)", "Conv2D(3, 3)"], [6])
    assert str(info.value).startswith("layer 2 'Conv2D(3, 3)': Layer 'conv2d' (Conv2D) cannot follow layer "
                                      "'dense' (Dense): 'dense' outputs shape (None, 4), but Conv2D")
    with pytest.raises(UnknownComponentError, match=r"layer 1 'Dens\(3\)': Unknown layer: 'Dens'. Did you mean"):
        C.compose(["Dens(3)"], [6])
    with pytest.raises(ConfigError, match=r"layer 1 'Dense\(\)': Dense: missing a required argument: 'units'"):
        C.compose(["Dense()"], [6])
    with pytest.raises(ConfigError, match=r"layer 1 'Dense\(1, 2, 3, 4, 5, 6, 7, 8\)': Dense: too many positional"):
        C.compose(["Dense(1, 2, 3, 4, 5, 6, 7, 8)"], [6])
    with pytest.raises(ConfigError, match="layer 1 'Dense.*gives its own input shape and so does --input-shape"):
        C.compose(["Dense(3, input_shape=(6,))"], [6])
    with pytest.raises(ConfigError, match="the first layer needs an input shape"):
        C.compose(["Dense(3)"])
    with pytest.raises(ConfigError, match=r"layer 2 'Dense\(-3\)': Dense 'dense_\d+': units must be a positive int"):
        C.compose(["Flatten", "Dense(-3)"], [2, 2])
    with pytest.raises(ConfigError, match="a spec file ends in .yaml, .yml or .json"):
        C.write_spec({"model": []}, "spec.txt")
