"""The digit_strings data set and the CTC example model learning to read it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import corelib
from corelib import datasets

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digit_strings_ctc.yaml"


@pytest.fixture(scope="module")
def plugin():
    pytest.importorskip("dl_datasets")
    pytest.importorskip("sklearn")


def test_digit_strings_are_real_digits_side_by_side(plugin):
    from sklearn.datasets import load_digits

    (x, y), (xt, yt) = datasets.load_data("digit_strings", n_train=50, n_test=20)
    assert x.shape == (50, 48, 8, 1) and xt.shape == (20, 48, 8, 1) and x.dtype == np.float32
    assert y.shape == (50, 6) and y.dtype == np.int64
    lengths = (y >= 0).sum(1)
    assert lengths.min() >= 1 and lengths.max() <= 6
    assert np.all((y >= 0)[:, 1:] <= (y >= 0)[:, :-1])  # labels first, then -1
    images = load_digits().images / 16.0
    first = x[0, :8, :, 0].T  # width-first storage: the first 8 columns are the first digit
    match = np.flatnonzero(np.all(np.isclose(images, first), axis=(1, 2)))
    assert match.size and load_digits().target[match[0]] == y[0, 0]
    assert np.all(x[0, 8 * lengths[0]:] == 0)


@pytest.mark.slow
def test_example_reads_held_out_strings(plugin):
    """The example's model, trained briefly on fewer strings, reads held-out strings."""
    from corelib.ctc import character_error_rate, ctc_decode
    from corelib.spec import build_model, compile_model, load_spec

    spec = load_spec(EXAMPLE)
    corelib.set_seed(0)
    model = build_model(spec)
    compile_model(model, spec)
    (x, y), (xt, yt) = datasets.load_data("digit_strings", n_train=4000, n_test=300)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    decoded, _ = ctc_decode(model.predict(xt), blank_index=10)
    assert character_error_rate(decoded, yt) < 0.15
