"""A model with three inputs and two outputs: ranking support tickets.

In the style of the keras.io functional API guide's ticket example: a
ticket's title and body (word ids) and its tags (a binary vector) go into one
model that predicts the ticket's priority (a probability) and the department
that should handle it (one of `num_departments`). Inputs and outputs are
named, so data, losses and loss weights are passed as dicts.

The tickets are generated: the department decides which words appear in the
title and body; the priority is high when an "urgent" tag is set or an
"urgent" word appears in the body.
"""

import numpy as np

import keras
from keras import layers

num_tags = 12  # Number of unique issue tags
num_words = 100  # Size of vocabulary obtained when preprocessing text data
num_departments = 4  # Number of departments for predictions
title_length = 8
body_length = 24
urgent_tags = [0, 1]
urgent_words = [2, 3, 4]


def make_tickets(n, rng):
    """Inputs and targets of `n` tickets, as dicts keyed by the model's input and output names."""
    department = rng.integers(0, num_departments, size=n)
    # Each department has its own band of 20 word ids; filler words come from anywhere.
    band = 10 + 20 * department[:, None]
    title = rng.integers(10, num_words, size=(n, title_length))
    body = rng.integers(10, num_words, size=(n, body_length))
    title[:, :3] = band + rng.integers(0, 20, size=(n, 3))
    body[:, :4] = band + rng.integers(0, 20, size=(n, 4))
    urgent_body = rng.random(n) < 0.25
    body[urgent_body, 4] = rng.choice(urgent_words, size=urgent_body.sum())
    title = rng.permuted(title, axis=1)
    body = rng.permuted(body, axis=1)
    tags = (rng.random((n, num_tags)) < 0.15).astype("float32")
    priority = (urgent_body | (tags[:, urgent_tags].sum(axis=1) > 0)).astype("float32")[:, None]
    inputs = {"title": title, "body": body, "tags": tags}
    targets = {"priority": priority, "department": keras.utils.to_categorical(department, num_departments)}
    return inputs, targets


def main(epochs=10, seed=1):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(0)
    train_inputs, train_targets = make_tickets(2000, rng)
    test_inputs, test_targets = make_tickets(400, rng)

    title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

    # Embed each word in the title into a 16-dimensional vector
    title_features = layers.Embedding(num_words, 16)(title_input)
    # Embed each word in the text into a 16-dimensional vector
    body_features = layers.Embedding(num_words, 16)(body_input)

    # Reduce sequence of embedded words in the title into a single 32-dimensional vector
    title_features = layers.LSTM(32)(title_features)
    # Reduce sequence of embedded words in the body into a single 16-dimensional vector
    body_features = layers.LSTM(16)(body_features)

    # Merge all available features into a single large vector via concatenation
    x = layers.concatenate([title_features, body_features, tags_input])

    # Stick a logistic regression for priority prediction on top of the features
    priority_pred = layers.Dense(1, activation="sigmoid", name="priority")(x)
    # Stick a department classifier on top of the features
    department_pred = layers.Dense(num_departments, activation="softmax", name="department")(x)

    # Instantiate an end-to-end model predicting both priority and department
    model = keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )
    model.summary()

    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=3e-3),
        loss={
            "priority": keras.losses.BinaryCrossentropy(),
            "department": keras.losses.CategoricalCrossentropy(),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"priority": ["binary_accuracy"], "department": ["accuracy"]},
    )
    model.fit(train_inputs, train_targets, epochs=epochs, batch_size=32, verbose=2)

    results = model.evaluate(test_inputs, test_targets, verbose=0, return_dict=True)
    print(results)
    return {name: float(value) for name, value in results.items()}


if __name__ == "__main__":
    main()
