"""Data-parallel training on MPI (dl-mpi) in real jobs: ``mpiexec -n 2`` and ``-n 3``
on this machine (loopback), each job's processes running tests/_mpi_jobs.py.

- 2 and 3 ranks end with the weights, metrics, evaluation and predictions of
  one process (1e-5 relative in float32, 1e-12 in float64) for an MLP, a CNN
  and a two-output model, with shuffling, several epochs, an uneven last
  batch and validation; every rank ends with the same weights;
- under ``dl train`` only rank 0 writes (the model, the CSV log, the plot,
  checkpoints) and prints;
- a rank that raises, exits or is killed ends the job with a non-zero code in
  seconds (also when the launcher misses an ``os._exit``: the ranks' watchdog),
  and the last checkpoint resumes on another number of ranks to the
  weights of an uninterrupted run.

Skipped when mpi4py or mpiexec is missing (the README's test command installs
both: ``./plugins/dl-mpi[mpich]``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

HERE = Path(__file__).resolve().parent
JOBS = HERE / "_mpi_jobs.py"
sys.path.insert(0, str(HERE))
import _mpi_jobs as jobs  # noqa: E402

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
if MPIEXEC is None:
    pytest.skip("mpiexec is not installed (pip install mpich)", allow_module_level=True)
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def _launcher_flags() -> list[str]:
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=30)
    if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout:
        return ["--oversubscribe", "--allow-run-as-root"]  # 3 ranks on 2 cores; containers run as root
    return []


FLAGS = _launcher_flags()


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DL_", "PMI", "OMPI_", "PMIX"))}
    env.update({"OMP_NUM_THREADS": "1", "DL_MPI_EXIT_TIMEOUT": "20", **extra})
    return env


def launch(n: int, *args: str, programs: list[tuple[str, list[str]]] | None = None, timeout: int = 120,
           env: dict | None = None, flags: tuple[str, ...] = ()):
    """Run `n` ranks of tests/_mpi_jobs.py ARGS (or MPMD `programs`: (working dir, args) per rank)."""
    if programs is None:
        cmd = [MPIEXEC, *FLAGS, *flags, "-n", str(n), sys.executable, str(JOBS), *args]
    else:
        cmd = [MPIEXEC, *FLAGS, *flags]
        for i, (wdir, prog_args) in enumerate(programs):
            cmd += ([":"] if i else []) + ["-wdir", wdir, "-n", "1", sys.executable, str(JOBS), *prog_args]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, env=_env(**(env or {})), timeout=timeout,
                            cwd=HERE.parent)
    result.seconds = time.monotonic() - start
    return result


def assert_close(got: np.ndarray, want: np.ndarray, tol: float, what: str) -> None:
    scale = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want))) / scale
    assert err <= tol, f"{what}: relative difference {err:.3g} > {tol:g}"


@pytest.fixture(scope="module")
def references():
    return {case: jobs.results(*case) for case in jobs.CASES}


@pytest.mark.parametrize("ranks", [2, 3])
def test_n_ranks_train_evaluate_and_predict_like_one_process(tmp_path, references, ranks):
    result = launch(ranks, "train", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    for (kind, dtype), want in references.items():
        outs = [dict(np.load(tmp_path / f"{kind}-{dtype}-rank{r}.npz")) for r in range(ranks)]
        for key, value in want.items():
            assert_close(outs[0][key], value, TOLERANCE[dtype], f"{kind} {dtype} {ranks} ranks: {key}")
            for r in range(1, ranks):  # replicas stay identical, predictions are complete on every rank
                assert np.array_equal(outs[r][key], outs[0][key]), f"{kind} {dtype}: {key} differs on rank {r}"
    for kind, dtype in jobs.IN_STEP_ONLY:  # BatchNormalization's moving statistics, Dropout's random state
        outs = [dict(np.load(tmp_path / f"{kind}-{dtype}-rank{r}.npz")) for r in range(ranks)]
        for key in outs[0]:
            for r in range(1, ranks):
                assert np.array_equal(outs[r][key], outs[0][key]), f"{kind} {dtype}: {key} differs on rank {r}"
        assert outs[0]["h_loss"][-1] < outs[0]["h_loss"][0]


SPEC = """
model:
  - Dense: {units: 16, activation: relu, input_shape: [8]}
  - Dense: {units: 3, activation: softmax}
training:
  loss: sparse_categorical_crossentropy
  optimizer: adam
  metrics: [accuracy]
  epochs: 3
  batch_size: 10
  validation_split: 0.2
  data: DATA
  seed: 4
"""


def test_dl_train_evaluate_predict_on_two_ranks_only_rank_0_writes_and_prints(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from corelib import models
    from dl_cli.main import cli

    rng = np.random.default_rng(1)
    x = rng.standard_normal((95, 8)).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x, y=(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5))
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("DATA", str(tmp_path / "train.npz")))
    args = ["dl", "train", str(spec), "--output", "model.dl", "--log", "log.csv", "--plot", "curves.png",
            "--checkpoint-dir", "ckpt"]
    ranks = [tmp_path / "rank0", tmp_path / "rank1"]
    for d in ranks:
        d.mkdir()
    result = launch(2, programs=[(str(d), args) for d in ranks])
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in ranks[0].iterdir()) == ["curves.png", "log.csv", "model.dl"]
    assert list(ranks[1].iterdir()) == []  # relative paths: rank 1 would have written here
    assert result.stdout.count("Saved model to") == 1 and result.stdout.count("Epoch 3/3") == 1
    assert len(Path(ranks[0] / "log.csv").read_text().splitlines()) == 4

    # dl evaluate and dl predict on 2 ranks: rank 0 alone prints and writes
    np.save(tmp_path / "x.npy", x)
    model_file = str(ranks[0] / "model.dl")
    result = launch(2, programs=[(str(d), ["dl", "evaluate", model_file, "--data", str(tmp_path / "train.npz")])
                                 for d in ranks])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("samples): loss: ") == 1, result.stdout
    result = launch(2, programs=[(str(d), ["dl", "predict", model_file, str(tmp_path / "x.npy"), "-o", "p.npy"])
                                 for d in ranks])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Wrote predictions for 95 samples") == 1, result.stdout
    assert (ranks[0] / "p.npy").exists() and not (ranks[1] / "p.npy").exists()
    predictions = np.load(ranks[0] / "p.npy")

    monkeypatch.chdir(tmp_path)  # the same command in one process
    single = CliRunner().invoke(cli, args[1:-2] + ["--output", "single.dl"])
    assert single.exit_code == 0, single.output
    want = models.load_model(str(tmp_path / "single.dl")).get_weights()
    got = models.load_model(str(ranks[0] / "model.dl")).get_weights()
    for a, b in zip(got, want):
        assert_close(a, b, TOLERANCE["float32"], "dl train weights")
    assert_close(predictions, models.load_model(str(tmp_path / "single.dl")).predict(x, verbose=0),
                 TOLERANCE["float32"], "dl predict on 2 ranks")


@pytest.mark.parametrize("how", ["raise", "exit", "early"])
def test_a_rank_that_fails_stops_the_whole_job(tmp_path, how):
    """raise: an exception in fit; exit: os._exit (no MPI); early: its program ends while the others wait."""
    result = launch(2, "fault", how, str(tmp_path), timeout=90, env={"DL_MPI_EXIT_TIMEOUT": "2"})
    assert result.returncode != 0
    assert result.seconds < 60, f"the job took {result.seconds:.0f} s to stop"
    assert not list(tmp_path.glob("finished-*")), "a rank went on after another failed"
    if how == "raise":
        assert "rank 1 of 2" in result.stderr and "failed in fit()" in result.stderr
        assert "RuntimeError: a deliberate failure on one rank" in result.stderr
        assert "stopping all 2 ranks" in result.stderr
    if how == "early":
        assert "rank 1 of 2" in result.stderr and "other ranks did not finish within 2 s" in result.stderr


@pytest.mark.skipif(bool(FLAGS), reason="-disable-auto-cleanup is MPICH's (hydra) flag")
def test_a_vanished_rank_stops_the_job_even_when_the_launcher_does_not(tmp_path):
    """Hydra sometimes lets a rank's os._exit pass and leaves the others waiting in a collective (seen
    in CI); -disable-auto-cleanup makes that certain (a rank killed by a signal still ends the job
    there): the ranks' watchdog ends it."""
    result = launch(2, "fault", "exit", str(tmp_path), timeout=60, flags=("-disable-auto-cleanup",))
    assert result.returncode != 0
    assert result.seconds < 30, f"the job took {result.seconds:.0f} s to stop"
    assert not list(tmp_path.glob("finished-*")), "a rank went on after another failed"
    assert "dl-mpi: rank 0 of 2" in result.stderr and "sees rank 1 (pid" in result.stderr, result.stderr[-2000:]
    assert "ended without finishing the job" in result.stderr and "stopping all 2 ranks" in result.stderr


def test_a_killed_rank_leaves_a_checkpoint_that_resumes_on_three_ranks_like_an_uninterrupted_run(tmp_path):
    from corelib.saving.checkpoints import read_checkpoint

    backup = tmp_path / "backup"
    killed = launch(2, "checkpoint", str(backup), str(tmp_path), "kill", timeout=90)
    assert killed.returncode != 0 and killed.seconds < 60
    assert not (tmp_path / "resumed.npz").exists()
    model = jobs.build("mlp", "float64")
    state = read_checkpoint(backup / "checkpoint.dl", model).state
    assert (state.epoch, state.step) == (1, 4)  # saved every 2 steps; killed after step 5 of epoch 2

    resumed = launch(3, "checkpoint", str(backup), str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    uninterrupted = jobs.build("mlp", "float64")
    jobs.fit(uninterrupted, "mlp")
    got = np.load(tmp_path / "resumed.npz")
    for i, p in enumerate(uninterrupted.weights):
        assert_close(got[f"w{i}"], p.value, TOLERANCE["float64"], f"weight {i}")


@pytest.mark.parametrize("ranks", [2, 3])
def test_each_rank_reads_only_its_batches_of_a_stream_and_trains_as_one_process_on_merged_batches(tmp_path, ranks):
    """R ranks on a stream of batches of B rows: a step is R of the stream's batches (one per rank),
    which is one process on batches of R * B rows; validation and evaluation of a stream give one
    process's figures; a PyDataset loads on each rank only its batches, for training and validation."""
    result = launch(ranks, "stream", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    want = jobs.stream_results(jobs.Rows(jobs.BATCH * ranks))
    n_batches = len(jobs.Rows(jobs.BATCH))
    for name in ("pydataset", "iterable"):
        outs = [dict(np.load(tmp_path / f"{name}-rank{r}.npz")) for r in range(ranks)]
        for key, value in want.items():
            assert_close(outs[0][key], value, TOLERANCE["float64"], f"{name} on {ranks} ranks: {key}")
            for r in range(1, ranks):
                assert np.array_equal(outs[r][key], outs[0][key]), f"{name}: {key} differs on rank {r}"
    for key, passes in (("loaded", jobs.EPOCHS), ("validation_loaded", jobs.EPOCHS + 1)):  # + evaluate
        for r in range(ranks):
            mine = dict(np.load(tmp_path / f"pydataset-rank{r}.npz"))[key]
            assert sorted(mine) == sorted(list(range(r, n_batches, ranks)) * passes), f"rank {r} {key} {mine}"
