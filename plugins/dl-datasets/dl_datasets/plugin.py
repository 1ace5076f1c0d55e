"""The dl plugin: registers the data sets through the ``register_datasets`` hook."""

from __future__ import annotations

from typing import Callable

from corelib import hookimpl

from dl_datasets import digit_strings, loaders


@hookimpl
def register_datasets(register: Callable[..., None]) -> None:
    """Register digits, iris, wine, breast_cancer, diabetes and digit_strings."""
    register("digits", loaders.load_digits, "Handwritten digits 0-9: 1797 8x8x1 images in [0, 1], 10 classes")
    register("iris", loaders.load_iris, "Iris flowers: 150 samples, 4 features, 3 classes")
    register("wine", loaders.load_wine, "Wine cultivars: 178 samples, 13 features, 3 classes")
    register(
        "breast_cancer",
        loaders.load_breast_cancer,
        "Breast cancer diagnosis: 569 samples, 30 features, 2 classes",
    )
    register("diabetes", loaders.load_diabetes, "Diabetes progression: 442 samples, 10 features, regression")
    register(
        "digit_strings",
        digit_strings.load_digit_strings,
        "Strings of 1-6 handwritten digits side by side (48x8 images, width first), digit sequences for CTC",
    )
