"""Property (issue 14, item 17): for any combination of input and output paths given to
`dl train`, `dl predict` and `dl compose` (the same file, a hard link, a symbolic link, a
path through ``..``, a path in the checkpoint folder, a spec whose own paths point at its
inputs or out of its folder), no command changes a file it read, an output that is one of
the inputs is refused, and every refusal is exit code 2 with one line."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from corelib import config, layers, models
from corelib.registry import Registry, use_registry
from dl_cli.main import cli

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
pytest.importorskip("corelib.builtin.plugin")

SPEC = """
model:
  - Dense: {units: 2, activation: softmax, input_shape: [3]}
training:
  loss: sparse_categorical_crossentropy
  optimizer: sgd
  epochs: 1
  batch_size: 8
  data: train.npz
"""

# Files every example starts with, in work/ (the current directory): the originals and
# links to them. A path that climbs out of work/ ("../x") stays inside the example's folder.
ORIGINALS = ("s.yaml", "train.npz", "m.dl", "x.npy")
LINKS = {"hard.npz": ("hard", "train.npz"), "link.yaml": ("symbolic", "s.yaml"),
         "hard.dl": ("hard", "m.dl"), "link.npy": ("symbolic", "x.npy"), "link.dot": ("symbolic", "s.yaml")}
SPECS = ["s.yaml", "link.yaml", "sub/../s.yaml", "evil.yaml"]
DATA = [None, "train.npz", "hard.npz", "sub/../train.npz"]
MODELS = ["m.dl", "hard.dl"]
INPUTS = ["x.npy", "link.npy", "sub/../x.npy"]
OUTPUTS = ["out.dl", "s.yaml", "link.yaml", "train.npz", "hard.npz", "m.dl", "hard.dl", "x.npy", "link.npy",
           "sub/../s.yaml", "sub/out.csv", "ck/checkpoint.dl", "ck/out.dl", "ck", "../out.dl", "../work/m.dl",
           "p.npy", "out.csv", "p.dot", "c.yaml"]
# each command's own kinds of file, offered as often as all the rest together
TRAIN_OUTPUTS = ["out.dl", "../out.dl", "ck/out.dl", "sub/out.dl", "hard.dl", "m.dl", "s.yaml", "train.npz"]
PREDICT_OUTPUTS = ["p.npy", "../p.npy", "ck/p.npy", "x.npy", "link.npy", "sub/../x.npy", "p.npz"]
COMPOSE_OUTPUTS = ["c.yaml", "../c.yaml", "sub/c.json", "s.yaml", "link.yaml", "sub/../c.yaml"]
PLOTS = ["c.dot", "link.dot", "../c.dot", "sub/../c.dot"]
# training.output written in evil.yaml: none, an input of the run, out of the spec's folder, fine
EVIL_OUTPUTS = [None, "train.npz", "s.yaml", "../escaped.dl", "{root}/work/m.dl", "fine.dl"]


_MODEL: list[bytes] = []


def model_bytes() -> bytes:
    """A small compiled model file, made once."""
    if not _MODEL:
        config.set_seed(0)
        model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "m.dl")
            _MODEL.append((Path(tmp) / "m.dl").read_bytes())
    return _MODEL[0]


@contextmanager
def layout(evil_output):
    """A fresh example folder: work/ with the originals and links, work/sub/ and work/ck/."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work = root / "work"
        (work / "sub").mkdir(parents=True)
        (work / "ck").mkdir()
        (work / "s.yaml").write_text(SPEC)
        evil = SPEC if evil_output is None else SPEC + f"  output: {evil_output.format(root=root)}\n"
        (work / "evil.yaml").write_text(evil)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((16, 3)).astype(np.float32)
        np.savez(work / "train.npz", x=x, y=(x[:, 0] > 0).astype(int))
        (work / "m.dl").write_bytes(model_bytes())
        np.save(work / "x.npy", x)
        for name, (kind, target) in LINKS.items():
            (os.link if kind == "hard" else os.symlink)(work / target, work / name)
        yield root, work


def snapshot(root):
    """{path: (bytes, mtime)} of every file, links followed."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def same(a: Path, b: Path) -> bool:
    """Independently of dl: the two paths reach one file (or one place, for a new file)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def paths(own, optional=False):
    """A path among the command's own kinds of file or any other, or (optional) none."""
    choices = st.one_of(st.sampled_from(own), st.sampled_from(OUTPUTS))
    return st.one_of(st.none(), choices) if optional else choices


def commands():
    train = st.fixed_dictionaries({
        "command": st.just("train"), "spec": st.sampled_from(SPECS), "data": st.sampled_from(DATA),
        "output": paths(TRAIN_OUTPUTS, optional=True),
        "log": st.sampled_from([None, "run.csv", "ck/run.csv"] + OUTPUTS),
        "checkpoint_dir": st.sampled_from([None, "ck", "sub", "sub/../ck"]),
        "evil_output": st.sampled_from(EVIL_OUTPUTS)})
    predict = st.fixed_dictionaries({
        "command": st.just("predict"), "model": st.sampled_from(MODELS), "input": st.sampled_from(INPUTS),
        "output": paths(PREDICT_OUTPUTS), "evil_output": st.just(None)})
    compose = st.fixed_dictionaries({
        "command": st.just("compose"), "output": paths(COMPOSE_OUTPUTS, optional=True),
        "plot": st.one_of(st.none(), st.sampled_from(PLOTS)), "evil_output": st.just(None)})
    return st.one_of(train, train, predict, compose)


def arguments(case, work):
    """(the command line, the files it reads, the files it writes, its checkpoint folder or
    None) as paths in `work`."""
    if case["command"] == "train":
        args = ["train", case["spec"], "-q"]
        reads = [work / case["spec"], work / (case["data"] or "train.npz")]
        writes = []
        if case["data"] is not None:
            args += ["--data", case["data"]]
        for flag in ("output", "log"):
            if case[flag] is not None:
                args += [f"--{flag}", case[flag]]
                writes.append(work / case[flag])
        if case["output"] is None and case["spec"] == "evil.yaml" and case["evil_output"] is not None:
            writes.append(work / case["evil_output"].format(root=work.parent))
        folder = None
        if case["checkpoint_dir"] is not None:
            args += ["--checkpoint-dir", case["checkpoint_dir"]]
            folder = work / case["checkpoint_dir"]
        return args, reads, writes, folder
    if case["command"] == "predict":
        args = ["predict", case["model"], case["input"], "-o", case["output"]]
        return args, [work / case["model"], work / case["input"]], [work / case["output"]], None
    args = ["compose", "Dense(2)", "--input-shape", "3"]
    writes = []
    for flag in ("output", "plot"):
        if case[flag] is not None:
            args += [f"--{flag}", case[flag]]
            writes.append(work / case[flag])
    return args, [], writes, None


def inside(path: Path, folder: Path) -> bool:
    top = os.path.realpath(folder)
    return os.path.commonpath([os.path.realpath(path), top]) == top


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(case=commands())
def test_no_command_changes_a_file_it_read_and_a_refusal_is_exit_2(case):
    with layout(case["evil_output"]) as (root, work), use_registry(Registry(entry_points=False)):
        args, reads, writes, folder = arguments(case, work)
        before = snapshot(root)
        cwd = os.getcwd()
        os.chdir(work)
        try:
            result = CliRunner().invoke(cli, args)
        finally:
            os.chdir(cwd)
        after = snapshot(root)

        hypothesis.event(case['command'] + ' exit ' + str(result.exit_code))
        assert result.exit_code in (0, 2), (args, result.output)
        if result.exit_code == 2:  # one line; a usage error (a flag click refuses) after click's usage lines
            lines = result.stderr.strip().splitlines()
            assert lines[-1].startswith("Error: ") and (len(lines) == 1 or lines[0].startswith("Usage: ")), \
                (args, result.stderr)
            assert "Traceback" not in result.output
        for path in reads:  # every file the command read: the same bytes, not even touched
            for existing in before:
                if same(existing, path):
                    assert after.get(existing) == before[existing], (args, existing)
        if any(same(out, path) for out in writes for path in reads):
            assert result.exit_code == 2, (args, result.output)  # an output that is an input
        if any(same(a, b) for i, a in enumerate(writes) for b in writes[i + 1:]):
            assert result.exit_code == 2, (args, result.output)  # two outputs that are one file
        if folder is not None and any(inside(out, folder) for out in writes):
            assert result.exit_code == 2, (args, result.output)  # an output in the checkpoint folder
        if case["command"] == "train" and case["output"] is None and case["spec"] == "evil.yaml" \
                and case["evil_output"] in ("../escaped.dl",):
            assert result.exit_code == 2 and not (root / "escaped.dl").exists(), (args, result.output)
