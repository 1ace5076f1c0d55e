"""Crafted model files: each is refused with a one-line typed error, creates no
file, imports no module and allocates little.

Every case starts from a real file written by `model.save` and edits one
thing (an entry, a header field, a JSON value). tests/test_saving.py holds the
first eleven cases (unknown format version, missing "format", invalid JSON,
missing weights, pickle in weights.npz, a "../" entry, a module path as layer
class, an unknown model class, weight shapes contradicting the config,
truncated and non-zip files, an oversized weights.npz); these are the others.
"""

from __future__ import annotations

import os
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from corelib import layers, models
from corelib.errors import DLError

from _crafted_cases import CASES  # the crafted files; this module holds the checks
from _crafted_zip import _edit_config, _edit_npz, _patch, _rebuild

# Modules that a crafted file names, or that unpickling it would import. None
# may be imported by loading; the test checks that they were absent before.
BAIT_MODULES = ("colorsys", "tabnanny")
_BAITS_AT_IMPORT = {m for m in BAIT_MODULES if m in sys.modules}

# Which new sys.modules entries a refusal may create. The `good_file` fixture
# loads a real file first, so whatever loading imports on first use is already
# there: numpy.lib.format (np.load), zipfile's decompressors, json's decoder,
# the registry with difflib for its suggestions, the built-in plugin's
# component modules. After that warm-up no refusal path imports anything, so
# no standard-library module is allowed. dl's own modules (corelib.*) are
# allowed: they are trusted code, often imported on first use on purpose.
def _allowed_import(name: str) -> bool:
    return name == "corelib" or name.startswith("corelib.")


# A refusal may read config.json up to saving's 16 MiB limit (zipfile inflates in
# chunks of the requested size, so about twice that at once), but must not
# inflate a bomb: the bombs below inflate to 64 MiB or more.
_MAX_PEAK_BYTES = 48 * 2**20


# -- the good file ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> bytes:
    """The bytes of a real file: Dense-Dropout-Dense, compiled, one epoch of Adam."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model = models.Sequential([layers.Dense(4, activation="relu", input_shape=(3,), name="dense"),
                               layers.Dropout(0.1, name="dropout"),
                               layers.Dense(2, activation="softmax", name="dense_1")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path_factory.mktemp("good") / "good.dl"
    model.save(path)
    models.load_model(path)  # the real file loads; this also imports what loading imports
    return path.read_bytes()


# Cases that saving.py does not refuse yet: name -> what happens (strict xfail,
# so a fixed case fails until its entry is removed). Empty: all are refused.
KNOWN_FAILURES: dict[str, str] = {}


def _param(case):
    name = case.__name__[len("case_"):]
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name])] if name in KNOWN_FAILURES else []
    return pytest.param(case, id=name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_crafted_file_is_refused_safely(case, good_file, tmp_path):
    bad = tmp_path / "bad.dl"
    bad.write_bytes(case(good_file))
    present_baits = {m for m in BAIT_MODULES if m in sys.modules}
    before_dir, before_cwd = sorted(os.listdir(tmp_path)), sorted(os.listdir(os.getcwd()))
    before_modules = set(sys.modules)
    tracemalloc.start()
    try:
        with pytest.raises(DLError) as info:
            models.load_model(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message, f"multi-line message: {message!r}"
    assert str(bad) in message, f"message does not name the file: {message!r}"
    assert sorted(os.listdir(tmp_path)) == before_dir, "loading created a file next to the model"
    assert sorted(os.listdir(os.getcwd())) == before_cwd, "loading created a file in the working directory"
    new_modules = set(sys.modules) - before_modules
    unexpected = sorted(m for m in new_modules if not _allowed_import(m))
    assert not unexpected, f"loading imported {unexpected}"
    assert {m for m in BAIT_MODULES if m in sys.modules} == present_baits
    assert peak < _MAX_PEAK_BYTES, f"loading allocated {peak / 2**20:.0f} MiB before refusing"


def test_the_bait_modules_were_absent_when_the_suite_started():
    """The bait check means something only if the baits start absent."""
    assert not _BAITS_AT_IMPORT


def test_the_helpers_alone_give_a_loadable_file(good_file, tmp_path):
    """So each refusal above comes from its edit, not from the rewriting."""
    for data in (_rebuild(good_file), _edit_config(good_file, lambda doc: None),
                 _edit_npz(good_file, "weights.npz", lambda arrays: None),
                 _patch(good_file, "config.json", flags=0, method=zipfile.ZIP_DEFLATED)):
        path = tmp_path / "same.dl"
        path.write_bytes(data)
        models.load_model(path)


def test_there_are_at_least_twenty_cases():
    assert len(CASES) >= 20
