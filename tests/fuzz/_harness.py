"""The fuzz harness's parent side: the worker process, the time bound, findings and the budget.

Every input runs in one long-lived worker process (`_worker.py`), which holds the memory
bound. The parent holds the time bound: no answer within DL_FUZZ_TIMEOUT seconds (default 2)
is a hang, confirmed by a second try on a fresh worker, and reported with the stack the worker
was in. Anything but a `DLError` escaping a target is a finding; its signature (target,
exception type, innermost project frame) tells one defect from another.

Budget: by default each fuzz test runs a small fixed number of examples, derandomized, so
`pytest -q` stays fast and deterministic. DL_FUZZ_SECONDS=N runs each target for about N
seconds instead, as batches of examples with seeds 0, 1, 2, ... (each batch reproducible;
DL_FUZZ_SEED=K starts at K, to go on where an earlier run stopped);
every new defect is shrunk to a minimal input, saved under DL_FUZZ_SAVE_DIR (default: a
temporary folder), and the run goes on looking for others; the test fails at the end,
listing them all.

Reported defects wait in findings/<target>/ for their fix. The targets do not run those files,
and a drawn input that meets one of their signatures again is not a new finding: it is
listed in a warning instead, so that a known defect does not fail every run.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FINDINGS = HERE / "findings"

QUICK_EXAMPLES = int(os.environ.get("DL_FUZZ_EXAMPLES", "30"))
SECONDS = float(os.environ.get("DL_FUZZ_SECONDS", "0"))
TIMEOUT = float(os.environ.get("DL_FUZZ_TIMEOUT", "2"))
FIRST_SEED = int(os.environ.get("DL_FUZZ_SEED", "0"))
BATCH = 200
_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Outcome:
    status: str  # "ok", "typed", "finding"
    type: str = ""
    message: str = ""
    location: str = ""
    traceback: str = ""

    @property
    def signature(self) -> str:
        return f"{self.type} at {self.location}"


class Worker:
    """One worker process; restarted after a hang, a crash or a MemoryError."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.fault_file = ""

    def _start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        fd, self.fault_file = tempfile.mkstemp(prefix="dl-fuzz-stack-", suffix=".txt")
        os.close(fd)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_worker.py"), str(to_child_r), str(from_child_w), self.fault_file],
            pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, cwd=str(HERE.parent.parent),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._w, self._r = to_child_w, from_child_r
        ready = self._receive(_START_TIMEOUT)
        if not isinstance(ready, dict) or ready.get("status") != "ready":
            self.stop()
            raise RuntimeError(f"the fuzz worker did not start ({ready!r})")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            os.close(self._w)
            os.close(self._r)
            self.proc = None
        if self.fault_file and os.path.exists(self.fault_file):
            os.unlink(self.fault_file)
        self.fault_file = ""

    def _receive(self, timeout: float) -> Any:
        """The worker's next message; None if it died, "timeout" if it said nothing in time."""
        deadline = time.monotonic() + timeout
        data = b""
        need = 4
        while len(data) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                return "timeout"
            chunk = os.read(self._r, need - len(data))
            if not chunk:
                return None
            data += chunk
            if need == 4 and len(data) == 4:
                need = 4 + struct.unpack("<I", data)[0]
        return pickle.loads(data[4:])  # our own worker's answer

    def run(self, target: str, suffix: str, data: bytes, timeout: float = TIMEOUT) -> Outcome:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self._start()
        message = pickle.dumps((target, suffix, data))
        os.write(self._w, struct.pack("<I", len(message)))
        view = memoryview(message)
        while view:
            view = view[os.write(self._w, view):]
        answer = self._receive(timeout)
        if answer == "timeout":
            stack = self._stack()
            self.stop()
            return Outcome("finding", "Hang", f"no answer within {timeout:g} s", _stack_location(stack), stack)
        if answer is None:
            code = self.proc.wait()
            self.stop()
            return Outcome("finding", "Crash", f"the worker died (exit status {code})", "?", "")
        outcome = Outcome(**answer)
        if outcome.type in ("MemoryError", "RecursionError"):
            self.stop()  # a fresh process for what follows
        return outcome

    def _stack(self) -> str:
        """The worker's Python stacks, which faulthandler writes on SIGUSR1 even inside C code."""
        try:
            self.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                time.sleep(0.02)
                with open(self.fault_file) as f:
                    text = f.read()
                if "_worker.py" in text:
                    return text[-8000:]
            return text[-8000:]
        except OSError:
            return ""


def _stack_location(stack: str) -> str:
    """The innermost project frame of a faulthandler dump (its first thread, most recent call first)."""
    from _worker import project_location

    frames = []
    main = [block for block in stack.split("\n\n") if "_worker.py" in block]
    for line in (main or [stack])[0].splitlines():
        line = line.strip()
        if line.startswith('File "') and ", line " in line:
            filename = line[6:line.index('", line ')]
            lineno = int(line.split(", line ")[1].split()[0])
            frames.append((filename, lineno))
    return project_location(list(reversed(frames)))


_WORKER = Worker()


def worker() -> Worker:
    return _WORKER


def run_input(target: str, suffix: str, data: bytes) -> Outcome:
    """Run one input; a hang is tried once more on a fresh worker before it counts."""
    outcome = _WORKER.run(target, suffix, data)
    if outcome.type == "Hang":
        again = _WORKER.run(target, suffix, data)
        if again.type != "Hang":
            return again
    return outcome


class Finding(AssertionError):
    """A target let something other than a DLError escape, hung, or broke an invariant."""


def describe(target: str, outcome: Outcome, saved: Path | None = None) -> str:
    where = f"\n  reproducer: {saved}" if saved else ""
    return (f"[{target}] {outcome.type} at {outcome.location}: {outcome.message[:300]}{where}\n"
            f"{outcome.traceback}")


def corpus_files(target: str) -> list[Path]:
    folder = CORPUS / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def save_reproducer(target: str, outcome: Outcome, suffix: str, data: bytes) -> Path:
    folder = Path(os.environ.get("DL_FUZZ_SAVE_DIR") or Path(tempfile.gettempdir()) / "dl-fuzz-findings") / target
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(outcome.signature.encode()).hexdigest()[:8]
    path = folder / f"finding-{outcome.type.replace('.', '_')}-{tag}{suffix}"
    path.write_bytes(data)
    return path


_REPORTED: dict[tuple[str, str], str] | None = None


def reported() -> dict[tuple[str, str], str]:
    """{(target, signature): file} of the reported defects in findings/ that still fail."""
    global _REPORTED
    if _REPORTED is None:
        _REPORTED = {}
        for folder in sorted(FINDINGS.iterdir()) if FINDINGS.is_dir() else []:
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                outcome = run_input(folder.name, path.suffix, path.read_bytes())
                if outcome.status == "finding":
                    _REPORTED[(folder.name, outcome.signature)] = f"findings/{folder.name}/{path.name}"
    return _REPORTED


def fuzz(target: str, strategy: Any, seconds: float = SECONDS, examples: int = QUICK_EXAMPLES) -> None:
    """Run `target` on inputs drawn from `strategy` (which draws (suffix, bytes)).

    With `seconds` 0: `examples` inputs, derandomized. Otherwise batches of inputs with seeds
    0, 1, 2, ... until `seconds` have passed. Fails with every distinct finding, each shrunk by
    hypothesis and saved as a reproducer.
    """
    from hypothesis import HealthCheck, Phase, given, seed, settings

    known: dict[str, tuple[Outcome, str, bytes]] = {}
    failing: dict[str, tuple[Outcome, str, bytes]] = {}
    classes: dict[str, type] = {}
    already = {signature: name for (t, signature), name in reported().items() if t == target}
    hit: set[str] = set()

    def check(case: tuple[str, bytes]) -> None:
        suffix, data = case
        outcome = run_input(target, suffix, data)
        if outcome.status != "finding" or outcome.signature in known:
            return
        if outcome.signature in already:  # a reported defect, waiting in findings/ for its fix
            hit.add(outcome.signature)
            return
        failing[outcome.signature] = (outcome, suffix, data)  # the last call per signature is the shrunk one
        # one exception class per signature, so hypothesis keeps distinct defects apart while shrinking
        cls = classes.setdefault(outcome.signature, type("Finding", (Finding,), {}))
        raise cls(describe(target, outcome))

    quick = seconds <= 0
    common = dict(database=None, deadline=None, report_multiple_bugs=True, print_blob=False,
                  phases=[Phase.explicit, Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
    started = time.monotonic()
    batch = 0
    while True:
        failing.clear()
        options = dict(max_examples=examples, derandomize=True) if quick else dict(max_examples=BATCH)
        test: Callable = given(strategy)(check)
        test = settings(**common, **options)(test)
        if not quick:
            test = seed(FIRST_SEED + batch)(test)
        try:
            test()
        except BaseException as exc:  # noqa: BLE001 - hypothesis raises a Finding or a group of them
            if not failing or not _only_findings(exc):
                raise
        for signature, found in failing.items():
            known[signature] = found
        batch += 1
        if quick or time.monotonic() - started >= seconds:
            break
    if hit:
        warnings.warn(f"[{target}] met {len(hit)} reported defect(s) still open: "
                      + "; ".join(f"{s} ({already[s]})" for s in sorted(hit)), stacklevel=2)
    if known:
        reports = []
        for outcome, suffix, data in known.values():
            reports.append(describe(target, outcome, save_reproducer(target, outcome, suffix, data)))
        raise Finding(f"{len(known)} finding(s) in {time.monotonic() - started:.0f} s, {batch} batch(es):\n\n"
                      + "\n\n".join(reports))


def _only_findings(exc: BaseException) -> bool:
    if hasattr(exc, "exceptions"):  # an exception group
        return all(_only_findings(e) for e in exc.exceptions)
    return isinstance(exc, Finding)


def main(argv: list[str]) -> int:
    """``python tests/fuzz/_harness.py TARGET FILE...``: run files through a target, print each outcome."""
    if len(argv) < 2:
        print("usage: python tests/fuzz/_harness.py spec|data|model|compose FILE...", file=sys.stderr)
        return 2
    target, paths = argv[0], [Path(p) for p in argv[1:]]
    bad = 0
    try:
        for path in paths:
            outcome = run_input(target, path.suffix, path.read_bytes())
            if outcome.status == "finding":
                bad += 1
                print(f"{path}: FINDING\n{describe(target, outcome)}")
            else:
                print(f"{path}: {outcome.status} {outcome.type} {outcome.message[:200]}".rstrip())
    finally:
        _WORKER.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
