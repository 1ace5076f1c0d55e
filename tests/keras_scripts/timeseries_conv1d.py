"""Timeseries classification from scratch, on synthetic waves.

In the style of keras.io's "Timeseries classification from scratch" (FordA):
a fully convolutional network of Conv1D + BatchNormalization + ReLU blocks
and global average pooling, trained with the callbacks that example uses:
ModelCheckpoint keeps the best model by validation loss, ReduceLROnPlateau
halves the learning rate when it stalls, EarlyStopping ends the run. The best
checkpoint is then loaded back and evaluated on the test set.

The series are generated: a noisy sine wave (class 0) or a noisy wave with a
sharper, square-ish shape (class 1), each with a random frequency and phase.
"""

import os
import tempfile

import numpy as np

import keras

series_length = 128
num_classes = 2


def make_waves(n, rng):
    """`n` univariate series of `series_length` steps, shape (n, series_length, 1), and their labels."""
    t = np.linspace(0.0, 1.0, series_length)
    labels = rng.integers(0, num_classes, size=n)
    freq = rng.uniform(2.0, 5.0, size=(n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    wave = np.sin(2 * np.pi * freq * t + phase)
    square = np.tanh(3.0 * wave)  # class 1: the same wave, pushed towards a square shape
    x = np.where(labels[:, None] == 1, square, wave) + rng.normal(0.0, 0.6, size=(n, series_length))
    return x[..., None].astype("float32"), labels


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)

    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)

    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def main(epochs=20, seed=1):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(0)
    x_train, y_train = make_waves(800, rng)
    x_test, y_test = make_waves(400, rng)
    print("x_train shape:", x_train.shape, "classes:", np.unique(y_train))

    model = make_model(input_shape=x_train.shape[1:])
    model.summary()

    with tempfile.TemporaryDirectory() as workdir:
        best_model_path = os.path.join(workdir, "best_model.keras")
        callbacks = [
            keras.callbacks.ModelCheckpoint(best_model_path, save_best_only=True, monitor="val_loss"),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=4, min_lr=0.0001),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=8, verbose=1),
        ]
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["sparse_categorical_accuracy"],
        )
        history = model.fit(
            x_train,
            y_train,
            batch_size=16,
            epochs=epochs,
            callbacks=callbacks,
            validation_split=0.2,
            verbose=2,
        )

        model = keras.models.load_model(best_model_path)
        test_loss, test_acc = model.evaluate(x_test, y_test)

    print("Test accuracy", test_acc)
    print("Test loss", test_loss)
    return {
        "loss": float(test_loss),
        "sparse_categorical_accuracy": float(test_acc),
        "epochs_run": len(history.history["loss"]),
    }


if __name__ == "__main__":
    main()
