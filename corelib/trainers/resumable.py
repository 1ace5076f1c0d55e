"""ResumableTraining: fit with a checkpoint folder, stopped cleanly by Ctrl-C and continued later.

    run = ResumableTraining("ckpt", resume=True)   # refuses a stale checkpoint without resume
    run.fit(model, x, y, epochs=20)     # Ctrl-C: a checkpoint of the exact step, run.interrupted
    if not run.interrupted:
        run.save("model.dl")            # the model, then the checkpoint is deleted

What `dl train` does with ``--checkpoint-dir``, ``--resume`` and Ctrl-C, for a
Python script: the run that continues from a checkpoint ends with exactly the
weights of a run never interrupted, and a checkpoint is never left behind
by a run that finished, nor deleted before the model is safely saved.

A run holds its checkpoint folder with a lock file (``checkpoint.lock``:
pid, host, start time, run id), so a second run given the same folder is
refused while the first lives; a lock left by a process that no longer
runs on this host is taken over with a warning.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
import warnings
import weakref
from typing import Any, Callable

from corelib.callbacks.backup import BackupAndRestore
from corelib.callbacks.base import Callback
from corelib.callbacks.interrupt import StopOnSignal
from corelib.distribute import is_chief
from corelib.errors import ConfigError

__all__ = ["ResumableTraining", "final_logs", "LOCK_FILE"]

LOCK_FILE = "checkpoint.lock"
_FRESH_SECONDS = 5.0  # an unreadable lock younger than this is being written by its run right now


def _silent(text: str) -> None:
    return None


def _warning(text: str) -> None:
    warnings.warn(text, UserWarning, stacklevel=4)


class _ResumeNotice(Callback):
    """Says where a run continues from, once BackupAndRestore (listed before it) restored it."""

    def __init__(self, backup: BackupAndRestore, say: Callable[[str], Any]) -> None:
        super().__init__()
        self._backup = backup
        self._say = say

    def on_train_begin(self, logs=None):
        state = self._backup.resumed_from
        if state is not None:
            where = f"epoch {state.epoch + 1}" + (f", step {state.step}" if state.step else "")
            self._say(f"Resuming from {self._backup.path} at {where}")


class ResumableTraining:
    """Training into a checkpoint folder that survives Ctrl-C, SIGTERM and crashes.

    Args:
        checkpoint_dir: the folder of the checkpoint (``checkpoint_dir/checkpoint.dl``).
        save_freq: "epoch", a number of steps, or False: checkpoint only when stopped by a signal.
        resume: continue from the checkpoint in `checkpoint_dir` if there is one. Without it a
            checkpoint there is refused (ConfigError), so an earlier run is never continued
            or overwritten by accident.
        say: receives progress notices ("Resuming from ... at epoch 3, step 7").
        warn: receives warnings (a signal arrived; resume asked but no checkpoint; a stale
            lock taken over).
        lock: hold the folder with a lock file until `save` or `close` (when the run checkpoints
            periodically, or the folder exists already): another run given the same folder is
            refused (ConfigError naming the holder's pid) while this one lives.

    Under a distribution strategy every replica runs the same code; only the chief
    (rank 0) reads and writes the checkpoint, holds the lock and speaks. Use it in a
    ``with`` block (or call `close`) to release the lock when the run fails.
    """

    def __init__(self, checkpoint_dir: str | os.PathLike, save_freq: str | int | bool = False,
                 resume: bool = False, say: Callable[[str], Any] | None = None,
                 warn: Callable[[str], Any] | None = None, lock: bool = True) -> None:
        chief = is_chief()
        self.model: Any = None
        self._say = say if say is not None and chief else _silent
        self._warn = warn if warn is not None and chief else _silent
        self.backup = BackupAndRestore(checkpoint_dir, save_freq=save_freq, delete_checkpoint=False)
        self.stop = StopOnSignal(echo=self._warn)
        self._lock: _FolderLock | None = None
        if chief and lock and (save_freq is not False or os.path.isdir(self.backup.backup_dir)):
            taking_over = self._warn if warn is not None else _warning  # said, even to a script that listens to nothing
            self._lock = _FolderLock(self.backup.backup_dir, self.backup.run_id, taking_over)
        exists = os.path.exists(self.backup.path)
        if chief and exists and not resume:
            self.close()
            raise ConfigError(f"{self.backup.backup_dir} holds the checkpoint of an earlier run: pass --resume (resume=True) "
                              f"to continue it, or delete {self.backup.path} to start again")
        if resume and not exists:
            self._warn(f"No checkpoint in {self.backup.backup_dir}; starting from the beginning")

    def __enter__(self) -> "ResumableTraining":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the folder's lock (safe to call twice); the checkpoint, if any, stays."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def checkpoint_path(self) -> str:
        return self.backup.path

    @property
    def interrupted(self) -> bool:
        """Whether the last `fit` was stopped by a signal (its checkpoint is written)."""
        return self.model is not None and bool(self.model.interrupted)

    @property
    def exit_code(self) -> int:
        """0, or the shell's code for the signal that stopped the run (130 SIGINT, 143 SIGTERM)."""
        return self.stop.exit_code if self.interrupted else 0

    @property
    def history(self) -> dict[str, list[float]]:
        """The logs of every epoch trained, those before a resume included."""
        return self.backup.history

    @property
    def resumed_from(self) -> Any:
        """The checkpoint's `TrainState` the last fit continued from, or None."""
        return self.backup.resumed_from

    def fit(self, model: Any, *args: Any, callbacks: list | None = None, **kwargs: Any) -> Any:
        """`model.fit(*args, **kwargs)` (a compiled model) with the checkpoint, the resume and the
        signal handling added before `callbacks`; returns the History."""
        self.model = model
        extra = [self.backup, _ResumeNotice(self.backup, self._say), self.stop]
        try:
            return self.model.fit(*args, callbacks=extra + list(callbacks or []), **kwargs)
        finally:
            self.stop.restore()

    def save(self, filepath: str | os.PathLike) -> None:
        """Save the model trained by `fit` (the chief only), then delete the checkpoint (when this
        run wrote or continued it), release the lock and remove the folder if empty. When the
        model cannot be written (OSError) nothing is deleted: see `keep`."""
        if self.model is None:
            raise ConfigError("ResumableTraining.save: call fit first")
        if not is_chief():
            return
        self.model.save(os.fspath(filepath))
        why = self.backup.remove_checkpoint()
        if why is not None:
            self._warn(why)
        self.close()
        _remove_if_empty(self.backup.backup_dir)

    def keep(self) -> str | None:
        """After `save` failed to write the model: make sure the checkpoint folder holds the
        finished run (written now, unless the last checkpoint is of this very point) and return
        the checkpoint's path, from which `resume=True` saves it with no more training; None when
        it cannot be written either, or on a replica that is not the chief."""
        if self.model is None or not is_chief():
            return None
        try:
            return self.backup.write_checkpoint()
        except OSError:
            return None


class _FolderLock:
    """The lock file of a checkpoint folder, created atomically (O_CREAT | O_EXCL) with the
    holder's pid, host, start time and run id, and removed by the run that made it."""

    def __init__(self, folder: str, run_id: str, warn: Callable[[str], Any]) -> None:
        self.folder = folder
        self.path = os.path.join(folder, LOCK_FILE)
        self.run_id = run_id
        created = not os.path.isdir(folder)
        try:
            os.makedirs(folder, exist_ok=True)
            self._take(warn)
        except BaseException as exc:
            if created:
                _remove_if_empty(folder)
            if isinstance(exc, OSError):
                raise ConfigError(f"{folder}: cannot write the checkpoint folder ({exc.strerror or exc})") from None
            raise
        # A script that never calls close: the lock goes with the object, or at exit.
        self._finalizer = weakref.finalize(self, _release, self.path, run_id, folder if created else None)

    def _take(self, warn: Callable[[str], Any]) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.datetime.now().isoformat(timespec="seconds"), "run": self.run_id}
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._check_holder(me, warn)
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            return
        raise ConfigError(f"{self.folder}: could not take the lock {self.path}: other runs keep taking it")

    def _check_holder(self, me: dict, warn: Callable[[str], Any]) -> None:
        """Refuse a lock whose run may still be alive; return (to take it over) when it is not."""
        holder = _read_lock(self.path)
        if holder is None:
            try:
                age = time.time() - os.path.getmtime(self.path)
            except OSError:
                return
            if age < _FRESH_SECONDS:
                raise ConfigError(f"{self.folder} is being locked by another run right now ({self.path}): "
                                  "give another --checkpoint-dir, or try again")
            warn(f"Taking over the lock of {self.folder}: its lock file {self.path} is unreadable")
            return
        pid, host, started = holder["pid"], holder["host"], holder.get("started", "?")
        if host != me["host"]:
            raise ConfigError(f"{self.folder} is in use by another run: pid {pid} on host {host}, started {started}; "
                              f"give another --checkpoint-dir, or delete {self.path} if that run has ended")
        if pid == me["pid"]:
            return  # left by an earlier run of this process that was not closed
        if _alive(pid):
            raise ConfigError(f"{self.folder} is in use by another run: pid {pid}, started {started} (lock file "
                              f"{self.path}); wait for it to end, or give another --checkpoint-dir")
        warn(f"Taking over the lock of {self.folder} from pid {pid} (started {started}), which is no longer running")

    def release(self) -> None:
        self._finalizer()


def _read_lock(path: str) -> dict | None:
    """The lock file's holder, or None when it is unreadable (being written, or corrupt)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.loads(fh.read(4096))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or type(doc.get("pid")) is not int or doc["pid"] <= 0 \
            or not isinstance(doc.get("host"), str):
        return None
    return doc


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as someone else
        return True
    return True


def _release(path: str, run_id: str, created_folder: str | None) -> None:
    """Remove the lock file if it is still this run's, and the folder if this run made it and
    nothing else is in it."""
    holder = _read_lock(path)
    if holder is not None and holder.get("run") == run_id:
        try:
            os.unlink(path)
        except OSError:
            pass
    if created_folder is not None:
        _remove_if_empty(created_folder)


def _remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:  # not empty (a checkpoint, another file), or gone
        pass


def final_logs(history: dict[str, list[float]]) -> tuple[str, dict[str, float]]:
    """("validation", the last epoch's val_ logs without the prefix) when there are any,
    else ("train", the last epoch's logs): what a run reports when it ends."""
    last = {k: v[-1] for k, v in history.items() if v}
    val = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
    return ("validation", val) if val else ("train", last)
