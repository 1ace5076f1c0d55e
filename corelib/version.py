"""The version of dl (one place; the root package and the model file read it)."""

__version__ = "0.1.0"
