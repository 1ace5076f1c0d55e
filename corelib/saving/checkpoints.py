"""Training checkpoints: everything needed to continue a `fit` bit for bit.

A checkpoint is a model file (config.json, weights.npz, optimizer.npz) with
one more entry, ``train_state.json``: where training stands (epoch and step),
dl's random-number state at the start of that epoch and at the checkpoint,
the generators of layers seeded on their own, the running loss sums and
metric states of the epoch in progress, and the logs of the epochs done.
It is written to a temporary file and renamed into place, so a crash while
writing leaves the previous checkpoint whole.

Resuming at (epoch, step), `fit` restores the epoch's starting random state,
draws the same shuffle permutation, restores the random state of the
checkpoint and skips the steps already done: the rest of the run sees the
same batches and dropout masks as an uninterrupted one. `BackupAndRestore`
(corelib.callbacks.backup) writes and reads these files.

A checkpoint is refused for a model other than the one that wrote it: other
weight shapes or layer classes, but also another architecture (an activation,
a rate, the wiring of a graph; layer names aside) or another training
configuration (optimizer, loss, metrics, loss weights). Each checkpoint
records the id of the run that wrote it, so a run deletes only its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from corelib import config
from corelib.errors import ConfigError, ModelFileError, short_repr
from corelib.saving.archive import model_entries, open_inner_npz, open_zip, read_config
from corelib.saving.model_file import model_config, weight_classes, write_model_zip
from corelib.saving.safe_zip import npz_headers, read_entry, read_npz

__all__ = ["CHECKPOINT_FILE", "STATE_ENTRY", "TrainState", "Checkpoint", "capture_state", "save_checkpoint",
           "read_checkpoint", "checkpoint_run_id", "layer_rng_states", "set_layer_rng_states"]

CHECKPOINT_FILE = "checkpoint.dl"
STATE_ENTRY = "train_state.json"
_STATE_FORMAT = "dl-train-state"
_STATE_VERSION = 1
_MAX_STATE_BYTES = 64 * 2**20


@dataclass
class TrainState:
    """Where a fit stands, and the state that is not in the weights.

    Attributes:
        epoch, step: the next step to run (step 0: the epoch has not started).
        steps, samples, batch_size: the run's shape, checked on resume (0: a stream does not tell).
        epoch_rng: dl's random state before the shuffle of `epoch`'s pass over the data (the
            start of `epoch`, unless steps_per_epoch splits a pass over several epochs).
        rng: dl's random state at the checkpoint.
        layer_rngs: {layer position: state} of layers with their own seeded generator.
        loss_sums: the epoch's running loss sums ({"sum", "sums", "count"}); None at step 0.
        metric_states: each metric's running state; None at step 0.
        learning_rate: the optimizer's learning rate when it is a plain number.
        history: the logs of every epoch done, as `History.history`.
        run_id: the run that wrote the checkpoint (None in files written before dl recorded it).
    """

    epoch: int
    step: int
    steps: int
    samples: int
    batch_size: int
    epoch_rng: dict
    rng: dict
    layer_rngs: dict = field(default_factory=dict)
    loss_sums: dict | None = None
    metric_states: list | None = None
    learning_rate: float | None = None
    history: dict = field(default_factory=dict)
    run_id: str | None = None

    def enter_epoch(self, model: Any, n: int, shuffle: bool, starts_pass: bool = True,
                    draw: Callable[[], Any] | None = None) -> tuple[Any, int]:
        """Called by fit at the start of the resumed epoch: sets dl's random state and the
        model's running sums as they were, and returns (shuffle order, steps to skip).

        `starts_pass`: the epoch starts a pass over the data (draws its shuffle); when it
        does not (steps_per_epoch splits a pass over several epochs), `epoch_rng` is the
        state before that pass's shuffle, drawn again here. `draw`: what draws the shuffle
        instead of a permutation of `n` (a stream starting its pass); its result is returned."""
        config.set_rng_state(self.epoch_rng)
        order = draw() if draw is not None else config.rng().permutation(n) if shuffle else None
        if self.step or not starts_pass:  # at a pass's step 0 the checkpoint's state is before the shuffle
            config.set_rng_state(self.rng)
        if self.loss_sums is not None and model.compiled_loss is not None:
            model.compiled_loss.set_running_state({"loss_sums": self.loss_sums,
                                                   "metric_states": self.metric_states or []})
        return order, self.step

    def check_fits(self, params: dict, path: str) -> None:
        """Refuse to resume a run of another shape (other data or batch size)."""
        mine = (self.samples, self.batch_size, self.steps)
        theirs = tuple(params.get(key) or 0 for key in ("samples", "batch_size", "steps"))
        if mine != theirs:
            raise ConfigError(
                f"{path}: the checkpoint was written for {self.samples} training samples in batches of "
                f"{self.batch_size} ({self.steps} steps per epoch), but this run has {theirs[0]} samples in "
                f"batches of {theirs[1]} ({theirs[2]} steps): resume with the same data and batch size"
            )


def layer_rng_states(model: Any) -> dict[str, dict]:
    """{layer position: generator state} of the layers seeded on their own (Dropout(seed=...)),
    nested models' included (`Layer.get_rng_state` of a model gathers its layers')."""
    state = model.get_rng_state()
    return dict(state["layers"]) if state else {}


def set_layer_rng_states(model: Any, states: dict[str, dict]) -> None:
    """Inverse of `layer_rng_states` (positions that are not layers of `model` are skipped)."""
    model.set_rng_state({"layers": states})


def capture_state(model: Any, epoch: int, step: int, params: dict, history: dict,
                  run_id: str | None = None) -> TrainState:
    """The state of `model`'s fit at (epoch, step), taken from inside a callback; `run_id`
    names the run that writes it."""
    now = config.get_rng_state()
    mid_epoch = step > 0
    mid_pass = mid_epoch or not getattr(model, "epoch_starts_pass", lambda epoch: True)(epoch)
    running = model.compiled_loss.running_state() if mid_epoch and model.compiled_loss is not None else {}
    lr = getattr(model.optimizer, "learning_rate", None)
    return TrainState(
        epoch=int(epoch), step=int(step), steps=int(params.get("steps") or 0), samples=int(params.get("samples") or 0),
        batch_size=int(params.get("batch_size") or 0),  # 0: not known ahead (a stream of batches)
        epoch_rng=model.epoch_rng_state if mid_pass else now, rng=now,
        layer_rngs=layer_rng_states(model),
        loss_sums=running.get("loss_sums"), metric_states=running.get("metric_states"),
        learning_rate=float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None,
        history={k: [float(v) for v in vs] for k, vs in history.items()},
        run_id=run_id,
    )


# -- the file -----------------------------------------------------------------------


def save_checkpoint(model: Any, path: str | os.PathLike, state: TrainState) -> None:
    """Write `model` and `state` to `path` atomically (temporary file, then rename)."""
    optimizer = model.optimizer
    opt_state = optimizer.get_state() if optimizer is not None and optimizer.iterations else None
    train_state = json.dumps({"format": _STATE_FORMAT, "format_version": _STATE_VERSION, **asdict(state)})
    write_model_zip(os.fspath(path), model_config(model), {p.path: p.value for p in model.weights}, opt_state,
                    extra={STATE_ENTRY: train_state})


@dataclass
class Checkpoint:
    """A checkpoint read and checked against a model, not yet applied to it."""

    path: str
    state: TrainState
    weights: list[np.ndarray]
    optimizer_state: dict[str, np.ndarray] | None

    def restore(self, model: Any) -> None:
        """Put the weights, optimizer state, layer generators and learning rate into `model`."""
        for p, value in zip(model.weights, self.weights):
            p.value[...] = value
        if self.optimizer_state is not None:
            try:
                model.optimizer.set_state(model.trainable_weights, self.optimizer_state)
            except (ValueError, KeyError, TypeError, OverflowError) as exc:
                raise ModelFileError(f"{self.path}: the optimizer state does not fit this model's optimizer: "
                                     f"{' '.join(str(exc).split())}") from None
        if self.state.learning_rate is not None and isinstance(model.optimizer.learning_rate, (int, float)):
            model.optimizer.learning_rate = self.state.learning_rate
        set_layer_rng_states(model, self.state.layer_rngs)


def read_checkpoint(path: str | os.PathLike, model: Any) -> Checkpoint:
    """Read and check the checkpoint at `path` for `model` (built and compiled); changes nothing.

    Raises:
        ModelFileError: the file is not a checkpoint, is corrupt, or was
            written for a model with other weights, another architecture or
            another training configuration (the message names the first field
            that differs).
    """
    path = os.fspath(path)
    with open_zip(path, "dl checkpoint") as zf:
        infos = model_entries(zf, path, "the checkpoint", "a checkpoint")
        for needed in ("config.json", "weights.npz", STATE_ENTRY):
            if needed not in infos:
                raise ModelFileError(f"{path}: not a training checkpoint (no {needed})")
        doc = read_config(zf, infos["config.json"], path)
        names = doc.get("weights")
        params = model.weights
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelFileError(f"{path}: config.json has no list of weight names")
        if len(names) != len(params):
            raise ModelFileError(f"{path}: the checkpoint was written for a model with {len(names)} weight arrays; "
                                 f"this model has {len(params)}")
        budget = sum(p.value.nbytes for p in params) + 2**20
        with open_inner_npz(zf, infos["weights.npz"], path) as npz:
            headers = npz_headers(npz, path, "weights.npz", budget)
            _check_shapes(path, names, headers, params, doc.get("weight_classes"), weight_classes(model))
            _check_same_config(path, doc, model_config(model))
            arrays = read_npz(npz, path, "weights.npz", budget)
        optimizer_state = None
        if "optimizer.npz" in infos:
            with open_inner_npz(zf, infos["optimizer.npz"], path) as npz:
                optimizer_state = read_npz(npz, path, "optimizer.npz", 4 * budget)
        raw = read_entry(zf, infos[STATE_ENTRY], path, _MAX_STATE_BYTES)
    state = _parse_state(raw, path)
    return Checkpoint(path, state, [arrays[n] for n in names], optimizer_state)


def checkpoint_run_id(path: str | os.PathLike) -> str | None:
    """The id of the run that wrote the checkpoint at `path` (None for a file written before
    dl recorded it), read with the same checks as `read_checkpoint`.

    Raises:
        ModelFileError: the file is not a readable checkpoint.
    """
    path = os.fspath(path)
    with open_zip(path, "dl checkpoint") as zf:
        infos = model_entries(zf, path, "the checkpoint", "a checkpoint")
        if STATE_ENTRY not in infos:
            raise ModelFileError(f"{path}: not a training checkpoint (no {STATE_ENTRY})")
        raw = read_entry(zf, infos[STATE_ENTRY], path, _MAX_STATE_BYTES)
    return _parse_state(raw, path).run_id


# -- the same model, the same training --------------------------------------------------------

_IGNORED_KEYS = frozenset({"plugin_version", "providers"})  # a plugin's upgrade does not make another model


@dataclass(frozen=True)
class _Name:
    """A layer's or model's name inside a config: equal to another by the order in which the
    names first appear (a model built twice in one process is "dense_2" where the file says
    "dense"), shown as the name itself."""

    position: int
    text: str = field(compare=False)

    def __repr__(self) -> str:
        return repr(self.text)


def _check_same_config(path: str, theirs: dict, mine: dict) -> None:
    """The checkpoint's config.json against the running model's: the architecture and the
    compile section (optimizer, loss, metrics, loss weights), names aside."""
    their_names, my_names = _names(theirs.get("model")), _names(mine.get("model"))
    for key, what in (("model", "another model"), ("compile", "another training configuration")):
        a = _comparable(theirs.get(key), their_names, key)
        b = _comparable(mine.get(key), my_names, key)
        where = _difference(a, b, key)
        if where is not None:
            raise ModelFileError(f"{path}: the checkpoint was written for {what}: {where}; resume with the same "
                                 f"spec and options, or delete {path} to start again")


def _names(config: Any) -> dict[str, _Name]:
    """{name: _Name} of every "name" value in a model config, in order of first appearance."""
    found: dict[str, _Name] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "name" and isinstance(item, str) and item not in found:
                    found[item] = _Name(len(found), item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(config)
    return found


def _comparable(value: Any, names: dict[str, _Name], where: str) -> Any:
    """`value` with layer names replaced by their `_Name`, and what may differ between the run
    that wrote a checkpoint and the one resuming it left out: plugin versions, and a plain
    learning rate (the checkpoint restores it, and a schedule callback may have changed it)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _IGNORED_KEYS:
                continue
            if key == "learning_rate" and where.startswith("compile.optimizer") and isinstance(item, (int, float)):
                continue
            out[names[key] if key in names else key] = _comparable(item, names, f"{where}.{key}")
        return out
    if isinstance(value, list):
        return [_comparable(item, names, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, str) and value in names:
        return names[value]
    return value


def _difference(theirs: Any, mine: Any, where: str) -> str | None:
    """Where two comparable configs first differ, in words; None when they are the same."""
    if isinstance(theirs, dict) and isinstance(mine, dict):
        for key in list(theirs) + [k for k in mine if k not in theirs]:
            here = f"{where}.{key.text if isinstance(key, _Name) else key}"
            if key not in mine:
                return f"{here} is {short_repr(theirs[key])} there, but not set here"
            if key not in theirs:
                return f"{here} is not set there, but {short_repr(mine[key])} here"
            found = _difference(theirs[key], mine[key], here)
            if found is not None:
                return found
        return None
    if isinstance(theirs, list) and isinstance(mine, list):
        if len(theirs) != len(mine):
            return f"{where} has {len(theirs)} entries there, but {len(mine)} here"
        for i, (a, b) in enumerate(zip(theirs, mine)):
            found = _difference(a, b, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if type(theirs) is not type(mine) and not (isinstance(theirs, (int, float)) and isinstance(mine, (int, float))
                                               and not isinstance(theirs, bool) and not isinstance(mine, bool)):
        return f"{where} is {short_repr(theirs)} there, but {short_repr(mine)} here"
    return None if theirs == mine else f"{where} is {short_repr(theirs)} there, but {short_repr(mine)} here"


def _check_shapes(path: str, names: list[str], headers: dict, params: list, classes: Any, mine: list[str]) -> None:
    """The checkpoint's weights against the model's, by position (names may differ: a model built
    again in the same process has other layer names); `classes` are the checkpoint's layer classes
    (absent in files written before dl recorded them)."""
    if sorted(headers) != sorted(names):
        raise ModelFileError(f"{path}: weights.npz does not hold the weights config.json lists")
    if not (isinstance(classes, list) and len(classes) == len(names)):
        classes = None
    for i, (name, p) in enumerate(zip(names, params)):
        if classes is not None and classes[i] != mine[i]:
            raise ModelFileError(f"{path}: the checkpoint was written for another model: weight {i} ('{name}') "
                                 f"belongs to a {classes[i]} there, but '{p.path}' to a {mine[i]} here")
        shape, dtype = headers[name]
        if tuple(shape) != p.value.shape or dtype != p.value.dtype:
            raise ModelFileError(
                f"{path}: the checkpoint was written for another model: weight {i} ('{name}') is "
                f"{dtype}{list(shape)} there, but '{p.path}' is {p.value.dtype}{list(p.value.shape)} here"
            )


def _parse_state(raw: bytes, path: str) -> TrainState:
    where = f"{path}: {STATE_ENTRY}"
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where} is corrupt ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != _STATE_FORMAT:
        raise ModelFileError(f"{where} is not a dl training state")
    if doc.get("format_version") != _STATE_VERSION:
        raise ModelFileError(f"{where}: unsupported format_version {doc.get('format_version')!r}; "
                             f"this dl reads version {_STATE_VERSION}")
    for key in ("epoch", "step", "steps", "samples", "batch_size"):
        value = doc.get(key)
        if type(value) is not int or value < 0:
            raise ModelFileError(f"{where}: '{key}' must be a non-negative int, got {value!r}")
    for key in ("epoch_rng", "rng"):
        _check_rng(doc.get(key), f"{where}: '{key}'")
    layer_rngs = doc.get("layer_rngs") or {}
    if not isinstance(layer_rngs, dict):
        raise ModelFileError(f"{where}: 'layer_rngs' must be a mapping")
    for key, value in layer_rngs.items():
        _check_rng(value, f"{where}: 'layer_rngs.{key}'")
    sums, metrics = doc.get("loss_sums"), doc.get("metric_states")
    if sums is not None and not (isinstance(sums, dict) and isinstance(sums.get("sum"), (int, float))
                                 and isinstance(sums.get("sums"), list) and type(sums.get("count")) is int):
        raise ModelFileError(f"{where}: 'loss_sums' must be {{sum, sums, count}}")
    if metrics is not None and not (isinstance(metrics, list) and all(isinstance(m, dict) for m in metrics)):
        raise ModelFileError(f"{where}: 'metric_states' must be a list of mappings")
    history = doc.get("history") or {}
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        raise ModelFileError(f"{where}: 'history' must map log names to lists")
    lr = doc.get("learning_rate")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
        raise ModelFileError(f"{where}: 'learning_rate' must be a number, got {lr!r}")
    run_id = doc.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise ModelFileError(f"{where}: 'run_id' must be a string, got {short_repr(run_id)}")
    fields = {k: doc[k] for k in ("epoch", "step", "steps", "samples", "batch_size", "epoch_rng", "rng")}
    return TrainState(**fields, layer_rngs=layer_rngs, loss_sums=sums, metric_states=metrics,
                      learning_rate=lr, history=history, run_id=run_id)


def _check_rng(value: Any, where: str) -> None:
    """A state `config.set_rng_state` accepts (tried on a scratch generator of the same kind)."""
    kind = type(config.rng().bit_generator)
    try:
        if not isinstance(value, dict) or value.get("bit_generator") != kind.__name__:
            raise ValueError(f"expected a {kind.__name__} state")
        kind().state = value
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"{where} is not a random-number state ({exc})") from None
