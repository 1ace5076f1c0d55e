"""Fuzzing dl's readers: the spec loader, the data readers, the model-file reader (dl's and Keras's),
`dl compose`'s parser, and the weights readers (safetensors, Keras's .weights.h5).

The rule (docs/fuzzing.md): whatever the input, only a `corelib.errors.DLError` may escape,
within a time bound (DL_FUZZ_TIMEOUT, 2 s an input) and a memory bound (DL_FUZZ_MEMORY_MB,
1 GiB); and what a reader accepts must hold up (`_targets`). Each target first runs its seed
corpus (tests/fuzz/corpus/<target>/), then inputs hypothesis draws: corpus files mutated, and
inputs built from the format's parts. By default a few examples each (derandomized, a few
seconds in all); DL_FUZZ_SECONDS=N runs each target for about N seconds.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import strategies as st

from _harness import FINDINGS, Finding, corpus_files, describe, fuzz, run_input, worker
from _file_strategies import data_strategy, model_strategy
from _strategies import compose_strategy, from_corpus, spec_strategy

pytestmark = pytest.mark.fuzz

TARGETS = ["spec", "data", "model", "compose", "weights"]
STRATEGIES = {"spec": spec_strategy, "data": data_strategy, "model": model_strategy, "compose": compose_strategy,
              "weights": lambda: from_corpus("weights", (".safetensors", ".h5"))}


@pytest.fixture(scope="module", autouse=True)
def _one_worker():
    yield
    worker().stop()


def _files(folder_of) -> list:
    return [pytest.param(t, p, id=f"{t}/{p.name}") for t in TARGETS for p in folder_of(t)]


def _check(target: str, path) -> None:
    outcome = run_input(target, path.suffix, path.read_bytes())
    if outcome.status == "finding":
        raise Finding(describe(target, outcome))


@pytest.mark.parametrize("target, path", _files(corpus_files))
def test_corpus(target, path):
    _check(target, path)


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target):
    fuzz(target, STRATEGIES[target]())


def _findings(target: str) -> list:
    folder = FINDINGS / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@pytest.mark.skipif(not os.environ.get("DL_FUZZ_FINDINGS"), reason="reported defects: DL_FUZZ_FINDINGS=1 runs them")
@pytest.mark.parametrize("target, path", _files(_findings))
def test_reported_finding(target, path):
    _check(target, path)


def test_harness_tells_typed_errors_from_findings():
    w = worker()
    assert w.run("selftest", ".txt", b"fine").status == "ok"
    assert w.run("selftest", ".txt", b"typed").status == "typed"
    escaped = w.run("selftest", ".txt", b"keyerror")
    assert (escaped.status, escaped.type) == ("finding", "KeyError")
    assert escaped.location.startswith("_targets.py:") and "not allowed" in escaped.message
    memory = w.run("selftest", ".txt", b"memory")
    assert (memory.status, memory.type) == ("finding", "MemoryError")
    hang = w.run("selftest", ".txt", b"hang", timeout=0.5)
    assert (hang.status, hang.type) == ("finding", "Hang")
    assert hang.location.startswith("_targets.py:"), hang.traceback
    assert w.run("selftest", ".txt", b"fine").status == "ok"  # a fresh worker after the hang


def test_harness_shrinks_and_saves_a_finding(tmp_path, monkeypatch):
    monkeypatch.setenv("DL_FUZZ_SAVE_DIR", str(tmp_path))
    inputs = st.tuples(st.just(".txt"), st.builds(lambda a, b: a + b"bad" + b, st.binary(), st.binary()))
    with pytest.raises(Finding, match=r"(?s)1 finding\(s\).*ValueError at _targets.py:\d+: bad input"):
        fuzz("selftest", inputs, seconds=0, examples=20)
    (saved,) = (tmp_path / "selftest").iterdir()
    assert saved.name.startswith("finding-ValueError-") and saved.suffix == ".txt"
    assert saved.read_bytes() == b"bad"
