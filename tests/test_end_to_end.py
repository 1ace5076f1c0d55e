"""End to end on the real digits: the README's example from the shell and the seed's idiom in Python."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import corelib
from corelib import layers, models, utils

pytest.importorskip("dl_datasets")
ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_trains_digits_from_the_shell(tmp_path):
    dl = shutil.which("dl")
    command = [dl] if dl else [sys.executable, "-m", "dl_cli"]
    out = tmp_path / "digits.dl"
    result = subprocess.run([*command, "train", str(ROOT / "examples" / "digits_mlp.yaml"), "--output", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    epoch_lines = [l for l in result.stdout.splitlines() if l.startswith("Epoch ")]
    assert len(epoch_lines) == 40  # not a terminal: one line per epoch
    val_acc = float(re.search(r"val_accuracy: ([0-9.]+)", epoch_lines[-1]).group(1))
    assert val_acc >= 0.95
    (_, _), (x_test, y_test) = corelib.datasets.load_data("digits")
    model = models.load_model(out)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc >= 0.95
    assert f"accuracy: {acc:.4f}" in result.stdout  # the printed test accuracy is the saved model's


def test_seed_idiom_reaches_high_accuracy_on_digits():
    (x, y), (x_test, y_test) = corelib.datasets.load_data("digits")
    x, x_test = x.reshape(len(x), 64), x_test.reshape(len(x_test), 64)
    y, y_test = utils.to_categorical(y, 10), utils.to_categorical(y_test, 10)
    model = models.Sequential()
    model.add(layers.Dense(32, activation="relu", input_shape=(64,)))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=32, validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.93
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc >= 0.93
    assert np.argmax(model.predict(x_test, verbose=0), axis=1).shape == (len(x_test),)
