"""Hypothesis strategies for the fuzz targets: each draws ``(suffix, bytes)``, an input file. This
module has the shared parts and the spec and compose targets; `_file_strategies` the data and
model files'.

Two kinds, mixed for every target: a seed-corpus file (tests/fuzz/corpus/<target>/) with a few
byte-level mutations (bit flips, interesting bytes, the format's tokens, cut, copy, splice),
and a structure-aware input built from the format's own parts (spec fields and layer names,
arrays of odd dtypes and shapes, zip members and config.json fields of a real model file,
layer expressions), itself sometimes mutated at the byte level.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

from _harness import corpus_files

__all__ = ["mutated", "spec_strategy", "compose_strategy", "from_corpus", "maybe_mutated"]

INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x0D, 0x20, 0x22, 0x27, 0x2C, 0x2D, 0x30, 0x39, 0x3A,
                     0x5B, 0x7B, 0x23, 0x26, 0x2A, 0x21, 0x5C]

TOKENS = {
    "spec": [b"&a ", b"*a", b"[", b"]", b"{", b"}", b"- ", b": ", b"\n", b"  ", b"!!python/object/apply:os.system ",
             b"!!binary ", b"<<: *a", b"'", b'"', b"#", b"\t", b"\xff", b"9" * 40, b"1e999", b".nan", b"-.inf", b"~",
             b"---\n", b"...\n", b"null", b"true", b"[[[[[[[[", b"{a: {a: {a: ", b"\\u0000", b"0x", b"0o", b"1_0",
             b"2e9", b"-1", b"999999999999999999999", b"NaN", b"Infinity", b"\xef\xbb\xbf", b"\x00"],
    "data": [b",", b"\n", b"\r\n", b'"', b"#", b"nan", b"inf", b"-inf", b"1e999", b"9223372036854775808",
             b"18446744073709551616", b"-0", b"0x10", b"1_0", b"\xef\xbb\xbf", b" ", b"\t", b";", b"''", b"e",
             b"\x93NUMPY", b"PK\x03\x04", b"'descr': '|O'", b"'shape': (", b"(0,)", b"True", b"<f8", b"<u8", b"|b1"],
    "model": [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"\x93NUMPY", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
              b'"', b"{", b"[", b"null", b"1e999", b"-1", b"9" * 30],
    "weights": [b'{"', b'"dtype":"F32"', b'"dtype":"BF16"', b'"shape":[', b'"data_offsets":[0,', b"]", b"}", b'"',
                b'"__metadata__"', b'"dl"', b"\x89HDF\r\n\x1a\n", b"\xff" * 8, b"\x00" * 8, b"-1", b"9" * 20,
                b"vars", b"layers", b"1e999"],
    "compose": [b"(", b")", b",", b"=", b"'", b'"', b"[", b"]", b"\n", b"Dense", b"Conv2D", b"input_shape=",
                b"(1,)", b"10**12", b"1e308", b"-", b"*", b"**", b"None", b"True", b"lambda", b"__import__",
                b"\x00", b"\xff", b"\\", b"#", b"9" * 30, b"--input-shape ", b"(((((((("],
}


class Seeds(list):
    """A list of seed files whose repr stays short in hypothesis's messages."""

    def __repr__(self) -> str:
        return f"<{len(self)} seed(s)>"


@st.composite
def mutated(draw, seeds: list[bytes], tokens: list[bytes], max_ops: int = 6) -> bytes:
    """A seed with a few byte-level edits."""
    seeds = Seeds(seeds)
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from([2, 2, 4, 5, 1, 0, 3, 6, 7]))  # the format's tokens twice as often
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[pos % len(data)] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and data:
            data[pos % len(data)] = draw(st.sampled_from(INTERESTING_BYTES))
        elif op == 2:
            data[pos:pos] = draw(st.sampled_from(tokens))
        elif op == 3:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 4:
            del data[pos:pos + draw(st.integers(1, 32))]
        elif op == 5:
            chunk = bytes(data[pos:pos + draw(st.integers(1, 64))])
            data[pos:pos] = chunk * draw(st.integers(1, 4))
        elif op == 6:
            del data[pos:]
        else:
            other = draw(st.sampled_from(seeds))
            data[pos:] = other[draw(st.integers(0, len(other))):]
    return bytes(data)


def _corpus(target: str, suffixes: tuple[str, ...]) -> dict[str, list[bytes]]:
    by_suffix: dict[str, list[bytes]] = {s: [] for s in suffixes}
    for path in corpus_files(target):
        if path.suffix in by_suffix:
            by_suffix[path.suffix].append(path.read_bytes())
    return {s: seeds for s, seeds in by_suffix.items() if seeds}


def from_corpus(target: str, suffixes: tuple[str, ...]) -> st.SearchStrategy:
    """(suffix, a corpus file of that suffix, mutated)."""
    corpus = _corpus(target, suffixes)
    return st.one_of(*[st.tuples(st.just(s), mutated(Seeds(seeds), TOKENS[target]))
                       for s, seeds in sorted(corpus.items())])


def one_in_four(corpus: st.SearchStrategy, built: st.SearchStrategy) -> st.SearchStrategy:
    """A mutated corpus file one time in four, else an input built from the format's parts."""
    return st.integers(0, 3).flatmap(lambda n: corpus if n == 0 else built)


def maybe_mutated(target: str, data: bytes, draw) -> bytes:
    """`data` as it is, or (one time in four) with a few byte-level edits."""
    return draw(mutated([data], TOKENS[target], max_ops=3)) if draw(st.integers(0, 3)) == 0 else data


# ---- values shared by the spec, model and compose strategies ---------------------------------------------------------

NASTY_INTS = [0, 1, -1, 2, 3, 7, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), 10**12, 10**30]
NASTY_STRINGS = ["relu", "softmax", "linear", "tanh", "sigmoid", "same", "valid", "causal", "float64", "float32",
                 "float16", "int32", "uint8", "bool", "glorot_uniform", "zeros", "l2", "l1", "enc:1", "..", "/abs",
                 "a/b", "x\x00y", "\x1b[31m", "é", "x" * 300, "channels_first", "channels_last", "", " ", "mse",
                 "adam", "sgd", "accuracy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                 "digits", "data.csv", "data.npz", "../x.npz", "concat", "sum", "ave", "mul", "horizontal", "nearest"]
LAYER_NAMES = ["Activation", "Add", "AveragePooling1D", "AveragePooling2D", "BatchNormalization", "Bidirectional",
               "Concatenate", "Conv1D", "Conv2D", "Conv2DTranspose", "Cropping2D", "Dense", "Dot", "Dropout", "ELU",
               "Embedding", "Flatten", "GRU", "GlobalAveragePooling1D", "GlobalMaxPooling2D", "InputLayer", "LSTM",
               "LayerNormalization", "LeakyReLU", "MaxPooling1D", "MaxPooling2D", "Maximum", "MultiHeadAttention",
               "Multiply", "Normalization", "PReLU", "RandomCrop", "RandomFlip", "RandomRotation", "RandomZoom",
               "ReLU", "RepeatVector", "Rescaling", "Reshape", "Resizing", "SimpleRNN", "Softmax",
               "SpatialDropout1D", "TimeDistributed", "UpSampling2D", "ZeroPadding2D", "Sequential", "Model",
               "TransformerEncoder", "PositionalEmbedding", "Nope", "dense", "Layer"]
ARG_NAMES = ["units", "activation", "input_shape", "batch_input_shape", "input_dim", "output_dim", "filters",
             "kernel_size", "strides", "padding", "pool_size", "rate", "seed", "noise_shape", "target_shape", "dims",
             "n", "axis", "name", "dtype", "use_bias", "return_sequences", "return_state", "num_heads", "key_dim",
             "trainable", "kernel_initializer", "kernel_regularizer", "layer", "merge_mode", "cropping", "size",
             "height", "width", "scale", "offset", "mean", "variance", "epsilon", "momentum", "negative_slope",
             "alpha", "max_value", "threshold", "data_format", "dilation_rate", "mask_zero", "input_length",
             "sequence_length", "factor", "mode", "batch_shape", "shape", "sparse", "ragged", "groups",
             "recurrent_dropout", "dropout", "go_backwards", "stateful", "unroll", "center", "interpolation"]
TRAINING_KEYS = ["loss", "optimizer", "metrics", "epochs", "batch_size", "validation_split", "shuffle", "data",
                 "seed", "output", "loss_weights", "inputs"]

ints = st.one_of(st.integers(-3, 40), st.sampled_from(NASTY_INTS))
leaves = st.one_of(st.none(), st.booleans(), ints, st.floats(), st.sampled_from(NASTY_STRINGS),
                   st.text(max_size=6))
keys = st.one_of(st.sampled_from(ARG_NAMES), st.text(max_size=4))
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
dims = st.one_of(st.integers(1, 6), st.none(), st.sampled_from([0, -1, 10**6, 2**40, 1.5, "8"]))
shapes = st.lists(dims, min_size=0, max_size=4)


# ---- plausible layer stacks: mostly valid, then one or two arguments made nasty --------------------------------------

small = st.integers(1, 4)
ACTIVATIONS = st.sampled_from(["relu", "tanh", "sigmoid", "softmax", "linear", "gelu", "selu", "elu", "swish", None])
COMMON = {"name": st.sampled_from(["a", "b2", "enc:1", "x/y", "..", "é", "a b", "\x1b[2J", "x" * 80]),
          "dtype": st.sampled_from(["float32", "float64", "float16", "int32", "mixed_float16"]),
          "trainable": st.booleans(),
          "kernel_initializer": st.sampled_from(["zeros", "ones", "he_normal", "orthogonal"]),
          "kernel_regularizer": st.sampled_from(["l1", "l2", {"class_name": "L2", "config": {"l2": 0.1}}])}
FLAT, SEQ, IMG = "flat", "seq", "img"
INPUT_SHAPES = {FLAT: [[4], [3], [1]], SEQ: [[5, 3], [4, 2], [1, 1]], IMG: [[6, 6, 2], [5, 5, 1], [8, 4, 3]]}
# name: (input families it takes (None: any), the family it leaves (None: unchanged), argument strategies)
TEMPLATES = {
    "Dense": (None, None, {"units": small, "activation": ACTIVATIONS, "use_bias": st.booleans()}),
    "Dropout": (None, None, {"rate": st.floats(0, 0.9), "seed": st.integers(0, 9)}),
    "Activation": (None, None, {"activation": ACTIVATIONS}),
    "BatchNormalization": (None, None, {"momentum": st.floats(0, 1), "axis": st.sampled_from([-1, 1])}),
    "LayerNormalization": (None, None, {"epsilon": st.floats(1e-6, 1), "rms_scaling": st.booleans()}),
    "ReLU": (None, None, {"max_value": st.sampled_from([None, 6.0])}),
    "LeakyReLU": (None, None, {"negative_slope": st.floats(0, 1)}),
    "ELU": (None, None, {}), "PReLU": (None, None, {}), "Softmax": (None, None, {"axis": st.sampled_from([-1, 1])}),
    "Rescaling": (None, None, {"scale": st.floats(-2, 2), "offset": st.floats(-1, 1)}),
    "Flatten": (None, FLAT, {}),
    "Reshape": (None, SEQ, {"target_shape": st.sampled_from([[2, 2], [1, -1], [4, 1], [-1, 2]])}),
    "RepeatVector": ({FLAT}, SEQ, {"n": small}),
    "Embedding": ({FLAT}, SEQ, {"input_dim": st.integers(1, 20), "output_dim": small, "mask_zero": st.booleans()}),
    "Conv1D": ({SEQ}, SEQ, {"filters": small, "kernel_size": small,
                            "padding": st.sampled_from(["valid", "same", "causal"]),
                            "strides": st.integers(1, 2), "dilation_rate": st.integers(1, 2)}),
    "MaxPooling1D": ({SEQ}, SEQ, {"pool_size": st.integers(1, 3)}),
    "AveragePooling1D": ({SEQ}, SEQ, {"pool_size": st.integers(1, 3), "padding": st.sampled_from(["valid", "same"])}),
    "GlobalAveragePooling1D": ({SEQ}, FLAT, {}), "GlobalMaxPooling1D": ({SEQ}, FLAT, {}),
    "SpatialDropout1D": ({SEQ}, SEQ, {"rate": st.floats(0, 0.9)}),
    "SimpleRNN": ({SEQ}, SEQ, {"units": small, "return_sequences": st.just(True)}),
    "LSTM": ({SEQ}, FLAT, {"units": small, "go_backwards": st.booleans()}),
    "GRU": ({SEQ}, SEQ, {"units": small, "return_sequences": st.just(True), "reset_after": st.booleans()}),
    "Bidirectional": ({SEQ}, FLAT, {"layer": st.builds(lambda u: {"class_name": "LSTM", "config": {"units": u}}, small),
                                    "merge_mode": st.sampled_from(["concat", "sum", "ave", "mul"])}),
    "TimeDistributed": ({SEQ}, SEQ, {"layer": st.builds(lambda u: {"class_name": "Dense", "config": {"units": u}},
                                                        small)}),
    "Conv2D": ({IMG}, IMG, {"filters": small, "kernel_size": st.integers(1, 3),
                            "padding": st.sampled_from(["valid", "same"]),
                            "strides": st.integers(1, 2), "activation": ACTIVATIONS}),
    "Conv2DTranspose": ({IMG}, IMG, {"filters": small, "kernel_size": st.integers(1, 3), "strides": st.integers(1, 2)}),
    "MaxPooling2D": ({IMG}, IMG, {"pool_size": st.integers(1, 2)}),
    "AveragePooling2D": ({IMG}, IMG, {"pool_size": st.integers(1, 2), "padding": st.sampled_from(["valid", "same"])}),
    "UpSampling2D": ({IMG}, IMG, {"size": st.integers(1, 2),
                                  "interpolation": st.sampled_from(["nearest", "bilinear"])}),
    "ZeroPadding2D": ({IMG}, IMG, {"padding": st.sampled_from([1, [1, 2], [[1, 0], [0, 1]]])}),
    "Cropping2D": ({IMG}, IMG, {"cropping": st.sampled_from([1, [1, 0], [[1, 0], [0, 1]]])}),
    "GlobalAveragePooling2D": ({IMG}, FLAT, {}), "GlobalMaxPooling2D": ({IMG}, FLAT, {}),
    "SpatialDropout2D": ({IMG}, IMG, {"rate": st.floats(0, 0.9)}),
    "RandomFlip": ({IMG}, IMG, {"mode": st.sampled_from(["horizontal", "vertical", "horizontal_and_vertical"])}),
    "RandomCrop": ({IMG}, IMG, {"height": small, "width": small}),
    "RandomRotation": ({IMG}, IMG, {"factor": st.floats(0, 0.5)}),
    "RandomZoom": ({IMG}, IMG, {"height_factor": st.floats(-0.5, 0.5)}),
    "RandomContrast": ({IMG}, IMG, {"factor": st.floats(0, 0.9)}),
    "Resizing": ({IMG}, IMG, {"height": small, "width": small}),
    "Normalization": (None, None, {"axis": st.sampled_from([-1, None])}),
    "PositionalEmbedding": ({SEQ}, SEQ, {"sequence_length": st.integers(1, 8)}),
    "TransformerEncoder": ({SEQ}, SEQ, {"intermediate_dim": small, "num_heads": st.integers(1, 2)}),
}
REQUIRED = {"units", "filters", "kernel_size", "rate", "activation", "n", "input_dim", "output_dim", "layer", "height",
            "width", "factor", "height_factor", "target_shape", "sequence_length", "intermediate_dim", "num_heads",
            "scale"}
NASTY_VALUES = st.one_of(st.sampled_from(NASTY_INTS), st.floats(), st.sampled_from(NASTY_STRINGS), st.none(),
                         st.booleans(), st.lists(st.sampled_from([0, -1, 2, None, "a", 1.5, 10**12]), max_size=3))


@st.composite
def plausible_stack(draw) -> tuple[list, list[tuple[str, dict]]]:
    """(input shape, [(layer name, arguments)]): a stack whose shapes mostly fit, with a few nasty arguments."""
    family = draw(st.sampled_from([FLAT, SEQ, IMG]))
    shape = draw(st.sampled_from(INPUT_SHAPES[family]))
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        names = sorted(n for n, (takes, _, _) in TEMPLATES.items() if takes is None or family in takes)
        name = draw(st.sampled_from(names))
        _, leaves_family, args = TEMPLATES[name]
        config = {k: draw(v) for k, v in args.items() if k in REQUIRED or draw(st.integers(0, 2)) == 0}
        if draw(st.integers(0, 5)) == 0:
            key = draw(st.sampled_from(sorted(COMMON)))
            config[key] = draw(COMMON[key])
        layers.append((name, config))
        family = leaves_family or family
    for _ in range(draw(st.integers(0, 2))):  # a nasty argument
        name, config = layers[draw(st.integers(0, len(layers) - 1))]
        key = draw(st.one_of(st.sampled_from(sorted(TEMPLATES[name][2]) or ["units"]), st.sampled_from(ARG_NAMES)))
        config[key] = draw(NASTY_VALUES)
    if draw(st.integers(0, 4)) == 0:
        shape = draw(shapes)
    return shape, layers


# ---- spec ------------------------------------------------------------------------------------------------------------

layer_configs = st.dictionaries(st.sampled_from(ARG_NAMES), st.one_of(leaves, shapes, values), max_size=4)


@st.composite
def layer_items(draw, first: bool = False):
    name = draw(st.sampled_from(LAYER_NAMES))
    config = draw(layer_configs)
    if first and draw(st.booleans()):
        config["input_shape"] = draw(st.one_of(st.lists(st.integers(1, 6), min_size=1, max_size=3), shapes))
    form = draw(st.integers(0, 4))
    if form == 0:
        return name
    if form == 1:
        return {name: config or None}
    if form == 2:
        return {"class_name": name, "config": config}
    if form == 3:
        return {name: config, "name": draw(st.sampled_from(NASTY_STRINGS))}
    return draw(values)


@st.composite
def graph_models(draw):
    inputs = draw(st.dictionaries(st.sampled_from(["a", "b", "x", "", "a/b"]), shapes, min_size=0, max_size=2))
    names = list(inputs) + ["h", "o"]
    layers = []
    for i in range(draw(st.integers(0, 4))):
        item = draw(layer_items())
        if isinstance(item, dict):
            item = dict(item)
            if draw(st.booleans()):
                item["name"] = draw(st.sampled_from(["h", "o", f"l{i}", "a"]))
            item["inputs"] = draw(st.one_of(st.sampled_from(names), st.lists(st.sampled_from(names), max_size=3)))
        layers.append(item)
    graph = {"inputs": inputs, "layers": layers, "outputs": draw(st.lists(st.sampled_from(names + ["l0"]), max_size=2))}
    if draw(st.booleans()):
        graph = {k: v for k, v in graph.items() if draw(st.booleans())}
    return graph


@st.composite
def training_sections(draw):
    fields = {}
    for key in draw(st.lists(st.sampled_from(TRAINING_KEYS + ["epoch"]), max_size=5, unique=True)):
        fields[key] = draw(st.one_of(leaves, values,
                                     st.fixed_dictionaries({"name": st.sampled_from(NASTY_STRINGS)},
                                                           optional={"learning_rate": st.one_of(st.floats(), ints)})))
    return fields


@st.composite
def spec_documents(draw):
    kind = draw(st.sampled_from([0, 1, 2, 3, 4, 4, 4, 4, 4, 4]))
    if kind == 4:
        shape, stack = draw(plausible_stack())
        model = [{name: dict(config)} for name, config in stack]
        first = model[0][stack[0][0]]
        if draw(st.integers(0, 5)):
            first["input_shape"] = shape
        elif draw(st.booleans()):
            model.insert(0, {"InputLayer": {"shape": shape}})
        if draw(st.integers(0, 3)) == 0:
            model = {"class_name": "Sequential", "config": {"layers": [
                {"class_name": n, "config": c} for item in model for n, c in item.items()]}}
    elif kind == 0:
        model = [draw(layer_items(first=True))] + draw(st.lists(layer_items(), max_size=4))
    elif kind == 1:
        model = {"class_name": "Sequential",
                 "config": {"name": draw(st.sampled_from(NASTY_STRINGS)),
                            "layers": [draw(layer_items(first=True))] + draw(st.lists(layer_items(), max_size=3))}}
    elif kind == 2:
        model = draw(graph_models())
    else:
        model = draw(values)
    doc = {"model": model}
    if draw(st.booleans()):
        doc["training"] = draw(training_sections())
    if draw(st.integers(0, 3)) == 0:
        doc[draw(st.sampled_from(["name", "description", "name", "description", "modle"]))] = draw(leaves)
    return draw(st.one_of(st.just(doc), values)) if draw(st.integers(0, 9)) == 0 else doc


@st.composite
def spec_inputs(draw):
    import yaml

    doc = draw(spec_documents())
    suffix = draw(st.sampled_from([".yaml", ".json"]))
    if suffix == ".json":
        text = json.dumps(doc)
    else:
        text = yaml.safe_dump(doc, default_flow_style=draw(st.booleans()), allow_unicode=draw(st.booleans()))
    return suffix, maybe_mutated("spec", text.encode("utf-8", "surrogatepass"), draw)


def spec_strategy() -> st.SearchStrategy:
    return one_in_four(from_corpus("spec", (".yaml", ".json")), spec_inputs())


# ---- compose ---------------------------------------------------------------------------------------------------------

literals = st.recursive(
    st.one_of(ints, st.floats(allow_nan=False), st.sampled_from(NASTY_STRINGS), st.text(max_size=4), st.booleans(),
              st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple)), max_leaves=6)


@st.composite
def expressions(draw) -> str:
    name = draw(st.sampled_from(LAYER_NAMES))
    if draw(st.integers(0, 4)) == 0:
        return name
    args = [repr(a) for a in draw(st.lists(literals, max_size=2))]
    args += [f"{k}={v!r}" for k, v in draw(st.dictionaries(st.sampled_from(ARG_NAMES), literals, max_size=3)).items()]
    return f"{name}({', '.join(args)})"


def _call(name: str, args: list, kwargs: dict) -> str:
    return f"{name}({', '.join([repr(a) for a in args] + [f'{k}={v!r}' for k, v in kwargs.items()])})"


@st.composite
def plausible_expressions(draw) -> tuple[list[str], str | None]:
    shape, stack = draw(plausible_stack())
    lines = []
    for name, config in stack:
        config = {k: tuple(v) if isinstance(v, list) and draw(st.booleans()) else v for k, v in config.items()}
        first = list(config)[:draw(st.integers(0, 1))]
        positional = [config.pop(k) for k in first if k in ("units", "filters", "rate")]
        lines.append(_call(name, positional, config) if config or positional or draw(st.booleans()) else name)
    shape_text = ",".join("None" if d is None else str(d) for d in shape) if isinstance(shape, list) else None
    return lines, shape_text


@st.composite
def compose_inputs(draw):
    if draw(st.integers(0, 2)):
        lines, shape = draw(plausible_expressions())
    else:
        lines = draw(st.lists(expressions(), min_size=1, max_size=4))
        shape = draw(st.one_of(st.none(), st.sampled_from(["8,8,1", "4", "3,5", "6x6x2", "(5,)", "None,4", "0",
                                                           "2,2,2,2"]), st.text(min_size=1, max_size=6)))
    if shape is not None:
        lines.insert(0, "--input-shape " + shape)
    text = "\n".join(lines) + "\n"
    return ".txt", maybe_mutated("compose", text.encode("utf-8", "surrogatepass"), draw)


def compose_strategy() -> st.SearchStrategy:
    return one_in_four(from_corpus("compose", (".txt",)), compose_inputs())


