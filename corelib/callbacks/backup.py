"""BackupAndRestore: checkpoint training, and continue from the checkpoint after a crash."""

from __future__ import annotations

import os
import uuid
import warnings

from corelib.callbacks.base import Callback
from corelib.distribute import is_chief
from corelib.errors import ConfigError


class BackupAndRestore(Callback):
    """Backs training up to `backup_dir` and, when fit starts again, continues from there.

    As in Keras: at the start of `fit`, if `backup_dir` holds a checkpoint,
    the model's weights, optimizer state and position are restored and
    training continues where it stopped. dl's checkpoints also hold the
    random-number state, the running loss and metric sums of the epoch in
    progress and the logs of the epochs done, so a run that is interrupted
    (even mid-epoch) and resumed ends with exactly the weights of a run that
    was not. When the model's `interrupted` flag ends fit (Ctrl-C in `dl
    train`), a checkpoint of the exact step is written. The file is
    ``backup_dir/checkpoint.dl``, a model file that `load_model` also reads.
    Under a distribution strategy (`corelib.distribute`) only the chief reads
    and writes it; fit gives the other replicas the restored state. Each
    checkpoint records the id of the run that wrote it (`run_id`): a run
    deletes the checkpoint only if it wrote it or continued from it, never
    one another run wrote into the same folder.

    Args:
        backup_dir: the directory of the checkpoint (created when needed).
        save_freq: "epoch" (at each epoch's end), an int (every that many
            steps), or False (only when training is interrupted).
        delete_checkpoint: delete the checkpoint when training ends without
            being interrupted.

    Attributes:
        history: the logs of every epoch done, those before a resume included.
        resumed_from: the `TrainState` training continued from, or None.
        run_id: this callback's run, recorded in each checkpoint it writes.
    """

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int | bool = "epoch",
                 delete_checkpoint: bool = True) -> None:
        super().__init__()
        from corelib.saving.checkpoints import CHECKPOINT_FILE

        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ConfigError("BackupAndRestore: backup_dir must be a directory path. "
                              f"Received: backup_dir={backup_dir!r}")
        steps = isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq > 0
        if not (steps or save_freq is False or save_freq == "epoch"):
            raise ConfigError("BackupAndRestore: save_freq must be 'epoch', a positive int (steps) or False. "
                              f"Received: save_freq={save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self._every_steps = save_freq if steps else None
        self.delete_checkpoint = bool(delete_checkpoint)
        self.path = os.path.join(self.backup_dir, CHECKPOINT_FILE)
        self.history: dict[str, list[float]] = {}
        self.resumed_from = None
        self.run_id = uuid.uuid4().hex
        self._position = (0, 0)
        self._since_save = 0
        self._saved_at: tuple[int, int] | None = None  # the position of the last checkpoint written

    def on_train_begin(self, logs=None):
        from corelib.saving.checkpoints import read_checkpoint

        self.history, self.resumed_from, self._since_save, self._saved_at = {}, None, 0, None
        if not is_chief():  # under a distribution strategy the chief reads, writes and broadcasts
            return
        _remove_stale_temporaries(self.backup_dir)
        if not os.path.exists(self.path):
            return
        checkpoint = read_checkpoint(self.path, self.model)
        checkpoint.state.check_fits(self.params, self.path)
        checkpoint.restore(self.model)
        self.resumed_from = checkpoint.state
        self.model.resume_from(checkpoint.state)
        self.history = {k: list(v) for k, v in checkpoint.state.history.items()}
        self._position = (checkpoint.state.epoch, checkpoint.state.step)
        self._saved_at = self._position  # the file on disk is this very position

    def on_epoch_begin(self, epoch, logs=None):
        resumed = self.resumed_from
        self._position = (epoch, resumed.step if resumed is not None and resumed.epoch == epoch else 0)

    def on_train_batch_end(self, batch, logs=None):
        self._position = (self._position[0], batch + 1)
        if self._every_steps is not None:
            self._since_save += 1
            if self._since_save >= self._every_steps:
                self._save()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self._position = (epoch + 1, 0)
        if self.save_freq == "epoch":
            self._save()

    def on_train_end(self, logs=None):
        if getattr(self.model, "interrupted", False):
            self._save()
        elif self.delete_checkpoint and is_chief():
            why = self.remove_checkpoint()
            if why is not None:
                warnings.warn(why, UserWarning, stacklevel=2)

    def write_checkpoint(self) -> str:
        """Write a checkpoint of the fit as it stands now (the chief only), unless the last one
        this callback wrote is of this very position and still there; returns its path."""
        if self._saved_at != self._position or not os.path.exists(self.path):
            self._save()
        return self.path

    def remove_checkpoint(self) -> str | None:
        """Delete the checkpoint (and the folder, when nothing else is in it) if this run wrote
        it or continued from it. Returns None, or why a checkpoint there was left alone."""
        from corelib.errors import ModelFileError
        from corelib.saving.checkpoints import checkpoint_run_id

        if not os.path.exists(self.path):
            return None
        mine = {self.run_id} | ({self.resumed_from.run_id} if self.resumed_from is not None else set())
        try:
            owner = checkpoint_run_id(self.path)
        except ModelFileError as exc:
            return f"{self.path} was left in place: it is not a checkpoint this run can read ({exc})"
        if owner not in mine:
            return f"{self.path} was left in place: another run{f' (id {owner})' if owner else ''} wrote it"
        os.unlink(self.path)
        try:
            os.rmdir(self.backup_dir)  # only when nothing else is in it
        except OSError:
            pass
        return None

    def _save(self) -> None:
        from corelib.saving.checkpoints import capture_state, save_checkpoint

        epoch, step = self._position
        if is_chief():  # under a distribution strategy every replica holds the same state; one writes it
            os.makedirs(self.backup_dir, exist_ok=True)
            state = capture_state(self.model, epoch, step, self.params, self.history, run_id=self.run_id)
            save_checkpoint(self.model, self.path, state)
            self._saved_at = (epoch, step)
        self._since_save = 0


def _remove_stale_temporaries(directory: str) -> None:
    """A process killed while writing leaves its temporary file (never the checkpoint); clear those."""
    import glob

    for path in glob.glob(os.path.join(glob.escape(directory), ".dl-save-*.tmp")):
        try:
            os.unlink(path)
        except OSError:
            pass
