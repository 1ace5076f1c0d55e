"""The built-in layers."""
