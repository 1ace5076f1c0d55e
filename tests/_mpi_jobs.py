"""What the multi-process tests (tests/test_mpi.py) run under ``mpiexec``, and the
same models and data built in-process for the single-process reference.

    mpiexec -n 2 python tests/_mpi_jobs.py train OUT_DIR
    mpiexec -n 2 python tests/_mpi_jobs.py fault raise|exit|early OUT_DIR
    mpiexec -n 2 python tests/_mpi_jobs.py checkpoint BACKUP_DIR OUT_DIR [kill]
    mpiexec -n 2 python tests/_mpi_jobs.py stream OUT_DIR
    mpiexec -n 2 python tests/_mpi_jobs.py dl train SPEC ...

The launched processes find dl-mpi installed, or else register it from the
source tree (plugins/dl-mpi), so the tests also run from a plain checkout.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

import corelib
from corelib import Input, config, distribute, layers, models
from corelib.callbacks import Callback
from corelib.metrics import Metric

EPOCHS = 3
BATCH = 16  # 103 samples, 20% held out: 83 to train, an uneven last batch of 3


def data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 103
    y = rng.integers(0, 3, n)
    if kind == "cnn":
        x = rng.standard_normal((n, 6, 6, 2))
        x[np.arange(n), y, y, 0] += 2.0
    else:
        x = rng.standard_normal((n, 8)) + np.eye(8)[y] * 2.0
    return x, y


class WorstError(Metric):
    """The largest weighted absolute error seen: a metric whose state does not add up over
    replicas, so data-parallel training gathers each global batch for it."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        err = np.abs(np.asarray(y_true, dtype=np.float64) - y_pred).reshape(len(y_pred), -1).max(axis=1)
        if sample_weight is not None:
            err = err * sample_weight
        self.worst = max(self.worst, float(err.max(initial=0.0)))

    def result(self):
        return self.worst

    def reset_state(self):
        self.worst = 0.0


def build(kind: str, dtype: str):
    """A model compiled with its optimizer; the same weights for the same dtype wherever it is built."""
    config.set_floatx(dtype)
    corelib.set_seed(3)
    if kind == "mlp":
        model = models.Sequential([layers.Dense(12, activation="tanh", input_shape=(8,)),
                                   layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    elif kind == "cnn":  # no BatchNormalization or Dropout: those are not one-process-equivalent by design
        model = models.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 2)),
                                   layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.compile(optimizer={"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
                      loss="sparse_categorical_crossentropy", metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    elif kind == "bn_dropout":  # trains per shard (not like one process), but the replicas stay identical
        model = models.Sequential([layers.Dense(12, input_shape=(8,)), layers.BatchNormalization(),
                                   layers.Activation("relu"), layers.Dropout(0.3), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:  # two outputs: per-output losses (one summed, not averaged), loss weights, sample weights
        inp = Input(shape=(8,))
        trunk = layers.Dense(10, activation="relu")(inp)
        cls = layers.Dense(3, activation="softmax", name="cls")(trunk)
        reg = layers.Dense(1, name="reg")(trunk)
        model = models.Model(inp, [cls, reg])
        model.compile(optimizer="rmsprop", loss=["sparse_categorical_crossentropy",
                                                 {"class_name": "MeanSquaredError", "config": {"reduction": "sum"}}],
                      loss_weights=[1.0, 0.01], metrics=[["accuracy"], ["mae", WorstError()]])
    return model


def fit(model, kind: str, callbacks=(), epochs: int = EPOCHS):
    x, y = data("mlp" if kind == "bn_dropout" else kind)
    if kind == "two_heads":
        weights = np.linspace(0.5, 1.5, len(y))
        return model.fit(x, [y, x[:, :1] * 0.5], batch_size=BATCH, epochs=epochs, verbose=0,
                         sample_weight=weights, validation_split=0.2, callbacks=list(callbacks))
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, validation_split=0.2,
                     callbacks=list(callbacks))


def results(kind: str, dtype: str) -> dict:
    """Train, evaluate and predict; the numbers the tests compare."""
    model = build(kind, dtype)
    history = fit(model, kind)
    x, y = data("mlp" if kind == "bn_dropout" else kind)
    if kind == "two_heads":
        evaluation = model.evaluate(x, [y, x[:, :1] * 0.5], batch_size=10, verbose=0)
        predictions = model.predict(x, batch_size=10)[0]
    else:
        evaluation = model.evaluate(x, y, batch_size=10, verbose=0)
        predictions = model.predict(x, batch_size=10)
    out = {f"w{i}": p.value for i, p in enumerate(model.weights)}
    out.update({f"h_{k}": np.array(v) for k, v in history.history.items()})
    out["evaluate"] = np.array(evaluation)
    out["predict"] = predictions
    return out


CASES = [("mlp", "float32"), ("mlp", "float64"), ("cnn", "float32"), ("cnn", "float64"), ("two_heads", "float64")]
IN_STEP_ONLY = [("bn_dropout", "float32")]  # not one-process-equivalent: replicas must agree with each other


def job_train(out_dir: str) -> None:
    rank = distribute.get_strategy().rank
    for kind, dtype in CASES + IN_STEP_ONLY:
        np.savez(os.path.join(out_dir, f"{kind}-{dtype}-rank{rank}.npz"), **results(kind, dtype))


class Fault(Callback):
    """Fails on one rank at (epoch, step): raises, exits without MPI, or is killed."""

    def __init__(self, how: str, epoch: int, step: int, rank: int = 1) -> None:
        super().__init__()
        self.how, self.at, self.rank = how, (epoch, step), rank

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) != self.at or distribute.get_strategy().rank != self.rank:
            return
        if self.how == "raise":
            raise RuntimeError("a deliberate failure on one rank")
        if self.how == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)


def job_fault(how: str, out_dir: str) -> None:
    if how == "early" and distribute.get_strategy().rank == 1:
        return  # this program ends on rank 1 while rank 0 waits in fit
    model = build("mlp", "float64")
    fit(model, "mlp", callbacks=[Fault(how, 1, 2)])
    open(os.path.join(out_dir, f"finished-rank{distribute.get_strategy().rank}"), "w").close()


def job_checkpoint(backup_dir: str, out_dir: str, kill: bool) -> None:
    """Float64 MLP checkpointed every 2 steps; `kill`: rank 1 is killed in epoch 2 (after the
    checkpoint of step 4, before step 6's); otherwise resume from the checkpoint and finish."""
    from corelib.callbacks import BackupAndRestore

    with distribute.get("mpi").scope():  # the explicit API (under mpiexec it is also automatic)
        model = build("mlp", "float64")
        callbacks = [BackupAndRestore(backup_dir, save_freq=2, delete_checkpoint=False)]
        fit(model, "mlp", callbacks + ([Fault("kill", 1, 4)] if kill else []))
    if distribute.is_chief():
        np.savez(os.path.join(out_dir, "resumed.npz"), **{f"w{i}": p.value for i, p in enumerate(model.weights)})


class Rows(corelib.utils.PyDataset):
    """The mlp data in batches of `size` rows, in order; records the batches it loads."""

    def __init__(self, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.x, self.y = data("mlp")
        self.size, self.loaded = size, []

    def __len__(self) -> int:
        return -(-len(self.x) // self.size)

    def __getitem__(self, i: int):
        self.loaded.append(i)
        return self.x[i * self.size:(i + 1) * self.size], self.y[i * self.size:(i + 1) * self.size]


def stream_results(source, dtype: str = "float64", validation=None) -> dict:
    """Train on a stream of batches, validate on `validation` (a stream) and evaluate on it again."""
    model = build("mlp", dtype)
    validation = validation if validation is not None else Rows(BATCH)
    history = model.fit(source, epochs=EPOCHS, verbose=0, shuffle=False, validation_data=validation)
    out = {f"w{i}": p.value for i, p in enumerate(model.weights)}
    out.update({f"h_{k}": np.array(v) for k, v in history.history.items()})
    out["evaluate"] = np.array(model.evaluate(validation, verbose=0))
    return out


def job_stream(out_dir: str) -> None:
    """Each rank reads only its own batches of a PyDataset (and keeps only its own of a generator)."""
    strategy = distribute.get_strategy()
    rows, validation = Rows(BATCH, workers=2), Rows(BATCH)
    out = stream_results(rows, validation=validation)
    out["loaded"] = np.array(rows.loaded)
    out["validation_loaded"] = np.array(validation.loaded)
    np.savez(os.path.join(out_dir, f"pydataset-rank{strategy.rank}.npz"), **out)
    np.savez(os.path.join(out_dir, f"iterable-rank{strategy.rank}.npz"), **stream_results(Passes(BATCH)))


class Passes:
    """The mlp data as an iterable of batches of `size` rows: a new pass at each iter()."""

    def __init__(self, size: int) -> None:
        self.x, self.y = data("mlp")
        self.size = size

    def __iter__(self):
        return ((self.x[i:i + self.size], self.y[i:i + self.size]) for i in range(0, len(self.x), self.size))


def use_plugin_from_source_if_not_installed() -> None:
    import importlib.metadata

    try:
        importlib.metadata.distribution("dl-mpi")
    except importlib.metadata.PackageNotFoundError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "plugins", "dl-mpi"))
        import dl_mpi.plugin
        from corelib.registry import get_registry

        get_registry().register_plugin(dl_mpi.plugin, name="dl-mpi", version="0.1.0")


if __name__ == "__main__":
    use_plugin_from_source_if_not_installed()
    job, args = sys.argv[1], sys.argv[2:]
    if job == "dl":
        from dl_cli.main import main

        main(args)
    elif job == "train":
        job_train(*args)
    elif job == "fault":
        job_fault(*args)
    elif job == "stream":
        job_stream(*args)
    elif job == "checkpoint":
        job_checkpoint(args[0], args[1], kill=args[2:] == ["kill"])
    else:
        raise SystemExit(f"unknown job {job!r}")
