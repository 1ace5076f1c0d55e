"""The random generator of the built-in layers that draw (Dropout, the Random* layers)."""

from __future__ import annotations

import numpy as np

from corelib import config

__all__ = ["SeededGenerator"]


class SeededGenerator:
    """Mixin for a layer with a `seed` attribute: `generator()` is `corelib.config.rng()`
    for seed None, else a generator of the layer's own, seeded with it on first
    use, whose state `get_rng_state`/`set_rng_state` hand to checkpoints and to
    data-parallel replicas (see `Layer.get_rng_state`)."""

    seed: int | None
    _rng: np.random.Generator | None = None

    def get_rng_state(self) -> dict | None:
        return None if self._rng is None else self._rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        if self._rng is None:  # made on first use: not yet in a fresh model
            self._rng = np.random.Generator(type(config.rng().bit_generator)())
        self._rng.bit_generator.state = state

    def generator(self) -> np.random.Generator:
        """The generator this layer draws from."""
        if self.seed is None:
            return config.rng()
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng
