"""The import path `corelib.layer` of earlier releases: the layer protocol now lives in
`corelib.layers.base` (`from corelib import Layer` or `corelib.layers.Layer` also work)."""

from corelib.layers.base import Layer, Parameter, Shape, reset_name_counters, snake_case, weight_budget

__all__ = ["Layer", "Parameter", "Shape", "reset_name_counters", "snake_case", "weight_budget"]
