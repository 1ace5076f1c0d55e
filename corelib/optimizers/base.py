"""The Optimizer base class: learning rate and schedules, clipping, per-parameter state."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from corelib.errors import ConfigError, ShapeError
from corelib.layers.base import Parameter
from corelib.optimizers.schedules import LearningRateSchedule, deserialize, serialize
from corelib.validation import positive_number

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of optimizers.

    `apply(params)` updates each ``p.value`` in place from ``p.grad``; state for
    each parameter is created on the first call and keyed by its position in
    the list. Subclasses define `slot_specs`, `step_scalars` and `update`.

    Args:
        learning_rate: a float or a schedule from `corelib.optimizers.schedules`
            (called with the step number).
        weight_decay: decoupled weight decay: before each update,
            ``p -= learning_rate * weight_decay * p``. None for none.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient entry to [-clipvalue, clipvalue].
        global_clipnorm: scale all gradients together so that their joint L2
            norm is at most this (not together with clipnorm).
        name: the optimizer's name.
    """

    default_name = "optimizer"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        cls = type(self).__name__
        self.name = name or self.default_name
        self.learning_rate = learning_rate
        self.weight_decay = positive_number(weight_decay, "weight_decay", cls, allow_zero=True, optional=True)
        self.clipnorm = positive_number(clipnorm, "clipnorm", cls, optional=True)
        self.clipvalue = positive_number(clipvalue, "clipvalue", cls, optional=True)
        self.global_clipnorm = positive_number(global_clipnorm, "global_clipnorm", cls, optional=True)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ConfigError(
                f"{cls}: only one of clipnorm and global_clipnorm can be set. "
                f"Received: clipnorm={clipnorm!r}, global_clipnorm={global_clipnorm!r}"
            )
        self.iterations = 0
        self._slots: list[tuple[np.ndarray, ...]] | None = None

    # -- learning rate -----------------------------------------------------

    @property
    def learning_rate(self) -> Any:
        """A float, or a schedule called with the step number. Assign a float to override."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, dict):
            value = deserialize(value)
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, type)):
            self._learning_rate = value
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number >= 0 or isinstance(value, bool) or math.isinf(number):
            raise ConfigError(
                f"{type(self).__name__}: learning_rate must be a non-negative float or a schedule. "
                f"Received: learning_rate={value!r}"
            )
        self._learning_rate = number

    def current_learning_rate(self) -> float:
        """The learning rate of the next step (a schedule evaluated at `iterations`)."""
        lr = self._learning_rate
        return lr if isinstance(lr, float) else float(lr(self.iterations))

    # -- what subclasses provide --------------------------------------------------

    def slot_specs(self) -> tuple[tuple[str, float], ...]:
        """(name, initial value) of each per-parameter state array."""
        return ()

    def step_scalars(self, lr: float) -> tuple:
        """Hyper-parameters of this step, computed once per `apply` (step t = iterations + 1)."""
        return (lr,)

    def update(self, value: np.ndarray, grad: np.ndarray, slots: tuple, scalars: tuple) -> None:
        """Update one parameter in place."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update()")

    def applies_weight_decay(self) -> bool:
        """Whether `update` applies weight decay itself (else `apply` does it first)."""
        return False

    def extra_state(self) -> dict[str, np.ndarray]:
        """Optimizer-wide state beyond `iterations` (e.g. Nadam's momentum product)."""
        return {}

    def set_extra_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `extra_state` returned."""

    # -- stepping -----------------------------------------------------------------

    def build(self, params: Sequence[Parameter]) -> None:
        """Create zero-step state for `params` (done by the first `apply`)."""
        specs = self.slot_specs()
        self._slots = [
            tuple(np.full(p.value.shape, init, dtype=p.value.dtype) for _, init in specs) for p in params
        ]

    def apply(self, params: Sequence[Parameter]) -> None:
        """Update every trainable parameter in place from its gradient; one step."""
        if self._slots is None:
            self.build(params)
        elif len(self._slots) != len(params):
            raise ShapeError(
                f"Optimizer '{self.name}' was built for {len(self._slots)} parameters, "
                f"received {len(params)}. Use a new optimizer for a different model."
            )
        lr = self.current_learning_rate()
        grads = self._clipped([p.grad for p in params])
        scalars = self.step_scalars(lr)
        decay = 1.0 - lr * self.weight_decay if self.weight_decay and not self.applies_weight_decay() else None
        update = self.update
        for p, grad, slots in zip(params, grads, self._slots):
            if p.trainable:
                if decay is not None:
                    p.value *= decay
                update(p.value, grad, slots, scalars)
        self.iterations += 1

    def _clipped(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            out = []
            for g in grads:
                norm = math.sqrt(float(np.vdot(g, g)))
                out.append(g * (self.clipnorm / norm) if norm > self.clipnorm else g)
            grads = out
        elif self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if norm > self.global_clipnorm:
                scale = self.global_clipnorm / norm
                grads = [g * scale for g in grads]
        if self.clipvalue is not None:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # -- configuration and state ----------------------------------------------------

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": lr if isinstance(lr, float) else serialize(lr),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        return cls(**config)

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of all state: "iterations", optimizer-wide entries, and "i/slot" per parameter."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        state.update({k: np.array(v) for k, v in self.extra_state().items()})
        names = [name for name, _ in self.slot_specs()]
        for i, slots in enumerate(self._slots or ()):
            for name, arr in zip(names, slots):
                state[f"{i}/{name}"] = arr.copy()
        return state

    def set_state(self, params: Sequence[Parameter], state: dict[str, np.ndarray]) -> None:
        """Restore `get_state()` exactly for `params`; ValueError when they do not match.

        The state of an optimizer that has not stepped yet (compiled, never trained: only
        "iterations" 0 and the optimizer-wide entries) leaves this one unbuilt, as it was."""
        probe = type(self).from_config(self.get_config())
        if self._is_unbuilt_state(probe, state):
            self._slots = None
            self.iterations = 0
            extra = {k: np.asarray(v) for k, v in state.items() if k != "iterations"}
            self.set_extra_state(extra or probe.extra_state())
            return
        probe.build(params)
        expected = probe.get_state()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ConfigError(
                f"Optimizer '{self.name}': state does not match the parameters. "
                f"Missing: {missing[:5]}; unexpected: {unexpected[:5]}"
            )
        for key, ref in expected.items():
            if np.shape(state[key]) != ref.shape:
                raise ShapeError(
                    f"Optimizer '{self.name}': state '{key}' must have shape {ref.shape}. "
                    f"Received: {np.shape(state[key])}"
                )
        self.build(params)
        names = [name for name, _ in self.slot_specs()]
        for i, slots in enumerate(self._slots):
            for name, arr in zip(names, slots):
                arr[...] = state[f"{i}/{name}"]
        self.iterations = _step_count(state["iterations"], self.name)
        self.set_extra_state({k: np.asarray(state[k]) for k in self.extra_state()})

    @staticmethod
    def _is_unbuilt_state(probe: "Optimizer", state: dict[str, np.ndarray]) -> bool:
        """Whether `state` is what `get_state()` gives before the first step: "iterations" 0,
        no per-parameter entry, and the optimizer-wide entries (all or none of them)."""
        extra = set(state) - {"iterations"}
        if "iterations" not in state or extra not in (set(), set(probe.extra_state())):
            return False
        return _step_count(state["iterations"], probe.name) == 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"


def _step_count(value: Any, name: str) -> int:
    """A saved "iterations": one whole number in [0, 2**63), which `get_state` writes back as int64."""
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "iuf":
        raise ConfigError(f"Optimizer '{name}': state 'iterations' must be one whole number. "
                          f"Received: {arr.dtype} array of shape {arr.shape}")
    number = arr.item()
    if not (isinstance(number, int) or (math.isfinite(number) and number == int(number))) \
            or not 0 <= int(number) < 2**63:
        raise ConfigError(f"Optimizer '{name}': state 'iterations' must be a whole number in [0, 2**63). "
                          f"Received: {number!r}")
    return int(number)
