"""The inception CNN of digits_inception.yaml, written in Python.

    python examples/digits_inception.py
"""

import corelib
from corelib import Input, datasets, layers, models


def inception_block(x, name: str):
    """Parallel 1x1, 1x1->3x3 and pool->1x1 branches, concatenated on the channels."""
    a = layers.Conv2D(16, 1, padding="same", activation="relu", name="branch_1x1")(x)
    b = layers.Conv2D(8, 1, padding="same", activation="relu", name="branch_3x3_reduce")(x)
    b = layers.Conv2D(16, 3, padding="same", activation="relu", name="branch_3x3")(b)
    c = layers.MaxPooling2D(3, strides=1, padding="same", name="branch_pool")(x)
    c = layers.Conv2D(8, 1, padding="same", activation="relu", name="branch_pool_proj")(c)
    return layers.Concatenate(axis=-1, name=name)([a, b, c])


def build_model() -> models.Model:
    pixels = Input(shape=(8, 8, 1), name="pixels")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(pixels)
    x = inception_block(x, "inception")
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dense(64, activation="relu", name="hidden")(layers.Flatten(name="flat")(x))
    digit = layers.Dense(10, activation="softmax", name="digit")(layers.Dropout(0.2, name="dropout")(x))
    return models.Model(pixels, digit, name="digits_inception")


def main() -> None:
    corelib.set_seed(0)
    (x, y), (x_test, y_test) = datasets.load_data("digits")
    model = build_model()
    model.compile(optimizer=corelib.optimizers.Adam(learning_rate=0.002),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=25, batch_size=32, validation_split=0.1, verbose=2)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
