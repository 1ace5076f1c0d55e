"""Keras 3 tutorial scripts, written as on keras.io, that run unchanged under dl (tests/test_keras_scripts.py)."""
