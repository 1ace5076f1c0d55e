"""The graph examples: each trains from its spec with `dl train` and from Python, and the two agree."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import datasets, models, spec

pytest.importorskip("dl_datasets")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _python_example(name):
    module_spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _train_from_cli(name, tmp_path):
    from dl_cli.main import cli

    out = tmp_path / f"{name}.dl"
    result = CliRunner().invoke(cli, ["train", str(EXAMPLES / f"{name}.yaml"), "--output", str(out)])
    assert result.exit_code == 0, result.output
    return result.stdout, models.load_model(out)


@pytest.mark.parametrize("name", ["wine_two_branch", "digits_multihead", "digits_inception"])
def test_spec_and_python_build_the_same_model(name):
    from_spec = spec.build_model(spec.load_spec(EXAMPLES / f"{name}.yaml"))
    from_python = _python_example(name).build_model()
    assert from_spec.get_config()["layers"] == from_python.get_config()["layers"]
    from_python.set_weights(from_spec.get_weights())
    rng = np.random.default_rng(0)
    x = {n: rng.standard_normal((5,) + t.shape[1:]).astype(np.float32)
         for n, t in zip(from_spec.input_names, from_spec.inputs)}
    if len(x) == 1:
        x = next(iter(x.values()))
    a, b = from_spec.predict(x, verbose=0), from_python.predict(x, verbose=0)
    for key in (a if isinstance(a, dict) else [None]):
        np.testing.assert_array_equal(a[key] if key else a, b[key] if key else b)


def test_wine_two_branch_trains_from_the_shell(tmp_path):
    out, model = _train_from_cli("wine_two_branch", tmp_path)
    assert float(re.search(r"test \(36 samples\): .*accuracy: ([0-9.]+)", out).group(1)) >= 0.9
    (_, _), (x_test, y_test) = datasets.load_data("wine", normalize=True)
    _, acc = model.evaluate({"composition": x_test[:, :7], "phenols_color": x_test[:, 7:]}, y_test, verbose=0)
    assert acc >= 0.9


def test_digits_multihead_trains_both_heads_from_the_shell(tmp_path):
    out, model = _train_from_cli("digits_multihead", tmp_path)
    assert "digit_loss" in out and "even_loss" in out
    (_, _), (x_test, y_test) = datasets.load_data("digits", parity=True)
    logs = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert logs["digit_accuracy"] >= 0.95 and logs["even_accuracy"] >= 0.95
    assert logs["loss"] == pytest.approx((logs["digit_loss"] + logs["even_loss"]) / 2, rel=1e-5)


def test_python_examples_run(capsys):
    _python_example("wine_two_branch").main()
    acc = float(re.search(r"test accuracy: ([0-9.]+)", capsys.readouterr().out).group(1))
    assert acc >= 0.9


@pytest.mark.slow
def test_digits_inception_reaches_97_percent_from_the_shell(tmp_path):
    out, model = _train_from_cli("digits_inception", tmp_path)
    (_, _), (x_test, y_test) = datasets.load_data("digits")
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc >= 0.97
    assert "Concatenate" in out and "branch_pool_proj[0][0]" in out  # the summary shows the block's wiring
