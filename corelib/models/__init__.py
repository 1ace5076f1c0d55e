"""Models: layers joined into a graph that trains, predicts and saves itself.

`plan` compiles a graph of layer calls into the steps forward and backward
run; `container` gives a model's weights and layer lookup; `functional` is
the graph `Model(inputs, outputs)`, `sequential` the one-chain `Sequential`;
`summary` prints the layer table; `loading` reads models back from files and
configs. Training comes from `corelib.trainers`, files from `corelib.saving`.
"""

from __future__ import annotations

from corelib.models.base import BaseModel
from corelib.models.cloning import clone_model
from corelib.models.functional import Model
from corelib.models.loading import load_model, model_from_config, model_from_json
from corelib.models.sequential import Sequential
from corelib.saving.model_file import save_model
from corelib.saving.serialization import MODEL_CLASSES as _MODEL_CLASSES

_MODEL_CLASSES.update({"Sequential": Sequential, "Model": Model, "Functional": Model})

__all__ = ["BaseModel", "Model", "Sequential", "clone_model", "load_model", "save_model", "model_from_json", "model_from_config"]
