"""Transfer learning, the Keras recipe: a base trained on one task, frozen under a new head for
another, then unfrozen and fine-tuned with a small learning rate.

The base learns digits 0-4 of the bundled 8x8 digits; the new task is digits 5-9.

    python examples/transfer_learning.py
"""

import numpy as np

import corelib
from corelib import Input, datasets, layers, models, optimizers


def split(x, y, low):
    keep = (y >= low) & (y < low + 5)
    return x[keep], y[keep] - low


def build_base() -> models.Sequential:
    return models.Sequential([
        layers.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
    ], name="base")


def main(epochs: int = 15) -> dict:
    corelib.set_seed(0)
    (x, y), (x_test, y_test) = datasets.load_data("digits")
    x, x_test = x.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)

    # 1. pre-train the base (with its own head) on digits 0-4
    base = build_base()
    pretrain = models.Sequential([base, layers.Dense(5, activation="softmax")], name="pretrain")
    pretrain.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pretrain.fit(*split(x, y, 0), epochs=epochs, batch_size=32, verbose=0)

    # 2. freeze the base, put a new head on it for digits 5-9; the base runs in inference mode
    #    (training=False) so its BatchNormalization keeps the statistics it learned
    base.trainable = False
    inputs = Input(shape=(8, 8, 1))
    features = base(inputs, training=False)
    outputs = layers.Dense(5, activation="softmax")(layers.Dropout(0.2)(features))
    model = models.Model(inputs, outputs, name="transfer")
    model.summary(expand_nested=True, show_trainable=True)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x_new, y_new = split(x, y, 5)
    xt_new, yt_new = split(x_test, y_test, 5)
    frozen = [w.copy() for w in base.get_weights()]
    model.fit(x_new, y_new, epochs=epochs, batch_size=32, verbose=0)
    unchanged = all(np.array_equal(a, b) for a, b in zip(frozen, base.get_weights()))
    _, head_acc = model.evaluate(xt_new, yt_new, verbose=0)
    print(f"frozen base, new head: test accuracy {head_acc:.4f} (base unchanged: {unchanged})")

    # 3. unfreeze and fine-tune everything with a small learning rate (compile again after
    #    changing trainable)
    base.trainable = True
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_new, y_new, epochs=max(1, epochs // 3), batch_size=32, verbose=0)
    _, tuned_acc = model.evaluate(xt_new, yt_new, verbose=0)
    print(f"fine-tuned: test accuracy {tuned_acc:.4f}")
    return {"head_accuracy": head_acc, "tuned_accuracy": tuned_acc, "base_unchanged": unchanged}


if __name__ == "__main__":
    main()
