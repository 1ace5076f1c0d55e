"""The distribution extension point (corelib.distribute) and dl-mpi's launcher
detection, in one process: nothing here needs MPI or starts it."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from corelib import distribute, hookimpl, layers, models
from corelib.errors import ConfigError, UnknownComponentError
from corelib.registry import Registry, use_registry

try:
    importlib.metadata.distribution("dl-mpi")
    INSTALLED = True
except importlib.metadata.PackageNotFoundError:
    INSTALLED = False
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "dl-mpi"))

LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_RANK",
                 "SLURM_STEP_NUM_TASKS", "DL_STRATEGY", "DL_MPI_THREADS")


@pytest.fixture(autouse=True)
def automatic(monkeypatch):
    """No launcher in the environment, and the strategy chosen afresh."""
    for var in LAUNCHER_VARS:
        monkeypatch.delenv(var, raising=False)
    distribute.set_strategy(None)
    yield
    distribute.set_strategy(None)


class Pretend(distribute.Strategy):
    """A strategy that claims any environment with PRETEND=1."""

    @classmethod
    def detect(cls, environ):
        return environ.get("PRETEND") == "1"


class PretendPlugin:
    @hookimpl
    def register_strategies(self, register):
        register(Pretend, aliases=("pretend",))


@pytest.fixture
def pretend_registry():
    reg = Registry(entry_points=False)
    reg.register_plugin(PretendPlugin(), name="pretend-plugin")
    with use_registry(reg):
        yield reg


def test_a_plain_run_trains_on_the_default_strategy_and_never_starts_mpi():
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((5, 3)), np.ones((5, 2)), epochs=1, verbose=0)
    assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)
    assert distribute.is_chief() and distribute.get_strategy().num_replicas_in_sync == 1
    assert "mpi4py.MPI" not in sys.modules
    assert getattr(model, "_data_parallel", None) is None


def test_a_registered_strategy_that_detects_its_launcher_is_used(pretend_registry, monkeypatch):
    assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)
    monkeypatch.setenv("PRETEND", "1")
    distribute.set_strategy(None)
    assert isinstance(distribute.get_strategy(), Pretend)
    monkeypatch.setenv("DL_STRATEGY", "default")  # the environment turns it off
    distribute.set_strategy(None)
    assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)


def test_explicit_choice_by_name_instance_and_scope(pretend_registry, monkeypatch):
    monkeypatch.setenv("DL_STRATEGY", "pretend")
    distribute.set_strategy(None)
    assert isinstance(distribute.get_strategy(), Pretend)
    distribute.set_strategy("default")
    assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)
    mine = Pretend()
    with mine.scope():
        assert distribute.get_strategy() is mine
        with distribute.get("default").scope():
            assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)
        assert distribute.get_strategy() is mine
    assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)
    assert distribute.get(mine) is mine and isinstance(distribute.get("Pretend"), Pretend)


def test_unknown_strategies_are_refused(pretend_registry):
    with pytest.raises(UnknownComponentError, match="pretend"):
        distribute.get("pretnd")
    with pytest.raises(ConfigError, match="Received: 42"):
        distribute.set_strategy(42)


def test_an_mpi_launch_with_no_strategy_plugin_warns(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    with use_registry(Registry(entry_points=False)), pytest.warns(UserWarning, match="Install dl-mpi"):
        assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)


def test_the_default_strategy_shards_and_communicates_nothing():
    s = distribute.DefaultStrategy()
    buf = np.arange(4.0)
    s.all_reduce(buf)
    s.broadcast(buf)
    assert np.array_equal(buf, np.arange(4.0)) and s.all_gather(buf) is buf
    assert s.shard(10) == slice(0, 10) and s.broadcast_object({"a": 1}) == {"a": 1}


@pytest.mark.parametrize("n, replicas, sizes", [(10, 3, [3, 3, 4]), (3, 2, [1, 2]), (1, 3, [0, 0, 1])])
def test_shards_are_contiguous_and_cover_the_batch(n, replicas, sizes):
    parts = []
    for rank in range(replicas):
        s = distribute.Strategy()
        s.num_replicas_in_sync, s.rank = replicas, rank
        parts.append(s.shard(n))
    assert [p.stop - p.start for p in parts] == sizes
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))


# -- dl-mpi without MPI ----------------------------------------------------------------


@pytest.mark.parametrize("environ, expected", [
    ({}, False),
    ({"PMI_SIZE": "2", "PMI_RANK": "1"}, True),  # MPICH / Intel MPI hydra, Slurm PMI-2
    ({"PMI_SIZE": "1"}, False),  # mpiexec -n 1: one process, nothing to distribute
    ({"OMPI_COMM_WORLD_SIZE": "4"}, True),  # Open MPI
    ({"MV2_COMM_WORLD_SIZE": "3"}, True),  # MVAPICH
    ({"PMIX_RANK": "0", "SLURM_STEP_NUM_TASKS": "1"}, False),
    ({"PMIX_RANK": "0"}, True),  # PMIx with no size: MPI will tell
])
def test_mpi_is_detected_from_the_launchers_environment_without_starting_it(environ, expected):
    from dl_mpi.strategy import MPIStrategy

    assert MPIStrategy.detect(environ) is expected
    assert "mpi4py.MPI" not in sys.modules


@pytest.mark.parametrize("setting, environ, expected", [
    ("auto", {}, 1),  # 2 ranks on 2 CPUs: one thread each
    ("auto", {"OMP_NUM_THREADS": "2"}, None),  # the user's own setting stands
    (None, {}, None),
    (3, {}, 3),
    ("auto", {"DL_MPI_THREADS": "2"}, 2),
    ("auto", {"DL_MPI_THREADS": "auto", "OMP_NUM_THREADS": "2"}, 1),  # asked for explicitly: applies anyway
    (4, {"DL_MPI_THREADS": "keep"}, None),
])
def test_threads_per_rank(setting, environ, expected):
    from dl_mpi._launch import threads_per_rank

    assert threads_per_rank(setting, environ, ranks_on_node=2, cpus=2) == expected


def test_threads_per_rank_refuses_nonsense():
    from dl_mpi._launch import threads_per_rank

    with pytest.raises(ConfigError, match="threads_per_rank must be a positive int"):
        threads_per_rank(0, {}, 2, 2)


def test_installed_dl_mpi_registers_its_strategy():
    if not INSTALLED:
        pytest.skip("dl-mpi is not installed (the README's test command installs it)")
    from corelib.registry import get_registry

    entry = get_registry().entry("strategies", "mpi")
    assert (entry.name, entry.plugin) == ("MPIStrategy", "dl-mpi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(distribute.get_strategy(), distribute.DefaultStrategy)  # no launcher: not used


@pytest.mark.skipif(not INSTALLED, reason="dl-mpi is not installed (a subprocess needs it importable)")
def test_limit_threads_sets_the_kernels_pool_and_mkl():
    code = ("from dl_mpi._launch import limit_threads; limit_threads(1); "
            "from corelib.config import get_num_threads; from corelib.kernels import blas; "
            "mkl = blas._state['mkl']; "
            "print(get_num_threads(), mkl.MKL_Get_Max_Threads() if mkl is not None else 1)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"]


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="the watchdog reads /proc")
def test_the_watchdog_aborts_when_a_rank_on_this_machine_vanishes(monkeypatch):
    """Without MPI: a fake communicator names a child process as rank 1, then the child is killed
    (a zombie until reaped, then gone); a peer whose start time does not match is never watched."""
    import socket
    import threading

    from dl_mpi import _watchdog

    monkeypatch.setattr(_watchdog, "_WATCH", _watchdog._Watch())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()

        class Comm:
            def Get_rank(self):
                return 0

            def allgather(self, mine):
                assert mine == (host, os.getpid(), _watchdog._start_time("self"))
                return [mine, (host, child.pid, _watchdog._start_time(child.pid)),
                        (host, os.getppid(), "1"), ("elsewhere", child.pid, "1")]  # another namespace, machine

        called, reasons = threading.Event(), []
        _watchdog.start(Comm(), lambda why: (reasons.append(why), called.set()))
        assert [rank for rank, _, _ in _watchdog._WATCH.peers] == [1]
        assert _watchdog.peer_gone() is None and not called.wait(0.5)
        child.kill()
        assert called.wait(10), "the watchdog did not notice"
        assert reasons == [f"sees rank 1 (pid {child.pid}) gone: it ended without finishing the job "
                           f"(killed, or it left without MPI)"]
        assert _watchdog.peer_gone() == f"rank 1 (pid {child.pid})"
    finally:
        child.kill()
        child.wait()
        _watchdog.stand_down()


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="the watchdog reads /proc")
def test_the_watchdog_stands_down_at_the_exit_barrier(monkeypatch):
    import socket

    from dl_mpi import _watchdog

    monkeypatch.setattr(_watchdog, "_WATCH", _watchdog._Watch())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        class Comm:
            def Get_rank(self):
                return 0

            def allgather(self, mine):
                return [mine, (socket.gethostname(), child.pid, _watchdog._start_time(child.pid))]

        reasons = []
        _watchdog.start(Comm(), reasons.append)
        _watchdog.stand_down()  # this rank finished: a peer that now ends is the exit barrier's to judge
        child.kill()
        child.wait()
        time.sleep(3 * (_watchdog.POLL_SECONDS + _watchdog.GRACE_SECONDS))
        assert reasons == [] and _watchdog.peer_gone() == f"rank 1 (pid {child.pid})"
    finally:
        child.kill()
        child.wait()
