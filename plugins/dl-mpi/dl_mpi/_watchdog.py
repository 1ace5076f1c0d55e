"""A rank that vanishes on this machine stops the job, without relying on the launcher.

A rank that is killed or leaves through ``os._exit`` never reaches dl's
safeguards; ending the job is then the launcher's job, and MPICH's hydra
sometimes misses it (it can read the dead rank's exit status as 0 and then
waits for the others, which spin in a collective forever: seen in CI, and
made certain with ``mpiexec -disable-auto-cleanup``). So every rank watches
the other ranks of its own machine: at start they exchange (host, pid, start
time), and a daemon thread looks at those processes every 0.2 s in /proc. One
that is gone (or a zombie) before this rank reached the exit barrier makes it
print which rank ended and call MPI_Abort, which ends every rank.

Only peers seen alive at start with the start time they reported are watched
(a rank in another PID namespace is left to the launcher), and so are only
ranks on the same machine: ranks elsewhere are the launcher's.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any, Callable

__all__ = ["start", "peer_gone", "stand_down"]

POLL_SECONDS = 0.2
GRACE_SECONDS = 0.5  # a peer that has just finished the exit barrier may leave before this rank sees it done


def _start_time(pid: int | str) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None
    when it is gone, a zombie, or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after the command name, which may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    return fields[19]


class _Watch:
    def __init__(self) -> None:
        self.peers: list[tuple[int, int, str]] = []  # (rank, pid, start time)
        self.exiting = threading.Event()


_WATCH = _Watch()


def start(comm: Any, abort: Callable[[str], None]) -> None:
    """Exchange (host, pid, start time) over `comm` (collective) and watch this machine's other ranks;
    `abort(message)` is called from the watching thread when one is gone."""
    me = (socket.gethostname(), os.getpid(), _start_time("self"))
    rank = comm.Get_rank()
    everyone = comm.allgather(me)
    _WATCH.peers = [(r, pid, started) for r, (host, pid, started) in enumerate(everyone)
                    if r != rank and host == me[0] and started is not None and _start_time(pid) == started]
    if _WATCH.peers:
        threading.Thread(target=_watch, args=(abort,), name="dl-mpi-watchdog", daemon=True).start()


def peer_gone() -> str | None:
    """'rank R (pid P)' for the first watched rank that is no longer running, else None."""
    for rank, pid, started in _WATCH.peers:
        if _start_time(pid) != started:
            return f"rank {rank} (pid {pid})"
    return None


def stand_down() -> None:
    """This rank has reached the exit barrier: from here on the barrier's own checks decide."""
    _WATCH.exiting.set()


def _watch(abort: Callable[[str], None]) -> None:
    exiting = _WATCH.exiting
    while not exiting.wait(POLL_SECONDS):
        gone = peer_gone()
        if gone is None:
            continue
        if exiting.wait(GRACE_SECONDS):
            return
        try:
            from mpi4py import MPI

            if MPI.Is_finalized():
                return
        except Exception:  # noqa: BLE001 - the check must not stop the abort
            pass
        abort(f"sees {gone} gone: it ended without finishing the job (killed, or it left without MPI)")
        return
