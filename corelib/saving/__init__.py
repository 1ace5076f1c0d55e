"""Saving: the model file, weights files and training checkpoints.

`archive` writes files atomically (temporary file, then rename) and opens
them through the guarded reader in `safe_zip`; `serialization` turns layers
into the JSON a file stores and back, by registered name only;
`model_file` writes a model and reads weights into one; `checkpoints` holds
everything needed to continue a `fit` bit for bit. A whole model is read
back by `corelib.models.load_model` (it needs the model classes, which sit
above this package).
"""

from corelib.saving.archive import FORMAT, FORMAT_VERSION, write_atomically
from corelib.saving.checkpoints import CHECKPOINT_FILE, Checkpoint, TrainState, read_checkpoint, save_checkpoint
from corelib.saving.model_file import architecture, load_weights, model_config, save_model, save_weights
from corelib.saving.serialization import deserialize_layer, serialize_layer

__all__ = [
    "CHECKPOINT_FILE",
    "Checkpoint",
    "FORMAT",
    "FORMAT_VERSION",
    "TrainState",
    "architecture",
    "deserialize_layer",
    "load_weights",
    "model_config",
    "read_checkpoint",
    "save_checkpoint",
    "save_model",
    "save_weights",
    "serialize_layer",
    "write_atomically",
]
