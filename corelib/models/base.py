"""BaseModel: a graph of layers that trains, predicts and saves itself."""

from __future__ import annotations

from corelib.models.container import LayerContainer
from corelib.models.model_io import ModelIO
from corelib.trainers.trainer import Trainer

__all__ = ["BaseModel"]


class BaseModel(Trainer, ModelIO, LayerContainer):
    """Base class of `Model` and `Sequential`: training (`Trainer`), files and
    summaries (`ModelIO`) and weights and layer lookup (`LayerContainer`).

    A subclass supplies the graph: `layers`, the input and output names,
    `_build_for`, `_forward`, `_input_shapes` and `_pack_outputs`.

    Attributes:
        saved_class_name: the class a model file records for this model.
    """

    saved_class_name = "Model"
