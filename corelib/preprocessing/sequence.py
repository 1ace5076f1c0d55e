"""`keras.preprocessing.sequence`: `pad_sequences` (the same function as `corelib.utils.pad_sequences`)."""

from corelib.utils import pad_sequences

__all__ = ["pad_sequences"]
