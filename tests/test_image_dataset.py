"""image_dataset_from_directory: Keras 3's file listing, labels, seeded shuffle and split, and pixel
values; batches decoded lazily; training a Conv2D model on it; corrupt files.

Keras's own `image_dataset_from_directory` needs TensorFlow (it returns a tf.data.Dataset), which
is not installed here: the tests compare against the pieces it is built from and that run without
TensorFlow: `keras.src.utils.dataset_utils.index_directory` (listing, labels, class names, the
seeded shuffle), `get_training_or_validation_split`, and `keras.ops.image.resize` (what Keras's
Pillow-based loader resizes with; TensorFlow's `tf.image.resize` gives the same bilinear values).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from corelib import layers, models, utils
from corelib.errors import ConfigError, DataError
from corelib.preprocessing import ImageBatches, image_dataset_from_directory

Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

CLASSES = ["b", "a", "c10", "c2"]  # alphanumeric order: a, b, c10, c2


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """4 class folders of small PNGs of different sizes, a nested folder with a JPEG, a GIF,
    a non-image file and a hidden folder (ignored with inferred labels): 21 images."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name / "nested").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (5 + i + c, 7 + 2 * i, 3), dtype=np.uint8)).save(
                root / name / f"img{i}.png")
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(root / name / "nested" / "z.JPG")
        (root / name / "notes.txt").write_text("not an image")
    Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).save(root / "a" / "anim.gif")
    (root / ".hidden").mkdir()
    Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(root / ".hidden" / "x.png")
    return root


def _keras_index(tree, labels="inferred", shuffle=True, seed=7, class_names=None):
    from keras.src.utils import dataset_utils
    from keras.src.utils.image_dataset_utils import ALLOWLIST_FORMATS

    return dataset_utils.index_directory(str(tree), labels, ALLOWLIST_FORMATS, class_names=class_names,
                                         shuffle=shuffle, seed=seed, verbose=False)


def _all(ds):
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("class_names", [None, ["c2", "a"]])
def test_files_labels_and_classes_are_keras_s(keras, tree, shuffle, class_names):
    paths, labels, names = _keras_index(tree, shuffle=shuffle, class_names=class_names)
    ds = image_dataset_from_directory(tree, image_size=(4, 4), batch_size=3, shuffle=shuffle, seed=7,
                                      class_names=class_names, verbose=False)
    assert ds.class_names == names == (class_names or ["a", "b", "c10", "c2"])
    assert ds.file_paths == paths
    _, y = _all(ds)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int32


def test_explicit_labels_and_no_labels_follow_keras(keras, tree):
    n = len(_keras_index(tree, labels=None, shuffle=False)[0])  # the hidden folder counts here, as in Keras
    given = [i % 3 for i in range(n)]
    paths, labels, names = _keras_index(tree, labels=list(given), seed=5)  # Keras shuffles the list in place
    ds = image_dataset_from_directory(tree, labels=given, image_size=(3, 3), seed=5, verbose=False)
    assert given == [i % 3 for i in range(n)]  # the caller's list is not shuffled in place (Keras's is)
    as_array = np.array(given)
    again = image_dataset_from_directory(tree, labels=as_array, image_size=(3, 3), seed=5, verbose=False)
    np.testing.assert_array_equal(as_array, given)  # nor an array
    np.testing.assert_array_equal(_all(again)[1], labels)
    assert ds.file_paths == paths and ds.class_names == names == ["0", "1", "2"]
    np.testing.assert_array_equal(_all(ds)[1], labels)
    unlabeled = image_dataset_from_directory(tree, labels=None, image_size=(3, 3), batch_size=8, seed=5,
                                             verbose=False)
    assert unlabeled.file_paths == _keras_index(tree, labels=None, seed=5)[0]
    assert unlabeled.class_names is None
    batch = unlabeled[0]
    assert isinstance(batch, np.ndarray) and batch.shape == (8, 3, 3, 3)


@pytest.mark.parametrize("split,seed", [(0.2, 1), (0.35, 2)])
def test_the_seeded_training_validation_split_is_keras_s(keras, tree, split, seed):
    from keras.src.utils.dataset_utils import get_training_or_validation_split

    paths, labels, _ = _keras_index(tree, seed=seed)
    train, val = image_dataset_from_directory(tree, image_size=(4, 4), seed=seed, validation_split=split,
                                              subset="both", verbose=False)
    for ds, subset in ((train, "training"), (val, "validation")):
        expected_paths, expected_labels = get_training_or_validation_split(paths, labels, split, subset)
        assert ds.file_paths == expected_paths
        np.testing.assert_array_equal(_all(ds)[1], expected_labels)
        alone = image_dataset_from_directory(tree, image_size=(4, 4), seed=seed, validation_split=split,
                                             subset=subset, verbose=False)
        assert alone.file_paths == expected_paths
    assert not set(train.file_paths) & set(val.file_paths)
    assert val.shuffle is False  # as Keras: the validation half of "both" is not reshuffled


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop,pad", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
def test_pixels_are_keras_resize_of_the_decoded_image(keras, tree, interpolation, crop, pad, color_mode):
    ds = image_dataset_from_directory(tree, image_size=(5, 8), batch_size=4, shuffle=False, color_mode=color_mode,
                                      interpolation=interpolation, crop_to_aspect_ratio=crop,
                                      pad_to_aspect_ratio=pad, verbose=False)
    x, _ = ds[0]
    channels = {"rgb": 3, "grayscale": 1, "rgba": 4}[color_mode]
    assert x.shape == (4, 5, 8, channels) and x.dtype == np.float32
    for image, path in zip(x, ds.file_paths[:4]):
        decoded = keras.utils.img_to_array(keras.utils.load_img(path, color_mode=color_mode))
        expected = keras.ops.convert_to_numpy(keras.ops.image.resize(
            decoded, (5, 8), interpolation=interpolation, crop_to_aspect_ratio=crop, pad_to_aspect_ratio=pad))
        np.testing.assert_allclose(image, expected, rtol=0, atol=1e-3)
    assert 0 <= x.min() and x.max() <= 255


def test_label_modes_shapes_and_dtypes(tree):
    common = dict(image_size=(2, 2), batch_size=5, shuffle=False, verbose=False)
    _, y = image_dataset_from_directory(tree, label_mode="categorical", **common)[0]
    assert y.shape == (5, 4) and y.dtype == np.float32 and (y.sum(1) == 1).all()
    _, y = image_dataset_from_directory(tree, label_mode="binary", class_names=["a", "b"], **common)[0]
    assert y.shape == (5, 1) and y.dtype == np.float32 and set(y.ravel()) <= {0.0, 1.0}
    x = image_dataset_from_directory(tree, label_mode=None, **common)[0]
    assert isinstance(x, np.ndarray) and x.shape == (5, 2, 2, 3)
    single = image_dataset_from_directory(tree, batch_size=None, image_size=(2, 3), shuffle=False, verbose=False)
    assert len(single) == 21 and single[0][0].shape == (2, 3, 3) and single[0][1].shape == ()


def test_found_files_is_printed_when_verbose(tree, capsys):
    image_dataset_from_directory(tree, image_size=(2, 2), seed=1, validation_split=0.25, subset="training")
    assert capsys.readouterr().out.splitlines() == ["Found 21 files belonging to 4 classes.",
                                                    "Using 16 files for training."]
    image_dataset_from_directory(tree, image_size=(2, 2), verbose=False)
    assert capsys.readouterr().out == ""


def test_each_epoch_reshuffles_from_dls_seeded_generator_and_iteration_reads_every_file_once(tree):
    from corelib import utils

    def epochs(seed):
        utils.set_random_seed(seed)  # each pass's file order: dl's generator (a checkpoint resumes it)
        ds = image_dataset_from_directory(tree, image_size=(2, 2), batch_size=6, seed=seed, verbose=False)
        assert len(ds) == 4
        return [np.concatenate([y for _, y in ds]) for _ in range(3)]  # a `for` loop ends an epoch

    first, again = epochs(3), epochs(3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert all(sorted(e.tolist()) == sorted(first[0].tolist()) for e in first)
    assert not np.array_equal(first[0], first[1])
    fixed = image_dataset_from_directory(tree, image_size=(2, 2), batch_size=6, shuffle=False, verbose=False)
    fixed.on_epoch_end()
    np.testing.assert_array_equal(np.concatenate([y for _, y in fixed]), [0] * 6 + [1] * 5 + [2] * 5 + [3] * 5)


def test_workers_load_the_same_batches(tree):
    plain = image_dataset_from_directory(tree, image_size=(3, 3), batch_size=4, shuffle=False, verbose=False)
    threads = image_dataset_from_directory(tree, image_size=(3, 3), batch_size=4, shuffle=False, verbose=False,
                                           workers=3, max_queue_size=2)
    assert isinstance(threads, ImageBatches) and threads.workers == 3 and threads.max_queue_size == 2
    processes = image_dataset_from_directory(tree, image_size=(3, 3), batch_size=4, shuffle=False, verbose=False,
                                             workers=2, use_multiprocessing=True)
    for (x1, y1), (x2, y2), (x3, y3) in zip(plain, threads, processes):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(x1, x3)
        np.testing.assert_array_equal(y1, y3)


def test_a_conv2d_model_trains_on_it(tree):
    utils.set_random_seed(0)
    ds = image_dataset_from_directory(tree, image_size=(8, 8), batch_size=8, seed=0, verbose=False, workers=2)
    model = models.Sequential([layers.Input((8, 8, 3)), layers.Rescaling(1 / 255), layers.Conv2D(4, 3),
                               layers.Flatten(), layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert model.evaluate(ds, verbose=0)[0] > 0
    assert model.predict(image_dataset_from_directory(tree, labels=None, image_size=(8, 8), batch_size=8,
                                                      shuffle=False, verbose=False), verbose=0).shape == (22, 4)  # + .hidden/x.png


@pytest.fixture
def with_corrupt(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((4, 4, 3), 40 * i, np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return tmp_path


def test_a_corrupt_image_is_a_data_error_naming_the_file_when_its_batch_loads(with_corrupt):
    ds = image_dataset_from_directory(with_corrupt, image_size=(4, 4), batch_size=2, shuffle=False, verbose=False)
    ds[0], ds[1]  # cat/0, cat/1; cat/2, dog/0: fine
    with pytest.raises(DataError, match=r"cannot read image file '.*dog/1\.png'") as info:
        ds[2]
    assert "\n" not in str(info.value)
    model = models.Sequential([layers.Input((4, 4, 3)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=r"dog/1\.png"):
        model.fit(ds, epochs=1, verbose=0)


def test_on_error_skip_warns_and_returns_the_batch_without_the_file(with_corrupt):
    ds = image_dataset_from_directory(with_corrupt, image_size=(4, 4), batch_size=2, shuffle=False, verbose=False,
                                      on_error="skip")
    with pytest.warns(UserWarning, match=r"dog/1\.png.*skipped"):
        x, y = ds[2]
    assert x.shape == (1, 4, 4, 3) and y.tolist() == [1]  # dog/2 only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sum(len(y) for _, y in ds) == 5


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(label_mode="binary"), ConfigError, "there must be exactly 2 class_names"),
    (dict(label_mode="sparse"), ConfigError, "label_mode must be one of"),
    (dict(color_mode="cmyk"), ConfigError, "color_mode must be one of"),
    (dict(validation_split=0.2, subset="training"), ConfigError, "you must provide a `seed`"),
    (dict(validation_split=1.5, subset="training", seed=1), ConfigError, "validation_split must be between 0 and 1"),
    (dict(subset="training"), ConfigError, "if `subset` is set, `validation_split` must be set"),
    (dict(validation_split=0.2, subset="test", seed=1), ConfigError, 'subset must be either "training"'),
    (dict(class_names=["a", "zebra"]), ConfigError, "did not match the names of the subdirectories"),
    (dict(labels=[0, 1]), DataError, "expected the lengths of `labels` to match the number of files"),
    (dict(labels="folders"), ConfigError, "`labels` should be a list/tuple of integer labels"),
    (dict(labels=None, class_names=["a"]), ConfigError, "argument `class_names` cannot be specified"),
    (dict(interpolation="gaussian"), ConfigError, "interpolation should be one of"),
    (dict(image_size=(0, 4)), ConfigError, "image_size must be a tuple of 2 positive integers"),
    (dict(batch_size=0), ConfigError, "batch_size must be a positive int or None"),
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ConfigError, "only one of"),
    (dict(on_error="ignore"), ConfigError, 'on_error must be "raise" or "skip"'),
    (dict(data_format="channels_first"), ConfigError, 'data_format="channels_last"'),
])
def test_bad_arguments_are_refused_in_one_line(tree, kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        image_dataset_from_directory(tree, verbose=False, **kwargs)
    assert "\n" not in str(info.value)


def test_a_missing_or_empty_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        image_dataset_from_directory(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found in directory"):
        image_dataset_from_directory(tmp_path / "empty", verbose=False)


def test_without_pillow_the_error_comes_at_once(monkeypatch, tree):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ConfigError, match=r'^Reading and writing images needs Pillow, .*pip install "dl\[images\]"$'):
        image_dataset_from_directory(tree, verbose=False)
