"""SpatialDropout1D and SpatialDropout2D: drop whole channels, not single entries."""

from __future__ import annotations

from typing import Any

from corelib.builtin.layers import _spatial as sp
from corelib.builtin.layers._common import check_rank
from corelib.builtin.layers.dropout import Dropout
from corelib.layers.base import Shape

__all__ = ["SpatialDropout1D", "SpatialDropout2D"]


class _SpatialDropout(Dropout):
    """Dropout whose mask has one entry per (sample, channel)."""

    rank = 2

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = sp.data_format(data_format, f"{type(self).__name__} '{self.name}'")
        ones = (1,) * self.rank
        self.noise_shape = (None, None, *ones) if self.data_format == "channels_first" else (None, *ones, None)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        axes = "steps" if self.rank == 1 else "rows, cols"
        layout = f"(batch, channels, {axes})" if self.data_format == "channels_first" else f"(batch, {axes}, channels)"
        return super().compute_output_shape(check_rank(self, input_shape, self.rank + 2, layout))

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["noise_shape"]  # implied by the data format
        if self.rank == 2:
            cfg["data_format"] = self.data_format
        return cfg


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels (feature maps) of an image while training.

    Each (sample, channel) is set to 0 with probability `rate` and the rest
    scaled by 1 / (1 - rate); the identity at inference. Neighbouring pixels
    are strongly correlated, so dropping single pixels regularizes little;
    dropping channels does.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: "channels_last" (default) or "channels_first".
        seed: an int gives this layer its own generator (see `Dropout`).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, rows, cols, channels), or (batch_size, channels, rows, cols).

    Output shape:
        Same as the input.
    """

    rank = 2


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of a sequence while training.

    Each (sample, channel) is set to 0 with probability `rate` and the rest
    scaled by 1 / (1 - rate); the identity at inference.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        seed: an int gives this layer its own generator (see `Dropout`).
        **kwargs: name, input_shape, dtype, trainable (see `Layer`).

    Input shape:
        (batch_size, steps, channels).

    Output shape:
        Same as the input.
    """

    rank = 1

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)
