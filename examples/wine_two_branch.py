"""The two-branch wine network of wine_two_branch.yaml, written in Python.

    python examples/wine_two_branch.py
"""

import corelib
from corelib import Input, datasets, layers, models


def build_model() -> models.Model:
    composition = Input(shape=(7,), name="composition")
    phenols_color = Input(shape=(6,), name="phenols_color")
    a = layers.Dense(16, activation="relu", name="composition_features")(composition)
    b = layers.Dense(16, activation="relu", name="phenols_color_features")(phenols_color)
    merged = layers.Concatenate(name="merged")([a, b])
    cultivar = layers.Dense(3, activation="softmax", name="cultivar")(merged)
    return models.Model({"composition": composition, "phenols_color": phenols_color}, cultivar,
                        name="wine_two_branch")


def split(x):
    return {"composition": x[:, :7], "phenols_color": x[:, 7:]}


def main() -> None:
    corelib.set_seed(0)
    (x, y), (x_test, y_test) = datasets.load_data("wine", normalize=True)
    model = build_model()
    model.compile(optimizer=corelib.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(split(x), y, epochs=60, batch_size=16, validation_split=0.2, verbose=2)
    loss, acc = model.evaluate(split(x_test), y_test, verbose=0)
    print(f"test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
