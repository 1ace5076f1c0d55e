"""ResumableTraining: fit with a checkpoint folder, stopped cleanly by Ctrl-C and continued later.

    run = ResumableTraining("ckpt", resume=True)   # refuses a stale checkpoint without resume
    run.fit(model, x, y, epochs=20)     # Ctrl-C: a checkpoint of the exact step, run.interrupted
    if not run.interrupted:
        run.save("model.dl")            # the model, then the checkpoint is deleted

What `dl train` does with ``--checkpoint-dir``, ``--resume`` and Ctrl-C, for a
Python script: the run that continues from a checkpoint ends with exactly the
weights of a run never interrupted, and a checkpoint is never left behind
by a run that finished, nor deleted before the model is safely saved.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from corelib.callbacks.backup import BackupAndRestore
from corelib.callbacks.base import Callback
from corelib.callbacks.interrupt import StopOnSignal
from corelib.distribute import is_chief
from corelib.errors import ConfigError

__all__ = ["ResumableTraining", "final_logs"]


def _silent(text: str) -> None:
    return None


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
        warn: receives warnings (a signal arrived; resume asked but no checkpoint).

    Under a distribution strategy every replica runs the same code; only the chief
    (rank 0) reads and writes the checkpoint and speaks.
    """

    def __init__(self, checkpoint_dir: str | os.PathLike, save_freq: str | int | bool = False,
                 resume: bool = False, say: Callable[[str], Any] | None = None,
                 warn: Callable[[str], Any] | None = None) -> None:
        chief = is_chief()
        self.model: Any = None
        self._say = say if say is not None and chief else _silent
        self._warn = warn if warn is not None and chief else _silent
        self.backup = BackupAndRestore(checkpoint_dir, save_freq=save_freq, delete_checkpoint=False)
        self.stop = StopOnSignal(echo=self._warn)
        exists = os.path.exists(self.backup.path)
        if chief and exists and not resume:
            raise ConfigError(f"{self.backup.backup_dir} holds the checkpoint of an earlier run: pass --resume (resume=True) "
                              f"to continue it, or delete {self.backup.path} to start again")
        if resume and not exists:
            self._warn(f"No checkpoint in {self.backup.backup_dir}; starting from the beginning")

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
        """Save the model trained by `fit` (the chief only), then delete the checkpoint and its
        folder if empty."""
        if self.model is None:
            raise ConfigError("ResumableTraining.save: call fit first")
        if not is_chief():
            return
        self.model.save(os.fspath(filepath))
        if os.path.exists(self.backup.path):
            os.unlink(self.backup.path)
        try:
            os.rmdir(self.backup.backup_dir)  # only when nothing else is in it
        except OSError:
            pass


def final_logs(history: dict[str, list[float]]) -> tuple[str, dict[str, float]]:
    """("validation", the last epoch's val_ logs without the prefix) when there are any,
    else ("train", the last epoch's logs): what a run reports when it ends."""
    last = {k: v[-1] for k, v in history.items() if v}
    val = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
    return ("validation", val) if val else ("train", last)
