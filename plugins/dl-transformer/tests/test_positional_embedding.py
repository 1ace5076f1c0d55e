"""PositionalEmbedding: the conformance kit and what it adds."""

import numpy as np
import pytest

from corelib import ConfigError, ShapeError
from corelib.testing import check_layer
from dl_transformer import PositionalEmbedding


def test_conformance():
    check_layer(PositionalEmbedding, (2, 3, 4), sequence_length=5)
    check_layer(PositionalEmbedding, (3, 5, 2), sequence_length=5, initializer="random_normal",
                embeddings_regularizer="l2")


def test_adds_the_first_positions_embeddings_and_accumulates_their_gradient():
    layer = PositionalEmbedding(6, dtype="float64")
    layer.ensure_built((None, None, 3))
    table = np.arange(18.0).reshape(6, 3)
    layer.set_weights([table])
    x = np.ones((2, 4, 3))
    y, backprop = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x + table[:4])
    dx = backprop(np.full((2, 4, 3), 0.5))
    np.testing.assert_array_equal(dx, np.full((2, 4, 3), 0.5))
    np.testing.assert_array_equal(layer.embeddings.grad, np.vstack([np.ones((4, 3)), np.zeros((2, 3))]))


def test_longer_sequences_and_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match=r"sequence_length must be a positive int\. Received: sequence_length=0"):
        PositionalEmbedding(0)
    with pytest.raises(ShapeError, match=r"has sequence_length=4; received 5 steps in shape \(None, 5, 3\)"):
        PositionalEmbedding(4).compute_output_shape((None, 5, 3))
    with pytest.raises(ShapeError, match=r"expects an input \(batch_size, steps, features\)"):
        PositionalEmbedding(4).compute_output_shape((None, 5))
    layer = PositionalEmbedding(4)
    layer.ensure_built((None, None, 3))
    with pytest.raises(ShapeError, match=r"received 6 steps in an input of shape \(1, 6, 3\)"):
        layer(np.zeros((1, 6, 3)))
