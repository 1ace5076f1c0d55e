"""TerminateOnNaN: stop training when the loss becomes NaN or infinite."""

from __future__ import annotations

import math
import sys

from corelib.callbacks import Callback
from corelib.distribute import is_chief


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if is_chief():
                print(f"Batch {batch}: invalid loss {loss}, terminating training", file=sys.stderr)
            self.model.stop_training = True
