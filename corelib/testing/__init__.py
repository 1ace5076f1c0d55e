"""The conformance kit: check a layer, loss, optimizer, metric or activation
against the dl component contract — from dl's own tests or a plugin's.

    from corelib.testing import check_layer, check_loss, check_optimizer, check_metric

    def test_my_layer():
        check_layer(MyLayer, (2, 5), units=3)        # constructor kwargs after the shape

    def test_my_optimizer():
        check_optimizer(MyOptimizer, learning_rate=0.05)

Each check runs in float64 and raises `ConformanceError` (an AssertionError,
so pytest shows it as a failed test) listing every check that failed, by
name and by how much::

    check_layer(Scale) failed 2 check(s):
      [gradient of weight 'scale'] relative error 0.5 exceeds 1e-06 (worst entry (3,): ...)
      [repeatability] weight 'scale' differs between two layers built under set_seed(2024): ...

What each one checks is in its docstring: shape inference against the real
output, a central-difference gradient check of the input and every weight,
config round trip, a round trip through a saved model, batch-size
independence and repeatability under a seed (as far as each applies to the
kind of component). ``skip=("model round trip",)`` leaves named checks out,
for a component that breaks one by design. dl's own test suite
(tests/test_conformance.py) runs these same checks over every registered
component, built-in or from an installed plugin.
"""

from __future__ import annotations

from corelib.testing.common import ConformanceError, relative_error
from corelib.testing.activation import check_activation
from corelib.testing.layer import LAYER_CHECKS, check_layer
from corelib.testing.loss import LOSS_CHECKS, check_loss
from corelib.testing.metric import METRIC_CHECKS, check_metric
from corelib.testing.optimizer import OPTIMIZER_CHECKS, check_optimizer

__all__ = [
    "ConformanceError",
    "LAYER_CHECKS",
    "LOSS_CHECKS",
    "METRIC_CHECKS",
    "OPTIMIZER_CHECKS",
    "check_activation",
    "check_layer",
    "check_loss",
    "check_metric",
    "check_optimizer",
    "relative_error",
]
