"""Hostile specs and arguments end in exit code 2 and one line naming the file and field, within bounded
time and memory (issue 14, items 7, 8 and 11): YAML alias bombs, deep nesting, huge integers, layers too big
for the machine, Dropout's seed and noise_shape, and DL_STRATEGY=mpi without MPI."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import distribute, hookimpl, layers, spec
from corelib.errors import ConfigError, DataError, PluginError, ShapeError, UnknownComponentError, short_repr
from corelib.registry import Registry, use_registry
from dl_cli.main import cli

pytest.importorskip("corelib.builtin.plugin")


@pytest.fixture
def builtin_registry():
    with use_registry(Registry(entry_points=False)) as reg:
        yield reg


def run(*args):
    return CliRunner().invoke(cli, list(args))


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def billion_laughs(levels: int = 9) -> str:
    """A ~400-byte YAML whose `description` expands to 9**levels strings."""
    lines = ["model:", "  - Dense: {units: 1}", "description:", "  - &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for previous, name in zip("abcdefghijklmnop", "bcdefghijklmnopq"[:levels - 1]):
        lines.append(f"  - &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# -- error messages render values in bounded time ----------------------------------------------------------

class Counted:
    calls = 0

    def __repr__(self) -> str:
        Counted.calls += 1
        return "c"


def test_short_repr_renders_only_what_it_shows():
    Counted.calls = 0
    assert short_repr([Counted()] * 1000) == ("[" + ", ".join(["c"] * 1000))[:57] + "..."
    assert Counted.calls < 25  # repr() of the list would call all 1000


def test_short_repr_of_an_alias_bomb_a_self_containing_list_and_a_huge_int():
    bomb = ["lol"] * 9
    for _ in range(40):  # 9**41 strings, were it walked
        bomb = [bomb] * 9
    assert short_repr(bomb).startswith("[[[[") and short_repr(bomb).endswith("...")
    loop: list = [1]
    loop.append(loop)
    assert short_repr(loop) == "[1, [...]]"
    assert short_repr(10**5000) == "<an int of about 5001 digits>"  # repr() raises ValueError past 4300 digits
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert short_repr(nested, limit=500) == "[" * 100 + "..." + "]" * 100  # no RecursionError


@pytest.mark.parametrize("value", [1, -2.5, "abc", "it's", None, True, [1, (2,)], (), (1,), {"a": [1, {2}]},
                                   set(), frozenset({3}), {1: "x" * 80}, list(range(40)), b"\x00", np.float32(1)])
def test_short_repr_is_repr_up_to_the_cut(value):
    text = repr(value)
    assert short_repr(value) == (text if len(text) <= 60 else text[:57] + "...")


def test_argument_checks_show_a_bounded_value():
    bomb = [["x"] * 9] * 9
    for _ in range(30):
        bomb = [bomb] * 9
    with pytest.raises(ConfigError, match=r"units must be a positive int. Received: units=\[\[\[.*\.\.\.$"):
        layers.Dense(bomb)


# -- YAML aliases ------------------------------------------------------------------------------------------

def test_a_billion_laughs_spec_is_refused_at_load_naming_the_line(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs())
    assert len(path.read_bytes()) < 500
    with pytest.raises(spec.SpecError, match=r"^laughs.yaml: line \d+, column \d+: description\[\d\]\[\d\]: aliases "
                                             r"\(\*name\) repeat more than 100,000 values"):
        spec.load_spec(path)


def test_dl_train_refuses_a_billion_laughs_spec_with_one_line(tmp_path):
    (tmp_path / "laughs.yaml").write_text(billion_laughs())

    def limit_memory():  # before the fix the run grows without end: keep it from taking the machine
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    try:
        done = subprocess.run([sys.executable, "-m", "dl_cli", "train", "laughs.yaml"], cwd=tmp_path, text=True,
                              capture_output=True, timeout=60, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail("dl train hung on a billion-laughs spec")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: laughs.yaml: line ") and "aliases (*name) repeat more than" in line


def test_small_anchors_still_work(tmp_path, builtin_registry):
    path = tmp_path / "s.yaml"
    path.write_text("model:\n  - Dense: &h {units: 4, activation: relu, input_shape: [3]}\n"
                    "  - Dense: {<<: *h, input_shape: [4]}\n  - Dense: {units: 2}\n"
                    "training: {loss: mse, metrics: &m [mae], optimizer: {name: adam}}\n")
    s = spec.load_spec(path)
    assert s.layers[1]["config"]["units"] == 4 and s.training.metrics == ["mae"]
    assert spec.build_model(s).output_shape == (None, 2)


def test_an_alias_inside_its_own_value_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: &m [Flatten, *m]\n")
    with pytest.raises(spec.SpecError, match=r"^s.yaml: line 1, column 21: model\[1\]: an alias inside the value"):
        spec.load_spec(path)


# -- nesting and integers ----------------------------------------------------------------------------------

DEEP = 100_000


@pytest.mark.parametrize("name, text, expected", [
    ("deep.yaml", "model:\n  - Dense: {units: " + "[" * DEEP + "]" * DEEP + "}\n",
     r"deep.yaml: line 2, column 116: model\[0\]\.Dense\.units\[0\].*: lists and mappings nested more than 100"),
    ("deep.json", '{"model": [{"Dense": {"units": ' + "[" * DEEP + "]" * DEEP + "}}]}",
     r"deep.json: line 1, column 128: lists and mappings nested more than 100 levels deep"),
    ("deep2.json", '{"model": [{"Dense": {"units": ' + "[" * 200 + "]" * 200 + "}}]}",
     r"deep2.json: model\[0\]\.Dense\.units\[0\].*\[0\]: lists and mappings nested more than 100 levels deep"),
    ("deep.yml", "model: " + "{a: " * 300 + "1" + "}" * 300 + "\n",
     r"deep.yml: line 1, column 404: model(\.a)+\.\.\.(\.?a)+: lists and mappings nested more than 100"),
    ("digits.yaml", "model:\n  - Dense: {units: " + "7" * 5000 + ", input_shape: [3]}\n",
     r"digits.yaml: line 2, column 20: model\[0\]\.Dense\.units: an integer of 5000 digits; a spec's integers "
     r"have at most 100"),
    ("digits.json", '{"model": [{"Dense": {"units": -' + "7" * 5000 + ', "input_shape": [3]}}]}',
     r"digits.json: model\[0\]\.Dense\.units: an integer of 5000 digits"),
    ("hex.yaml", "model: [Flatten]\ntraining: {seed: 0x" + "f" * 200 + "}\n",
     r"hex.yaml: line 2, column 18: training\.seed: an integer of 202 digits"),
])
def test_deep_nesting_and_huge_integers_name_the_file_and_field(tmp_path, builtin_registry, name, text, expected):
    (tmp_path / name).write_text(text)
    with pytest.raises(spec.SpecError, match="^" + expected):
        spec.load_spec(tmp_path / name)
    line = error_line(run("summary", str(tmp_path / name)))
    assert name in line


def test_long_but_reasonable_integers_and_nesting_load(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"model": ["Flatten"], "training": {"seed": 10**99},
                                                 "description": None, "name": "n"}))
    assert spec.load_spec(tmp_path / "s.json").training.seed == 10**99


# -- layers too big for the machine ------------------------------------------------------------------------

def test_a_layer_bigger_than_the_machine_is_exit_2_naming_the_layer(tmp_path, builtin_registry):
    (tmp_path / "s.yaml").write_text("model:\n  - Dense: {units: 100000000000000, input_shape: [3]}\n")
    line = error_line(run("summary", str(tmp_path / "s.yaml")))
    assert line.startswith("Error: s.yaml: model[0] (Dense): Dense 'dense': weight 'kernel' of shape "
                           "(3, 100000000000000) needs 1200000000000000 bytes, more than the ")


def test_build_model_checks_the_weights_against_a_limit(tmp_path, builtin_registry):
    (tmp_path / "s.yaml").write_text("model:\n  - Dense: {units: 100, input_shape: [10]}\n  - Dense: {units: 1}\n")
    s = spec.load_spec(tmp_path / "s.yaml")
    assert spec.build_model(s, max_weight_bytes=5000).count_params() == 1201
    with pytest.raises(spec.SpecError, match=r"^s.yaml: model\[1\] \(Dense\): .* needs 400 bytes, more than the 0 "
                                                 r"bytes left of max_weight_bytes$"):
        spec.build_model(s, max_weight_bytes=4400)


def test_a_weight_the_machine_cannot_allocate_is_a_config_error(builtin_registry):
    with pytest.raises(ConfigError, match=r"Dense 'dense': weight 'kernel' of shape \(3, 100000000000000\) needs "
                                          r"1200000000000000 bytes .* more than this machine can allocate"):
        layers.Dense(10**14).ensure_built((None, 3))


def test_summary_model_of_a_huge_spec_allocates_nothing(tmp_path, builtin_registry):
    import tracemalloc

    (tmp_path / "s.yaml").write_text("model:\n  - Dense: {units: 50000000}\n  - Dense: {units: 2}\n")
    s = spec.load_spec(tmp_path / "s.yaml")
    tracemalloc.start()
    try:
        model = spec.build_model(s, allocate=False, input_shape=[3])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert model.count_params() == 300_000_002 and model.output_shape == (None, 2)
    assert peak < 20 * 2**20  # the kernel alone would be 600 MB


# -- Dropout's arguments -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argument, expected", [
    ("seed: abc", "seed must be a non-negative int. Received: seed='abc'"),
    ("seed: -1", "seed must be a non-negative int. Received: seed=-1"),
    ("seed: 1.5", "seed must be a non-negative int. Received: seed=1.5"),
    ("noise_shape: [abc]", "noise_shape must be a list of positive ints or None. Received: noise_shape=['abc']"),
    ("noise_shape: abc", "noise_shape must be a list of positive ints or None. Received: noise_shape='abc'"),
    ("noise_shape: [0, 2]", "noise_shape must be a list of positive ints or None. Received: noise_shape=[0, 2]"),
])
def test_dropout_seed_and_noise_shape_from_a_spec_are_exit_2_naming_the_field(tmp_path, builtin_registry,
                                                                             argument, expected):
    (tmp_path / "s.yaml").write_text(f"model:\n  - Dense: {{units: 2, input_shape: [3]}}\n"
                                     f"  - Dropout: {{rate: 0.5, {argument}}}\n")
    line = error_line(run("summary", str(tmp_path / "s.yaml")))
    assert line == f"Error: s.yaml: model[1] (Dropout): Dropout 'dropout': {expected}"


def test_dropout_layers_check_seed_and_noise_shape():
    assert layers.Dropout(0.5, noise_shape=(None, 1, 4), seed=7).get_config()["noise_shape"] == [None, 1, 4]
    with pytest.raises(ConfigError, match=r"SpatialDropout2D 'spatial_dropout2d': seed must be a non-negative int"):
        layers.SpatialDropout2D(0.5, seed="abc")
    with pytest.raises(ConfigError, match="noise_shape must be"):
        layers.Dropout(0.5, noise_shape=[True])


# -- DL_STRATEGY without its plugin or its library ---------------------------------------------------------

@pytest.fixture
def strategy_afresh(monkeypatch):
    for var in ("DL_STRATEGY", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    distribute.set_strategy(None)
    yield
    distribute.set_strategy(None)


class NoLibrary(distribute.Strategy):
    def __init__(self) -> None:
        raise RuntimeError("cannot load MPI library\nlibmpi.so: cannot open shared object file")


class NoModule(distribute.Strategy):
    def __init__(self) -> None:
        import mpi4py_is_not_installed  # noqa: F401


class Plugin:
    @hookimpl
    def register_strategies(self, register):
        register(NoLibrary, aliases=("mpi",))
        register(NoModule, aliases=("other",))


def test_dl_train_with_dl_strategy_mpi_and_no_plugin_says_what_to_install(tmp_path, monkeypatch, builtin_registry,
                                                                         strategy_afresh):
    (tmp_path / "s.yaml").write_text("model:\n  - Dense: {units: 1, input_shape: [2]}\n"
                                     "training: {loss: mse, data: d.csv}\n")
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,3\n4,5,6\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DL_STRATEGY", "mpi")
    line = error_line(run("train", "s.yaml"))
    assert line.startswith("Error: DL_STRATEGY=mpi: Unknown strategy: 'mpi'.")
    assert line.endswith("It comes with the plugin dl-mpi: pip install 'dl-mpi[mpich]' (or dl-mpi with your "
                         "system's MPI library)")
    assert not (tmp_path / "s.dl").exists()


def test_a_strategy_whose_library_is_missing_says_what_to_install(monkeypatch, strategy_afresh):
    reg = Registry(builtin=False, entry_points=False)
    reg.register_plugin(Plugin(), name="fake-mpi")
    with use_registry(reg):
        monkeypatch.setenv("DL_STRATEGY", "mpi")
        with pytest.raises(PluginError, match=r"^DL_STRATEGY=mpi: The strategy 'mpi' cannot start \(RuntimeError: "
                                              r"cannot load MPI library libmpi.so: cannot open shared object file\); "
                                              r"install what it needs: pip install 'dl-mpi\[mpich\]'"):
            distribute.get_strategy()
        with pytest.raises(PluginError, match=r"^The strategy 'other' cannot start \(ModuleNotFoundError: .*\); "
                                              r"install what it needs: pip install mpi4py_is_not_installed$"):
            distribute.get("other")
    with use_registry(Registry(builtin=False, entry_points=False)):
        with pytest.raises(UnknownComponentError, match="It comes with the plugin dl-mpi"):
            distribute.get("MPIStrategy")


# ---- fuzz findings (issue 14, item 16): arguments checked for type and range when the layer is made ------------

@pytest.mark.parametrize("make, message", [
    (lambda: layers.RepeatVector(2**31), r"RepeatVector 'r': n must be at most 2147483647. Received: n=2147483648"),
    (lambda: layers.RepeatVector(2**63), r"n must be at most 2147483647"),
    (lambda: layers.RandomCrop(2**31, 1), r"RandomCrop 'r': height must be at most 2147483647"),
    (lambda: layers.RandomCrop(1, 2**63 - 1), r"RandomCrop 'r': width must be at most 2147483647"),
    (lambda: layers.Resizing(2**31, 1), r"Resizing 'r': height must be at most 2147483647"),
    (lambda: layers.UpSampling2D(2**31), r"UpSampling2D 'r': size must be at most 2147483647"),
    (lambda: layers.ZeroPadding2D(2**31), r"ZeroPadding2D 'r': padding must be at most 2147483647 on each side"),
    (lambda: layers.Reshape([2**31]), r"Reshape 'r': target_shape must be a tuple of positive ints \(at most"),
    (lambda: layers.Reshape("84"), r"Reshape 'r': target_shape must be a tuple of positive ints"),
])
def test_a_size_argument_past_2_to_the_31_is_refused_when_the_layer_is_made(make, message):
    with pytest.raises(ConfigError, match=message.replace("'r'", "'[a-z_0-9]+'")):
        make()


def test_a_layer_whose_one_sample_output_cannot_fit_is_refused_when_built():
    with pytest.raises(ShapeError, match=r"RepeatVector '.*': its output \(None, 2147483647, 4\) holds 8589934588 "
                                         r"values \(34359738352 bytes\) per sample, more than 2147483647 values"):
        layers.RepeatVector(2**31 - 1, input_shape=(4,)).ensure_built((None, 4))
    with pytest.raises(ShapeError, match=r"RandomCrop '.*': its output \(None, 65536, 65536, 2\) holds"):
        layers.RandomCrop(2**16, 2**16).ensure_built((None, 6, 6, 2))


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_input_shape": "relu"}, r"batch_input_shape must be a list of positive ints or None. "
                                    r"Received: batch_input_shape='relu'"),
    ({"batch_input_shape": [None, 0]}, r"batch_input_shape must be a list of positive ints or None"),
    ({"batch_input_shape": [None, 2**31]}, r"batch_input_shape must be a list of positive ints or None, each at most"),
    ({"batch_input_shape": []}, r"batch_input_shape needs the batch axis at least"),
    ({"input_shape": "84"}, r"input_shape must be a tuple of ints. Received: input_shape='84'"),
    ({"input_shape": [2**31]}, r"input_shape dimensions must be at most 2147483647"),
])
def test_a_shape_that_is_a_string_or_past_2_to_the_31_is_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        layers.Activation("relu", **kwargs)


def test_input_layer_batch_shape_as_a_string_is_refused():
    with pytest.raises(ConfigError, match=r"batch_input_shape must be a list of positive ints or None"):
        layers.InputLayer(batch_shape="relu")


def test_reshape_of_a_sample_of_unknown_size_that_does_not_fit_is_a_shape_error():
    layer = layers.Reshape([2, 2])
    layer.ensure_built((None, None))
    assert layer(np.zeros((2, 4))).shape == (2, 2, 2)
    with pytest.raises(ShapeError, match=r"Reshape '.*' expects 4 entries per sample for target_shape \(2, 2\), "
                                         r"received shape \(None, 3\) \(3 entries\)"):
        layer(np.zeros((2, 3)))


def test_a_data_path_too_long_to_look_up_is_one_line_naming_the_field(tmp_path, builtin_registry):
    (tmp_path / "s.yaml").write_text("model:\n  - Dense: {units: 1, input_shape: [1]}\n"
                                     f"training: {{data: {'x' * 300}}}\n")
    with pytest.raises(spec.SpecError, match=r"s.yaml: training.data cannot be looked up as a file "
                                             r"\(File name too long\): 'xxx"):
        spec.load_spec(tmp_path / "s.yaml")


def test_a_data_file_name_too_long_is_a_data_error(tmp_path):
    from corelib.spec import files

    with pytest.raises(DataError, match=r"x\.csv: cannot be read \(File name too long\)"):
        files.load(tmp_path / ("x" * 300 + ".csv"))


def test_a_layer_with_several_outputs_followed_by_another_in_a_sequential_spec_is_refused(tmp_path, builtin_registry):
    gru = "GRU: {units: 1, return_sequences: true, return_state: true"
    (tmp_path / "s.yaml").write_text(f"model:\n  - {gru}, input_shape: [5, 3]}}\n  - Activation: {{activation: relu}}\n")
    message = (r"Layer '.*' \(Activation\) cannot follow layer '.*' \(GRU\) in a Sequential: '.*' has 2 outputs "
               r"\[\(None, 5, 1\), \(None, 1\)\]")
    with pytest.raises(spec.SpecError, match=r"s.yaml: model\[1\] \(Activation\): " + message):
        spec.build_model(spec.load_spec(tmp_path / "s.yaml"))
    (tmp_path / "t.yaml").write_text(f"model:\n  - {gru}}}\n  - Activation: {{activation: relu}}\n")
    with pytest.raises(spec.SpecError, match=r"t.yaml: model: " + message):  # built for the data's shape
        spec.build_model(spec.load_spec(tmp_path / "t.yaml"), input_shape=[5, 3])
    (tmp_path / "u.yaml").write_text(f"model:\n  - Dense: {{units: 3, input_shape: [5, 3]}}\n  - {gru}}}\n")
    assert spec.build_model(spec.load_spec(tmp_path / "u.yaml")).built  # last: its outputs are the model's


@pytest.mark.parametrize("text, problem", [('a: "\\U10010000"', "chr() arg not in range(0x110000)"),
                                           ("a: 2001-13-01", "month must be in 1..12")])
def test_a_yaml_value_pyyaml_cannot_make_is_invalid_yaml(tmp_path, text, problem):
    (tmp_path / "s.yaml").write_text(text + "\n")
    with pytest.raises(spec.SpecError, match=rf"^s.yaml: invalid YAML: {problem.replace('(', '.').replace(')', '.')}$"):
        spec.load_spec(tmp_path / "s.yaml")


def test_normalization_naming_an_axis_twice_is_refused():
    for axis in ([-1, -1], [2, -1]):
        with pytest.raises(ShapeError, match=r"Normalization '.*' has axis=\(.*\), which names an axis of the input "
                                             r"twice; received shape \(None, 5, 3\)"):
            layers.Normalization(axis=axis).ensure_built((None, 5, 3))
