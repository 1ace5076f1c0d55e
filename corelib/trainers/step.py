"""The training step as public seams: `train_step` on `compute_gradients` and
`apply_gradients`, with `test_step` and `predict_step` beside it. A mixin of
`Trainer`; a subclass may override any of them.

Under a distribution strategy with several replicas, `train_step` hands the
global batch to `DataParallel.train_step`, which runs this same
`compute_gradients` on the replica's share and sums the gradients over the
replicas; the step then ends with this same `apply_gradients`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from corelib.distribute import get_strategy
from corelib.trainers.data_parallel import DataParallel

__all__ = ["StepMixin"]


class StepMixin:
    """One batch forward and backward, the optimizer's update, and the test and predict steps."""

    def compute_gradients(self, xs: list[np.ndarray], ys: list[np.ndarray], sample_weight: np.ndarray | None = None,
                          loss_scales: Sequence[float] | None = None) -> list[np.ndarray]:
        """Forward and backward on one batch: afterwards each parameter's ``.grad`` holds the
        gradient of the combined loss, and `compiled_loss.last_losses` each output's loss.

        Args:
            xs, ys: the batch's inputs and targets, one array per model input / output.
            sample_weight: one weight per sample, or None.
            loss_scales: a factor per output applied to its loss gradient (data-parallel
                training scales each replica's share); None for 1.

        Returns:
            The model's outputs on the batch (valid until the next step).
        """
        for p in self.weights:
            p.zero_grad()
        y_pred, backprop = self._forward(xs, True)
        _, dys = self.compiled_loss.forward_backward(ys, y_pred, sample_weight)
        if loss_scales is not None:
            for dy, scale in zip(dys, loss_scales):
                if scale != 1.0:
                    dy *= scale
        backprop(dys)
        return y_pred

    def apply_gradients(self) -> float:
        """Add the regularizers' gradients and let the optimizer update the trainable weights
        from their ``.grad``; returns the regularization loss (added to the step's loss)."""
        total = 0.0
        trainable = self.trainable_weights  # frozen layers (also inside nested models) are not in it
        updated = {id(p) for p in trainable}
        for p in self.weights:
            if p.regularizer is not None:
                total += float(p.regularizer(p.value))
                if id(p) in updated:
                    p.grad += p.regularizer.gradient(p.value)
        self.optimizer.apply(trainable)
        return total

    def regularization_loss(self) -> float:
        """The regularizers' total penalty on the current weights."""
        return sum(float(p.regularizer(p.value)) for p in self.weights if p.regularizer is not None)

    def train_step(self, data: tuple) -> float:
        """One optimizer step on one batch `data` = (xs, ys, sample_weight); records the batch in
        the running logs and returns its loss. Under a distribution strategy the batch is the
        global one: this replica computes on its share and the gradients are summed over all."""
        xs, ys, sw = data
        compiled = self.compiled_loss
        replicas = self._replicas()
        total = getattr(data, "total_rows", None)  # a replica's own batch of a stream (see epochs.LocalBatch)
        if replicas is None:
            y_pred = self.compute_gradients(xs, ys, sw)
            compiled.update_metrics(ys, y_pred, sw)
            losses = compiled.last_losses
        else:
            losses = replicas.train_step(self, xs, ys, sw, total_rows=total, weighted=getattr(data, "weighted", None))
        loss = sum(w * v for w, v in zip(compiled.weights, losses)) + self.apply_gradients()
        compiled.add_loss(loss, xs[0].shape[0] if total is None else total)
        return loss

    def test_step(self, data: tuple) -> float:
        """Loss and metrics of one batch `data` = (xs, ys, sample_weight), without training;
        records the batch in the running logs and returns its loss."""
        xs, ys, sw = data
        y_pred = self.predict_step(xs)
        loss = self.compiled_loss.value(ys, y_pred, sw) + self.regularization_loss()
        self.compiled_loss.update_metrics(ys, y_pred, sw)
        self.compiled_loss.add_loss(loss, xs[0].shape[0])
        return loss

    def predict_step(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """The model's outputs on one batch, in inference mode (valid until the next step)."""
        y_pred, _ = self._forward(xs, False)
        return y_pred

    def _replicas(self) -> DataParallel | None:
        """The data-parallel engine when a strategy with several replicas is in effect, else None."""
        strategy = get_strategy()
        if strategy.num_replicas_in_sync == 1:
            return None
        if self._data_parallel is None or self._data_parallel.strategy is not strategy:
            self._data_parallel = DataParallel(self, strategy)
        return self._data_parallel
