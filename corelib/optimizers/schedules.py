"""Learning-rate schedules (Keras's `keras.optimizers.schedules`).

    from corelib.optimizers.schedules import ExponentialDecay
    opt = corelib.optimizers.get("sgd")
    opt.learning_rate = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.9)
"""

from corelib.builtin.optimizers.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    deserialize,
    serialize,
)

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "CosineDecay",
    "InverseTimeDecay",
    "PiecewiseConstantDecay",
    "serialize",
    "deserialize",
]
