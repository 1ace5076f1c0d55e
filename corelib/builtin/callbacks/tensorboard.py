"""TensorBoard: write the training curves and weight histograms as TensorBoard event files."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from corelib.callbacks import Callback
from corelib.distribute import is_chief
from corelib.errors import ConfigError
from corelib.validation import positive_int

INSTALL_HINT = 'pip install "dl[tensorboard]"'


def check_tensorboardx() -> None:
    """Raise ConfigError (one line) when tensorboardX, which writes the event files, is not installed."""
    try:
        import tensorboardX  # noqa: F401 - only whether it imports
    except ImportError:
        raise ConfigError(f"TensorBoard needs tensorboardX, which is not installed: {INSTALL_HINT}") from None


class TensorBoard(Callback):
    """Logs what `fit` reports as TensorBoard event files (``tensorboard --logdir=log_dir``).

    As Keras 3's, with the same layout and names: ``log_dir/train`` holds
    ``epoch_loss``, ``epoch_<metric>`` and ``epoch_learning_rate`` (step: the
    epoch, from 0); ``log_dir/validation`` holds the ``val_`` values under the
    same names (``epoch_loss`` is the validation loss there) and
    ``evaluation_<name>_vs_iterations`` (step: the optimizer's iterations).
    With `update_freq` "batch" or N, ``batch_<name>`` (the running values of
    the epoch) every N batches (step: the batch count since `fit` began,
    from 1). With `histogram_freq` N, a histogram of each weight every N
    epochs, tagged ``<layer>/<weight>/histogram`` (Keras 3 tags the bare weight
    name, so two layers' ``kernel`` share a tag). The event files are
    written by tensorboardX, an optional dependency (``pip install
    "dl[tensorboard]"``). Under a distribution strategy only the chief writes.

    Args:
        log_dir: the folder of the event files. Default "logs".
        histogram_freq: epochs between weight histograms; 0 for none.
        write_graph: accepted for Keras compatibility; dl writes no graph (Keras 3
            documents the option as not supported either).
        write_images: also write each weight as an image (Keras's layout:
            biases as a column, kernels as a matrix, 1-D convolution kernels one
            image per output channel), with the histograms.
        write_steps_per_second: also log ``epoch_steps_per_second`` (and
            ``batch_steps_per_second`` with the batch values).
        update_freq: "epoch" (values at each epoch's end only), "batch"
            (every batch too) or an int N (every N batches too).
        profile_batch: must be 0: dl has no profiler to run (Keras 3 refuses
            it likewise on its torch and numpy backends).
        embeddings_freq: must be 0: the embedding projector is not supported.
        embeddings_metadata: must be None (see `embeddings_freq`).
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False, update_freq: str | int = "epoch",
                 profile_batch: int = 0, embeddings_freq: int = 0, embeddings_metadata: Any = None) -> None:
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ConfigError(f"TensorBoard: log_dir must be a folder path. Received: log_dir={log_dir!r}")
        self.histogram_freq = positive_int(histogram_freq, "histogram_freq", "TensorBoard", allow_zero=True)
        if update_freq not in ("epoch", "batch"):
            if isinstance(update_freq, str):
                raise ConfigError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int. "
                                  f"Received: update_freq={update_freq!r}")
            positive_int(update_freq, "update_freq", "TensorBoard")
        if profile_batch not in (0, None):
            raise ConfigError("TensorBoard: profiling is not available in dl. "
                              f"Received: profile_batch={profile_batch!r} (must be 0)")
        if embeddings_freq not in (0, None) or embeddings_metadata is not None:
            raise ConfigError("TensorBoard: the embedding projector is not supported in dl. Received: "
                              f"embeddings_freq={embeddings_freq!r}, embeddings_metadata={embeddings_metadata!r} "
                              "(must be 0 and None)")
        check_tensorboardx()
        self.log_dir = os.fspath(log_dir)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch = 0
        self.embeddings_freq = 0
        self.embeddings_metadata = None
        self._writers: dict[str, Any] = {}
        self._in_fit = False
        self._global_train_batch = 0
        self._batch_start = 0.0
        self._epoch_start = 0.0
        self._epoch_start_iterations = 0

    # -- writers: created on first use, so a callback that never writes leaves no file ------

    def _writer(self, run: str) -> Any:
        writer = self._writers.get(run)
        if writer is None:
            from tensorboardX import SummaryWriter

            writer = self._writers[run] = SummaryWriter(os.path.join(self.log_dir, run))
        return writer

    def _scalars(self, run: str, values: dict, step: int, prefix: str = "", suffix: str = "") -> None:
        if not values or not is_chief():
            return
        writer = self._writer(run)
        for name, value in values.items():
            writer.add_scalar(f"{prefix}{name}{suffix}", float(value), step)

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # -- fit ----------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start = time.perf_counter()
            self._epoch_start_iterations = self._iterations()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        values = dict(logs or {})
        if self.write_steps_per_second:
            values["steps_per_second"] = 1.0 / max(time.perf_counter() - self._batch_start, 1e-12)
        self._scalars("train", values, self._global_train_batch, prefix="batch_")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train["learning_rate"] = float(optimizer.current_learning_rate())
        if self.write_steps_per_second:
            elapsed = max(time.perf_counter() - self._epoch_start, 1e-12)
            train["steps_per_second"] = (self._iterations() - self._epoch_start_iterations) / elapsed
        self._scalars("train", train, epoch, prefix="epoch_")
        self._scalars("validation", val, epoch, prefix="epoch_")
        # fit's validation runs no test hooks in dl; Keras's evaluation scalars are written here instead
        self._scalars("validation", val, self._iterations(), prefix="evaluation_", suffix="_vs_iterations")
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        self._flush()

    # -- evaluate -----------------------------------------------------------------------

    def on_test_end(self, logs=None):
        if getattr(self.model, "optimizer", None) is None:
            return
        self._scalars("validation", logs or {}, self._iterations(), prefix="evaluation_", suffix="_vs_iterations")
        if not self._in_fit:  # evaluate() on its own: nothing closes the writers later
            self._close_writers()

    # -- helpers ------------------------------------------------------------------------

    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        return int(getattr(optimizer, "iterations", 0) or 0)

    def _flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def _log_weights(self, epoch: int) -> None:
        if not is_chief():
            return
        writer = self._writer("train")
        for p in self.model.weights:
            writer.add_histogram(f"{p.path}/histogram", np.asarray(p.value, dtype=np.float64), epoch)
            if self.write_images:
                image = weight_image(p.value)
                if image is not None:
                    writer.add_images(f"{p.path}/image", image, epoch, dataformats="NHWC")


def weight_image(value: np.ndarray) -> np.ndarray | None:
    """A weight as a batch of images (N, H, W, C) in Keras's layout, or None where Keras writes none.

    A bias is one column, a kernel one matrix (wider than high), a 1-D convolution
    kernel one image per output channel; anything else only when it already
    is (N, H, W, 1, 3 or 4). Values are shown as they are (clipped to [0, 1]).
    """
    w = np.squeeze(np.asarray(value, dtype=np.float32))
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))[..., None]
    if w.ndim == 4 and w.shape[-1] in (1, 3, 4):
        return w
    return None
