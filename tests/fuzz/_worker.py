"""The fuzz worker: a separate process that runs one fuzz target per request, inside a memory bound.

`_harness.Worker` starts it as ``python _worker.py FD_IN FD_OUT FAULT_FILE``. Each request is
``(target, suffix, data)``; the worker writes `data` to a file ``input<suffix>`` in its own
empty folder, calls ``_targets.TARGETS[target](path)`` and answers with a dict:

    {"status": "ok"}                                     the target returned
    {"status": "typed", "type": "ConfigError", ...}      a DLError escaped: allowed
    {"status": "finding", "type": "KeyError", "location": "corelib/spec/fields.py:71", ...}

A hang is seen by the parent (no answer in time); it asks for the stacks (SIGUSR1, which
faulthandler writes to FAULT_FILE even while C code runs) and kills the process. The
memory bound is RLIMIT_AS: the address space at start plus DL_FUZZ_MEMORY_MB, so an
allocation past it fails with MemoryError (a finding) instead of taking the machine.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import resource
import shutil
import signal
import struct
import sys
import tempfile
import traceback
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PROJECT_DIRS = tuple(os.path.join(ROOT, d) + os.sep for d in ("corelib", "cli", "plugins"))


def project_location(frames: list[tuple[str, int]]) -> str:
    """"path:line" of the innermost frame in the project's code (else the innermost frame).

    Installed copies (site-packages/corelib/...) count as the project too, under their package path.
    """
    def relative(filename: str) -> str | None:
        if filename.startswith(_PROJECT_DIRS):
            return os.path.relpath(filename, ROOT)
        for package in ("corelib", "dl_cli", "dl_datasets", "dl_transformer", "dl_mpi"):
            marker = f"{os.sep}site-packages{os.sep}{package}{os.sep}"
            if marker in filename:
                return package + os.sep + filename.split(marker, 1)[1]
        return None

    for filename, line in reversed(frames):
        rel = relative(filename)
        if rel is not None:
            return f"{rel}:{line}"
    if frames:
        filename, line = frames[-1]
        return f"{os.path.basename(filename)}:{line}"
    return "?"


def _send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj)
    os.write(fd, struct.pack("<I", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _recv(fd: int) -> object:
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack("<I", head)
    return pickle.loads(_read_exact(fd, n))  # the parent's own messages, never a file's bytes


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _limit_memory() -> None:
    extra = int(os.environ.get("DL_FUZZ_MEMORY_MB", "1024")) * 2**20
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (used + extra, resource.RLIM_INFINITY))


def _reset_state() -> None:
    from corelib import config
    from corelib.layers.base import reset_name_counters

    config.set_seed(0)
    config.set_floatx("float32")
    reset_name_counters()


def _run(target, folder: str, suffix: str, data: bytes) -> dict:
    from corelib.errors import DLError

    for name in os.listdir(folder):
        full = os.path.join(folder, name)
        shutil.rmtree(full) if os.path.isdir(full) and not os.path.islink(full) else os.unlink(full)
    path = os.path.join(folder, "input" + suffix)
    with open(path, "wb") as f:
        f.write(data)
    _reset_state()
    try:
        target(path)
    except DLError as exc:
        return {"status": "typed", "type": type(exc).__name__, "message": str(exc)[:2000]}
    except BaseException as exc:  # noqa: BLE001 - everything else is what the fuzzer looks for
        frames = [(f.filename, f.lineno or 0) for f in traceback.extract_tb(exc.__traceback__)]
        try:
            message = str(exc)[:2000]
        except BaseException:  # noqa: BLE001 - a message that cannot be rendered
            message = "<unprintable>"
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-25))
        kind = type(exc)
        module = "" if kind.__module__ in ("builtins", "_targets") else kind.__module__ + "."
        name = module + kind.__qualname__
        return {"status": "finding", "type": name, "message": message,
                "location": project_location(frames), "traceback": text[-8000:]}
    return {"status": "ok"}


def main() -> None:
    fd_in, fd_out, fault_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    fault = open(fault_file, "w")
    faulthandler.register(signal.SIGUSR1, file=fault, all_threads=True)
    warnings.simplefilter("ignore")
    import _targets

    _targets.warm_up()
    _limit_memory()
    folder = tempfile.mkdtemp(prefix="dl-fuzz-")
    os.chdir(folder)  # anything a target writes by a relative path lands in its own folder
    try:
        _send(fd_out, {"status": "ready"})
        while True:
            request = _recv(fd_in)
            if request is None:
                return
            name, suffix, data = request
            _send(fd_out, _run(_targets.TARGETS[name], folder, suffix, data))
    finally:
        os.chdir("/")
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
