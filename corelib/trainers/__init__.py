"""Trainers: compile, fit, evaluate and predict, for every kind of model.

`trainer` holds the `Trainer` mixin (compile, fit, train_on_batch, stopping
and resuming); `step` the training step as public seams (`train_step` built
on `compute_gradients` and `apply_gradients`, `test_step`, `predict_step`);
`inference` evaluate and predict; `compile_utils` the per-output losses,
metrics and running logs `compile` sets up; `batching` the checks and
slicing of input arrays; `arguments` the small argument checks; `resumable`
training into a checkpoint folder that Ctrl-C stops cleanly and a later run
continues (`ResumableTraining`); `data_parallel` what a distribution strategy
with several replicas (`corelib.distribute`) adds to each step.
"""

from corelib.trainers.compile_utils import CompiledLosses
from corelib.trainers.resumable import ResumableTraining, final_logs
from corelib.trainers.trainer import Trainer

__all__ = ["CompiledLosses", "ResumableTraining", "Trainer", "final_logs"]
