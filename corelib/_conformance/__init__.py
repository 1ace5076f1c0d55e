"""The conformance kit behind `corelib.testing` (private: import from `corelib.testing`).

One module per kind of component; `_common` holds the report, the float64
context and the central-difference gradient; `_model` the round trips of a
component through a saved model file.
"""
