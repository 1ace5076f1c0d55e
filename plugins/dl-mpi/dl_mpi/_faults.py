"""One rank's failure stops the whole job, promptly and saying why.

The other ranks of a data-parallel job wait in a collective for the one that
failed, so an exception must not end only its own process: that process would
then wait in MPI_Finalize and the job would hang. Three safeguards:

- `guard`: an exception that leaves fit / evaluate / predict (or ``dl
  train``) prints ``dl-mpi: rank R of N failed in fit(): ...`` and calls
  MPI_Abort, which ends every rank; mpiexec exits non-zero.
- an excepthook does the same for an uncaught exception anywhere else.
- at exit, each rank waits for the others in a non-blocking barrier for at
  most ``DL_MPI_EXIT_TIMEOUT`` seconds (300 by default) and aborts the job
  when they do not come (a rank that returned early while others still wait
  in a collective). Long enough for the chief's work after training (saving,
  plotting); a program whose ranks work apart for longer raises it.

- a rank that is killed or exits without MPI (SIGKILL, os._exit) is seen
  gone by the others on its machine (`_watchdog`), which abort the job; on
  other machines it is the launcher's to detect.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import sys
import time
import traceback
from typing import Any, Iterator

from dl_mpi import _watchdog

__all__ = ["guard", "install", "abort"]

ENV_EXIT_TIMEOUT = "DL_MPI_EXIT_TIMEOUT"
_INSTALLED: list[bool] = []


def _who(comm: Any) -> str:
    return f"dl-mpi: rank {comm.Get_rank()} of {comm.Get_size()} ({socket.gethostname()}, pid {os.getpid()})"


def abort(comm: Any, what: str, exc: BaseException | None, code: int = 1, why: str | None = None) -> None:
    """Print why this rank fails (the traceback unless it is a dl error; or `why`) and end the whole job."""
    from corelib.errors import DLError, one_line

    lines = [f"{_who(comm)} {why}" if why else f"{_who(comm)} failed in {what}"]
    if exc is not None:
        if isinstance(exc, DLError):
            lines.append(f"{type(exc).__name__}: {one_line(exc)}")
        else:
            lines.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
    lines.append(f"dl-mpi: stopping all {comm.Get_size()} ranks (MPI_Abort {code})")
    try:
        sys.stdout.flush()
        print("\n".join(lines), file=sys.stderr, flush=True)
    finally:
        comm.Abort(code)


@contextlib.contextmanager
def guard(comm: Any, what: str) -> Iterator[None]:
    """Abort the job when an exception leaves the block on this rank."""
    try:
        yield
    except KeyboardInterrupt as exc:
        abort(comm, what, exc, 130)
    except BaseException as exc:  # noqa: BLE001 - any failure here leaves the other ranks waiting
        abort(comm, what, exc, 1)


def install(comm: Any) -> None:
    """The excepthook and the exit barrier, once per process, for a job of several ranks."""
    if _INSTALLED or comm.Get_size() == 1:
        return
    _INSTALLED.append(True)
    previous = sys.excepthook

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        previous(kind, value, tb)
        abort(comm, "the program (an uncaught exception)", None, 130 if kind is KeyboardInterrupt else 1)

    sys.excepthook = hook
    atexit.register(_exit_barrier, comm)
    _watchdog.start(comm, lambda why: abort(comm, "", None, 1, why=why))


def _exit_barrier(comm: Any) -> None:
    from mpi4py import MPI

    _watchdog.stand_down()
    if MPI.Is_finalized():
        return
    try:
        timeout = float(os.environ.get(ENV_EXIT_TIMEOUT, "300"))
    except ValueError:
        timeout = 300.0
    request = comm.Ibarrier()
    deadline = time.monotonic() + timeout
    pause = 1e-4
    gone_since = None
    while not request.Test():
        gone = _watchdog.peer_gone()
        now = time.monotonic()
        gone_since = (gone_since or now) if gone else None
        if gone and now - gone_since > _watchdog.GRACE_SECONDS:
            abort(comm, "", None, 1, why=f"has finished, but {gone} ended without finishing the job (killed, or it left without MPI)")
        if now > deadline:
            print(f"{_who(comm)} has finished, but other ranks did not finish within {timeout:g} s "
                  f"({ENV_EXIT_TIMEOUT}): one stopped early or is stuck; stopping all ranks", file=sys.stderr,
                  flush=True)
            comm.Abort(1)
        time.sleep(pause)
        pause = min(pause * 2, 0.01)
