"""Bidirectional LSTM on synthetic movie reviews.

In the style of keras.io's "Bidirectional LSTM on IMDB": reviews are lists of
word ids of different lengths, padded with `pad_sequences`, embedded and read
by two stacked bidirectional LSTMs; a sigmoid unit says whether the review is
positive. The reviews are generated: filler words, plus up to three words from a
"positive" and up to three from a "negative" vocabulary; the review is
positive when it holds more positive than negative words.
"""

import numpy as np

import keras
from keras import layers

max_features = 200  # Vocabulary size: word ids 0..199 (0 is padding)
maxlen = 40  # Only consider the last 40 words of each review
positive_words = np.arange(2, 8)
negative_words = np.arange(8, 14)


def make_reviews(n, rng):
    """`n` reviews of 10..60 words and their labels (1: more positive than negative words)."""
    reviews, labels = [], []
    for _ in range(n):
        words = rng.integers(20, max_features, size=rng.integers(10, 61))
        n_pos, n_neg = rng.choice(np.arange(4), size=2, replace=False)  # never a tie
        # The opinion words sit among the last maxlen words, so truncation keeps them.
        spots = rng.choice(np.arange(len(words) - min(len(words), maxlen), len(words)), size=n_pos + n_neg,
                           replace=False)
        words[spots] = np.concatenate([rng.choice(positive_words, n_pos), rng.choice(negative_words, n_neg)])
        reviews.append(words.tolist())
        labels.append(int(n_pos > n_neg))
    return reviews, np.array(labels, dtype="float32")


def main(epochs=8, seed=1):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(0)
    x_train, y_train = make_reviews(1000, rng)
    x_val, y_val = make_reviews(300, rng)
    print(len(x_train), "Training sequences")
    print(len(x_val), "Validation sequences")
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

    # Input for variable-length sequences of integers
    inputs = keras.Input(shape=(None,), dtype="int32")
    # Embed each integer in a 16-dimensional vector
    x = layers.Embedding(max_features, 16)(inputs)
    # Add 2 bidirectional LSTMs
    x = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(16))(x)
    # Add a classifier
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.summary()

    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val), verbose=2)

    results = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
    print(results)
    return {name: float(value) for name, value in results.items()}


if __name__ == "__main__":
    main()
