"""The two-headed digits network of digits_multihead.yaml, written in Python.

    python examples/digits_multihead.py
"""

import corelib
from corelib import Input, datasets, layers, models


def build_model() -> models.Model:
    pixels = Input(shape=(8, 8, 1), name="pixels")
    trunk = layers.Dense(64, activation="relu", name="trunk")(layers.Flatten(name="flat")(pixels))
    digit = layers.Dense(10, activation="softmax", name="digit")(trunk)
    even = layers.Dense(1, activation="sigmoid", name="even")(trunk)
    return models.Model(pixels, {"digit": digit, "even": even}, name="digits_multihead")


def main() -> None:
    corelib.set_seed(0)
    (x, y), (x_test, y_test) = datasets.load_data("digits", parity=True)
    model = build_model()
    model.compile(optimizer=corelib.optimizers.Adam(learning_rate=0.002),
                  loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
                  metrics={"digit": ["accuracy"], "even": ["accuracy"]})
    model.fit(x, y, epochs=40, batch_size=32, validation_split=0.2, verbose=2)
    logs = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print(f"test: digit accuracy {logs['digit_accuracy']:.4f}, even accuracy {logs['even_accuracy']:.4f}")


if __name__ == "__main__":
    main()
