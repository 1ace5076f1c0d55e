"""Keras's `keras.preprocessing` paths: `corelib.preprocessing.sequence.pad_sequences`.

The functions live in `corelib.utils` (as in Keras 3, where `keras.utils` is
their home); this package gives them their older Keras paths too.
"""

from corelib.preprocessing import sequence

__all__ = ["sequence"]
