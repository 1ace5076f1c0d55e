'''The files `dl plugin new` writes, as `string.Template` texts ($$ is a literal $).

Placeholders: $distribution ("dl-foo"), $package ("dl_foo"), $entry_point
("foo"), $layer ("Foo"), $layer_module ("foo"), $dl_version ("0.1.0").
'''

PYPROJECT = """\
[build-system]
requires = ["setuptools>=70"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "A dl plugin: the $layer layer."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["dl>=$dl_version", "numpy>=1.26"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# This table is what makes it a dl plugin: dl loads every module listed
# under the "dl" entry-point group and calls its hooks.
[project.entry-points.dl]
$entry_point = "$package.plugin"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

INIT = '''\
"""$distribution: a dl plugin providing the $layer layer."""

from $package.$layer_module import $layer

__all__ = ["$layer"]
__version__ = "0.1.0"
'''

PLUGIN = '''\
"""The hooks dl calls: found through the "dl" entry point in pyproject.toml."""

from __future__ import annotations

from typing import Callable

from corelib import hookimpl


@hookimpl
def register_layers(register: Callable[..., None]) -> None:
    """Register this plugin's layers (found as "$layer" and "$layer_module")."""
    from $package.$layer_module import $layer

    register($layer)
'''

LAYER = '''\
"""$layer: a learned scale and shift per feature (the example layer of $distribution)."""

from __future__ import annotations

from typing import Any

import numpy as np

from corelib import Layer, ShapeError, initializers
from corelib.layers.base import Shape

__all__ = ["$layer"]


class $layer(Layer):
    """Scales and shifts each feature by learned amounts: ``x * scale + offset``.

    Args:
        scale_initializer: initializer of the scales ("ones").
        offset_initializer: initializer of the offsets ("zeros").
        **kwargs: name, input_shape, dtype, trainable (see `corelib.Layer`).

    Input shape:
        (batch_size, ..., features).

    Output shape:
        Same as the input.
    """

    def __init__(self, scale_initializer: Any = "ones", offset_initializer: Any = "zeros", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale_initializer = initializers.get(scale_initializer)
        self.offset_initializer = initializers.get(offset_initializer)
        self.scale = None
        self.offset = None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ShapeError(
                f"$layer '{self.name}' expects an input (batch_size, ..., features) with a known "
                f"features axis, received shape {tuple(input_shape)}"
            )
        if self.scale is not None and input_shape[-1] != self.scale.value.shape[0]:
            raise ShapeError(
                f"$layer '{self.name}' expects {self.scale.value.shape[0]} features, "
                f"received shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def build(self, input_shape: Shape) -> None:
        features = int(input_shape[-1])
        self.scale = self.add_weight("scale", (features,), self.scale_initializer)
        self.offset = self.add_weight("offset", (features,), self.offset_initializer)

    def forward(self, x: np.ndarray, training: bool = False):
        scale, offset = self.scale, self.offset
        y = x * scale.value + offset.value

        def backprop(dy: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
            rows = dy.reshape(-1, dy.shape[-1])
            scale.grad += np.einsum("ij,ij->j", rows, x.reshape(rows.shape))
            offset.grad += rows.sum(axis=0)
            return dy * scale.value if need_input_grad else None

        return y, backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "scale_initializer": initializers.serialize(self.scale_initializer),
            "offset_initializer": initializers.serialize(self.offset_initializer),
        }
'''

TESTS = '''\
"""Tests of $distribution: the dl conformance kit on $layer, and the installed plugin."""

import numpy as np

from corelib.registry import Registry
from corelib.testing import check_layer

from $package import $layer


def test_${layer_module}_meets_the_dl_layer_contract():
    # Shape inference, float64 gradient check of the input and every weight,
    # config and saved-model round trips, batch-size independence, seeds.
    check_layer($layer, (3, 4))
    check_layer($layer, (2, 3, 5), scale_initializer="random_normal", offset_initializer="random_uniform")


def test_${layer_module}_scales_and_shifts_each_feature():
    layer = $layer()
    x = np.arange(6, dtype="float32").reshape(2, 3)
    layer(x)  # builds it
    layer.set_weights([np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -1.0])])
    np.testing.assert_allclose(layer(x), x * [1.0, 2.0, 3.0] + [0.5, 0.0, -1.0])


def test_the_installed_plugin_provides_${layer_module}():
    # Needs `pip install -e .`: dl finds the plugin through its "dl" entry point.
    entry = Registry().entry("layers", "$layer")
    assert entry.obj is $layer
    assert (entry.plugin, entry.version) == ("$distribution", "0.1.0")
'''

README = """\
# $distribution

A [dl](https://example.invalid/dl) plugin providing one layer, `$layer`:
a learned scale and shift per feature (`x * scale + offset`). It was written
by `dl plugin new $distribution`; make it yours.

## Install and test

```
pip install -e ".[test]"
pytest
dl list layers          # $layer  $distribution  0.1.0  ...
```

## Use

```python
from corelib import layers, models

model = models.Sequential([
    layers.Dense(16, activation="relu", input_shape=(8,)),
    layers.$layer(),
    layers.Dense(1),
])
```

or in a model spec for `dl train`: `- $layer: {}`. A saved model records
that `$layer` came from `$distribution` 0.1.0, so loading it where the plugin
is missing says which package to install.

## Layout

- `pyproject.toml`: the `[project.entry-points.dl]` table is what makes this
  a dl plugin; dl calls the hooks in `$package/plugin.py`.
- `$package/$layer_module.py`: the layer (`build`, `compute_output_shape`,
  `forward` returning the output and a `backprop` closure, `get_config`).
- `tests/`: `corelib.testing.check_layer` runs dl's conformance checks.

Add more layers (or losses, optimizers, metrics...) by registering them in
`$package/plugin.py` and checking each with the kit (`check_loss`,
`check_optimizer`, `check_metric`). Keep array code vectorised: no Python
loops over samples or elements.

## Publish

```
python -m build           # dist/*.whl and dist/*.tar.gz
python -m twine upload dist/*
```

Bump `version` in pyproject.toml for every release: saved models record it.
"""
