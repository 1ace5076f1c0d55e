"""The dl plugin: registers the data sets through the ``register_datasets`` hook."""

from __future__ import annotations

from typing import Callable

from corelib import hookimpl

from dl_datasets import digit_strings, keras_common, keras_images, keras_text, loaders


@hookimpl
def register_datasets(register: Callable[..., None]) -> None:
    """Register digits, iris, wine, breast_cancer, diabetes, digit_strings and Keras's downloadable sets."""
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
    # Keras's data sets: downloaded on first use into the get_file cache ($DL_HOME/datasets).
    register("mnist", keras_images.load_mnist, "MNIST digits (download, 11 MB): 60000+10000 28x28 uint8 images, 10 classes")
    register(
        "fashion_mnist",
        keras_images.load_fashion_mnist,
        "Fashion-MNIST (download, 30 MB): 60000+10000 28x28 uint8 images of clothes, 10 classes",
    )
    register(
        "cifar10",
        keras_images.load_cifar10,
        "CIFAR-10 (download, 163 MB): 50000+10000 32x32x3 uint8 images, 10 classes",
    )
    register(
        "imdb",
        keras_text.load_imdb,
        "IMDB reviews (download, 17 MB): 25000+25000 word-index sequences, sentiment 0/1",
    )
    register(
        "reuters",
        keras_text.load_reuters,
        "Reuters newswires (download, 2 MB): 11228 word-index sequences, 46 topics",
    )
    register(
        "boston_housing",
        keras_common.load_boston_housing,
        "Boston house prices (download, 57 kB): 506 samples, 13 features, regression",
    )
