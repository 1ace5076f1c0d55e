"""The conformance kit (corelib.testing) passes correct components and names the
check that a broken one fails, with by how much."""

import numpy as np
import pytest

from corelib import Layer, config, hookimpl
from corelib.errors import ConfigError
from corelib.metrics import MeanMetricWrapper
from corelib.optimizers import Optimizer
from corelib.registry import Registry, use_registry
from corelib.testing import ConformanceError, check_layer, check_loss, check_metric, check_optimizer


class Scale(Layer):
    """y = x * scale, one learned factor per feature (a correct layer)."""

    def __init__(self, scale_initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        self.scale_initializer = scale_initializer

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), initializer=self.scale_initializer)

    def forward(self, x, training=False):
        factor = self.scale.value

        def backprop(dy, need_input_grad=True):
            self.scale.grad += (dy * x).reshape(-1, x.shape[-1]).sum(axis=0)
            return dy * factor if need_input_grad else None

        return x * factor, backprop

    def get_config(self):
        return {**super().get_config(), "scale_initializer": self.scale_initializer}


class GlobalRandomScale(Scale):
    """Initializes from NumPy's global generator instead of corelib.config.rng()."""

    def build(self, input_shape):
        super().build(input_shape)
        self.scale.value[...] = np.random.standard_normal(self.scale.value.shape)


class BatchCentred(Scale):
    """Subtracts the batch mean even in inference: its rows depend on the batch."""

    def forward(self, x, training=False):
        y, backprop = super().forward(x - x.mean(axis=0), training)
        n = x.shape[0]

        def centred_backprop(dy, need_input_grad=True):
            dx = backprop(dy, need_input_grad)
            return None if dx is None else dx - dx.sum(axis=0) / n

        return y, centred_backprop


class ForgetsItsConfig(Scale):
    """get_config leaves out an argument, so a saved and loaded copy differs."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def forward(self, x, training=False):
        y, backprop = super().forward(x, training)
        return y + self.offset, backprop


def test_a_correct_layer_passes_every_check():
    check_layer(Scale, (3, 4))
    check_layer(Scale, (2, 3, 4), scale_initializer="ones", name="scaled")


def test_a_layer_drawing_from_numpys_global_generator_is_not_repeatable():
    with pytest.raises(ConformanceError) as info:
        check_layer(GlobalRandomScale, (3, 4))
    message = str(info.value)
    assert "[repeatability] weight 'scale' differs between two layers built under set_seed(2024)" in message
    assert "instead of corelib.config.rng()" in message
    assert message.count("[") == 1, message  # nothing else is wrong with it


def test_a_layer_whose_rows_depend_on_the_batch_fails_batch_size_independence():
    with pytest.raises(ConformanceError, match=r"\[batch-size independence: .*\] max abs difference \d"):
        check_layer(BatchCentred, (4, 3))
    check_layer(BatchCentred, (4, 3), skip=("batch-size independence",))


def test_a_layer_that_forgets_part_of_its_config_fails_the_model_round_trip():
    with pytest.raises(ConformanceError) as info:
        check_layer(ForgetsItsConfig, (3, 4), offset=2.5)
    message = str(info.value)
    assert "[config round trip output (same weights)] max abs difference 2.5" in message
    assert "[model round trip: model.predict equals the layer's forward] max abs difference 2.5" in message


def test_skip_refuses_unknown_check_names():
    with pytest.raises(ConfigError, match=r"unknown check\(s\) in skip: \['gradient'\]"):
        check_layer(Scale, (3, 4), skip=("gradient",))


def test_a_registered_layer_is_recorded_with_its_plugin_in_the_model_file():
    class ScalePlugin:
        @hookimpl
        def register_layers(self, register):
            register(Scale)

    reg = Registry(entry_points=False)
    reg.register_plugin(ScalePlugin(), name="dl-scale", version="0.3.0")
    with use_registry(reg):
        check_layer(Scale, (3, 4))  # saved by registered name and loaded through the registry
        assert reg.entry("layers", "scale").plugin == "dl-scale"


def test_the_kit_leaves_the_callers_settings_alone():
    config.set_floatx("float32")
    np.random.seed(99)
    expected = np.random.random()
    np.random.seed(99)
    check_layer(Scale, (3, 4))
    assert config.floatx() == "float32" and np.random.random() == expected


# -- losses ---------------------------------------------------------------------------


def _batch_max_normalised():
    from corelib.builtin.losses import MeanSquaredError

    class BatchScaledMSE(MeanSquaredError):
        """Divides each sample's loss by the batch's largest: a per-sample loss that depends on the batch."""

        def compute(self, pred, target, loss_out, grad_out):
            super().compute(pred, target, loss_out, grad_out)
            scale = float(np.abs(target).max())
            loss_out /= scale
            grad_out /= scale

    return BatchScaledMSE()


def test_check_loss_catches_a_per_sample_loss_that_depends_on_the_batch():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    check_loss("mean_squared_error", y_true, y_pred)
    with pytest.raises(ConformanceError, match=r"\[batch-size independence: per-sample losses .*\] max abs difference"):
        check_loss(_batch_max_normalised(), y_true, y_pred)


# -- optimizers -----------------------------------------------------------------------


class SignSGD(Optimizer):
    """p -= lr * sign(g) (a correct optimizer with no state)."""

    default_name = "sign_sgd"

    def update(self, value, grad, slots, scalars):
        value -= scalars[0] * np.sign(grad)


class Replacing(SignSGD):
    """Rebinds p.value instead of updating the array the layer holds."""

    def apply(self, params):
        lr = self.current_learning_rate()
        for p in params:
            if p.trainable:
                p.value = p.value - lr * np.sign(p.grad)
        self.iterations += 1


class Uphill(SignSGD):
    def update(self, value, grad, slots, scalars):
        value += scalars[0] * np.sign(grad)


class Jittery(SignSGD):
    """Adds noise from NumPy's global generator."""

    def update(self, value, grad, slots, scalars):
        value -= scalars[0] * (np.sign(grad) + 0.1 * np.random.standard_normal(value.shape))


class HeavyBall(Optimizer):
    """Momentum SGD whose get_config forgets the momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum

    def slot_specs(self):
        return (("velocity", 0.0),)

    def update(self, value, grad, slots, scalars):
        (velocity,) = slots
        velocity *= self.momentum
        velocity -= scalars[0] * grad
        value += velocity


def test_a_correct_optimizer_passes():
    check_optimizer(SignSGD, learning_rate=0.01)
    check_optimizer(HeavyBall(momentum=0.0))


@pytest.mark.parametrize(
    "cls, message",
    [
        (Replacing, r"\[in place\] apply replaced 'kernel'.value instead of updating it in place"),
        (Uphill, r"\[descent\] \(float32\) the first step is not downhill: step . gradient = [\d.e+-]+, expected < 0"),
        (Jittery, r"\[repeatability: 'kernel' after 30 steps under set_seed\(2024\)\] not identical: max abs difference"),
    ],
)
def test_check_optimizer_names_what_is_wrong(cls, message):
    with pytest.raises(ConformanceError, match=message):
        check_optimizer(cls, learning_rate=0.01)


def test_an_optimizer_config_missing_an_argument_takes_different_steps():
    with pytest.raises(ConformanceError, match=r"\[config: a copy from the config takes the same steps\] not identical"):
        check_optimizer(HeavyBall, momentum=0.9)


def test_built_in_optimizers_pass_with_clipping_and_schedules():
    from corelib.optimizers.schedules import ExponentialDecay

    check_optimizer("adam", learning_rate=ExponentialDecay(0.05, 10, 0.9), clipnorm=1.0)
    check_optimizer("sgd", learning_rate=0.05, momentum=0.9, nesterov=True, global_clipnorm=2.0)


# -- metrics --------------------------------------------------------------------------


class MeanError(MeanMetricWrapper):
    """Mean of |y_true - y_pred| per sample (a correct streaming metric)."""

    def values(self, y_true, y_pred):
        return np.abs(y_true - y_pred).mean(axis=-1)


class LastBatchOnly(MeanError):
    """Forgets earlier batches: not a streaming metric."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.reset_state()
        super().update_state(y_true, y_pred, sample_weight)


class NeverResets(MeanError):
    def reset_state(self):
        if not hasattr(self, "total"):
            super().reset_state()


def test_check_metric_passes_a_streaming_metric_and_catches_broken_ones():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    check_metric(MeanError(), y_true, y_pred)
    check_metric("mae", y_true, y_pred)  # registered: the model round trip runs too
    with pytest.raises(ConformanceError, match=r"\[batch-size independence: two half batches .*\] max abs difference"):
        check_metric(LastBatchOnly(), y_true, y_pred)
    with pytest.raises(ConformanceError, match=r"\[reset_state: .*\] not identical"):
        check_metric(NeverResets(), y_true, y_pred)
