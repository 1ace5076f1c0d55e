"""Memory-mapped inputs (np.load(..., mmap_mode="r")): trained, evaluated and predicted batch by
batch from the file, with the same results as the array in memory and without the process
ever holding the whole file."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from corelib import layers, models, utils
from corelib.errors import DataError
from corelib.trainers.batching import MappedRows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mapped")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6))
    np.save(folder / "x64.npy", x)
    np.save(folder / "x32.npy", x.astype(np.float32))
    return folder, x.astype(np.float32), (x.sum(1) > 0).astype(np.int64)


def make_model():
    utils.set_random_seed(2)
    model = models.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                               layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("name", ["x32.npy", "x64.npy"])
def test_a_mapped_array_trains_exactly_as_the_array_in_memory(files, name):
    folder, x, y = files
    mapped = np.load(folder / name, mmap_mode="r")
    runs = []
    for data in (x, mapped):
        model = make_model()
        history = model.fit(data, y, batch_size=32, epochs=2, validation_split=0.2, verbose=0)  # shuffled
        runs.append((history.history, model.get_weights(), model.evaluate(data, y, verbose=0),
                     model.predict(data, batch_size=50, verbose=0)))
    (h1, w1, e1, p1), (h2, w2, e2, p2) = runs
    assert h1 == h2 and e1 == e2
    np.testing.assert_array_equal(p1, p2)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_rows_are_read_in_any_order_from_a_view_of_the_file(files):
    folder, x, _ = files
    mapped = MappedRows(np.load(folder / "x32.npy", mmap_mode="r"), "float32", "x")[40:260]
    idx = np.array([5, 3, 3, 219, 0, 100, 101, 102, 7])
    np.testing.assert_array_equal(mapped.read(idx), x[40:260][idx])
    np.testing.assert_array_equal(mapped.read(slice(10, 30)), x[50:70])
    assert mapped.shape == (220, 6) and len(mapped) == 220


def test_a_non_finite_value_in_the_file_is_refused_in_its_batch(files, tmp_path):
    _, x, y = files
    bad = x.copy()
    bad[123, 4] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match="x contains NaN or infinite values"):
        make_model().fit(np.load(tmp_path / "bad.npy", mmap_mode="r"), y, batch_size=32, epochs=1, verbose=0)


def test_integer_ids_from_a_mapped_file_feed_an_embedding_exactly(tmp_path):
    ids = np.random.default_rng(1).integers(0, 50, (40, 5))
    np.save(tmp_path / "ids.npy", ids)
    model = models.Sequential([layers.Input((5,), dtype="int64"), layers.Embedding(50, 3), layers.Flatten(),
                               layers.Dense(1)])
    model.compile("sgd", "mse")
    np.testing.assert_array_equal(model.predict(np.load(tmp_path / "ids.npy", mmap_mode="r"), verbose=0),
                                  model.predict(ids, verbose=0))


_RSS_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from corelib import layers, models

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    x = np.load(sys.argv[1], mmap_mode="r")
    y = (np.arange(len(x)) % 2).astype(np.int64)
    model = models.Sequential([layers.Input((x.shape[1],)), layers.Dense(4, activation="relu"),
                               layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.predict(x[:2].copy(), verbose=0)
    before = status("VmRSS")
    model.fit(x, y, batch_size=512, epochs=1, verbose=0, validation_split=0.1)
    model.evaluate(x, y, batch_size=512, verbose=0)
    print(status("VmHWM") - before, x.nbytes)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("rows", [48 * 1024, pytest.param(512 * 1024, marks=pytest.mark.slow)],
                         ids=["192MiB", "2GiB"])
def test_training_from_a_mapped_file_never_holds_the_whole_file(tmp_path, rows):
    cols = 1024  # float32: 4 KiB a row
    mm = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(rows, cols))
    for start in range(0, rows, 4096):
        mm[start:start + 4096] = np.float32(start % 7) / 7
        mm.flush()  # the writing process's pages go back to the page cache as they are written
    mm.flush()
    del mm
    script = tmp_path / "fit.py"
    script.write_text(_RSS_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "big.npy")], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    growth, size = map(int, out.split())
    assert size == rows * cols * 4
    assert growth < 48 * 2**20, f"the peak resident size grew by {growth / 2**20:.0f} MiB for a {size >> 20} MiB file"
