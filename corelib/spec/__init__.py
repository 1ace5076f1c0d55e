"""Model specs: the YAML or JSON files `dl train` reads.

A spec holds the model's layers and, optionally, how to train it:

    model:
      - Flatten: {input_shape: [8, 8, 1]}
      - Dense: {units: 64, activation: relu}
      - Dropout: {rate: 0.1}
      - Dense: {units: 10, activation: softmax}
    training:
      loss: categorical_crossentropy
      optimizer: {name: adam, learning_rate: 0.001}
      metrics: [accuracy]
      epochs: 20
      batch_size: 32
      validation_split: 0.1
      data: digits               # a data set name, or a .npz/.npy/.csv path
      seed: 0
      output: digits.dl

``model:`` may also be Keras's form, ``{class_name: Sequential, config:
{layers: [{class_name: Dense, config: {...}}]}}``. Paths in a spec are
relative to the spec file. Nothing in a spec is ever evaluated as code:
layer, loss and optimizer names are looked up in the registry.

`reading` turns a spec file's text into plain data within limits (nesting,
integer digits, YAML aliases), `fields` checks a spec's fields, `files`
reads a user's .npz / .npy / .csv data, `data` turns a spec's data section
into arrays, `graph` builds graph models from a spec, `compose` writes a spec
from layer expressions (`dl compose`), and `model_spec` parses the file and
builds its model.
"""

from corelib.spec.data import TrainingData, load_training_data, prepare_arrays, prepare_targets
from corelib.spec.fields import SpecError
from corelib.spec.model_spec import (
    Spec,
    TrainingSpec,
    build_model,
    compile_model,
    load_spec,
    parse_spec,
    with_overrides,
)

__all__ = [
    "Spec",
    "SpecError",
    "TrainingData",
    "TrainingSpec",
    "build_model",
    "compile_model",
    "load_spec",
    "load_training_data",
    "parse_spec",
    "prepare_arrays",
    "prepare_targets",
    "with_overrides",
]
