"""Simple convnet on the 8x8 handwritten digits.

In the style of keras.io's "Simple MNIST convnet": a small Sequential convnet
trained on one-hot labels, with a validation split, then evaluated on a
held-out test set. The data is scikit-learn's copy of the UCI digits (1797
images of 8x8 pixels, values 0..16).
"""

import numpy as np
from sklearn.datasets import load_digits

import keras
from keras import layers

num_classes = 10
input_shape = (8, 8, 1)


def load_data(seed=0):
    """The digits as (x_train, y_train), (x_test, y_test): 80% / 20%, shuffled with `seed`."""
    digits = load_digits()
    x = digits.images.astype("float32") / 16.0
    y = digits.target.astype("int64")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def main(epochs=12, seed=1):
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_data()

    # Images get a channel axis: (samples, 8, 8, 1).
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # Class vectors to binary class matrices.
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), padding="same"),
            layers.ReLU(),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), padding="same", activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.summary()

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=2)

    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
    return {"loss": float(score[0]), "accuracy": float(score[1])}


if __name__ == "__main__":
    main()
