"""The plugin contract: one hook per kind of component, plus CLI commands.

A plugin module (or object) implements any of these with `@corelib.hookimpl`
and is found through the ``dl`` entry-point group. Each registration hook
receives a ``register`` callable and calls it once per component; the
registry records which plugin provided what.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT"]

PROJECT = "dl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_layers(register: Register) -> None:
    """Register Layer subclasses.

    Call ``register(cls, name=None, aliases=())`` once per layer. ``name``
    defaults to ``cls.__name__`` ("Dense"); its snake_case form ("dense") is
    added as an alias automatically.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register losses: Loss subclasses or plain ``fn(y_true, y_pred)`` functions.

    ``register(obj, name=None, aliases=())``; e.g. the class
    ``CategoricalCrossentropy`` is found as "CategoricalCrossentropy" and
    "categorical_crossentropy".
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register Optimizer subclasses: ``register(cls, name=None, aliases=())``."""


@hookspec
def register_schedules(register: Register) -> None:
    """Register learning-rate schedules (`corelib.optimizers.schedules.LearningRateSchedule`
    subclasses): ``register(cls, name=None, aliases=())``. A model file names a
    schedule by its registered name."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register Metric subclasses or metric functions: ``register(obj, name=None, aliases=())``."""


@hookspec
def register_activations(register: Register) -> None:
    """Register activations (lower-case names, as Keras users write them):
    ``register(obj, name=None, aliases=())``."""


@hookspec
def register_initializers(register: Register) -> None:
    """Register Initializer subclasses: ``register(cls, name=None, aliases=())``."""


@hookspec
def register_regularizers(register: Register) -> None:
    """Register Regularizer subclasses: ``register(cls, name=None, aliases=())``."""


@hookspec
def register_callbacks(register: Register) -> None:
    """Register Callback subclasses: ``register(cls, name=None, aliases=())``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sets: ``register(name, loader, description="")``.

    ``loader(**kwargs)`` returns ``((x_train, y_train), (x_test, y_test))``
    as NumPy arrays; `corelib.datasets.load_data(name, **kwargs)` calls it.
    """


@hookspec
def register_strategies(register: Register) -> None:
    """Register distribution strategies: `corelib.distribute.Strategy` subclasses,
    ``register(cls, name=None, aliases=())``.

    A strategy whose classmethod ``detect(environ)`` returns True for the
    process's environment (dl-mpi's: started by ``mpiexec`` with more than
    one process) is used by fit, evaluate and predict without being asked;
    see `corelib.distribute`.
    """


@hookspec
def register_onnx_exporters(register: Register) -> None:
    """Register ONNX exporters of layers: ``register(layer, exporter, description="")``.

    `layer` is the layer class or its registered name ("Dense"). ``exporter(ctx, layer, x)``
    adds the layer's ONNX nodes through `ctx` (a `corelib.saving.onnx_export.ExportContext`)
    and returns its output's name: `x` and the result are a name, or a list of names where
    the layer's `forward` takes or returns a list. `Model.export(path, format="onnx")` and
    ``dl export`` use it; ``dl list onnx_exporters`` shows them.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``dl`` command group: ``cli.add_command(cmd)``.

    Called only when the command line needs its command list (lazily, never
    at import time); a plugin that raises here is reported and skipped.
    """
