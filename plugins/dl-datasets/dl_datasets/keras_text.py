"""Keras's text data sets: imdb and reuters, their word indexes and Reuters's topic names.

See `keras_common` for the `origin` and `file_hash` arguments.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np

from corelib.downloads import get_file
from corelib.errors import ConfigError, DataError, one_line
from corelib.validation import fraction, positive_int

from dl_datasets.keras_common import KERAS_FOLDER, Split, file_url, require_hash, shuffled
from dl_datasets.safe_pickle import load_npz_with_objects

__all__ = ["load_imdb", "load_reuters", "get_imdb_word_index", "get_reuters_word_index", "REUTERS_LABELS"]

# Published hashes: Keras 3's loaders (sha256 unless 32 digits, md5).
IMDB_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
IMDB_WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"
REUTERS_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
REUTERS_WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"


def _check_sequence_args(loader: str, num_words: Any, skip_top: Any, maxlen: Any, seed: Any, start_char: Any,
                         oov_char: Any, index_from: Any) -> None:
    owner = f"{loader}.load_data"
    if num_words is not None:
        positive_int(num_words, "num_words", owner, allow_zero=True)
    positive_int(skip_top, "skip_top", owner, allow_zero=True)
    if maxlen is not None:
        positive_int(maxlen, "maxlen", owner, allow_zero=True)
    positive_int(seed, "seed", owner, allow_zero=True)
    for name, value in (("start_char", start_char), ("oov_char", oov_char)):
        if value is not None:
            positive_int(value, name, owner, allow_zero=True)
    positive_int(index_from, "index_from", owner, allow_zero=True)


def _encode(sequences: Iterable, start_char: int | None, index_from: int) -> list[list[int]]:
    """Shift every word index by `index_from` and put `start_char` in front (when not None)."""
    head = [] if start_char is None else [start_char]
    return [head + [int(w) + index_from for w in seq] for seq in sequences]


def _drop_long(maxlen: int | None, xs: list, ys: Any) -> tuple[list, list]:
    if not maxlen:
        return xs, list(ys)
    kept = [(x, y) for x, y in zip(xs, ys) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def _cut_vocabulary(xs: list, num_words: int | None, skip_top: int, oov_char: int | None) -> list[list[int]]:
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def _object_array(sequences: list) -> np.ndarray:
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def load_imdb(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3, *,
              origin: str | None = None, file_hash: str = IMDB_HASH) -> Split:
    """IMDB movie reviews labelled by sentiment, as `keras.datasets.imdb.load_data`.

    Each review is a list of word indices, words ranked by frequency (index
    ``index_from + r`` for the word of rank r, counting from 1); 0 is padding.
    The two splits are shuffled with `seed`. The result is Keras's, index for
    index, down to two habits of its code worth knowing: `maxlen` drops
    (does not cut) every review whose length, `start_char` included, is
    `maxlen` or more; and with ``num_words=None`` the cut is at the largest
    index, so that one word becomes `oov_char`.

    The file stores the reviews as object arrays (pickles): read only after it
    matched `file_hash`, with an unpickler that rebuilds NumPy arrays only.

    Args:
        path: the file's name in the cache folder.
        num_words: keep the words of index below this (after the shift); the
            others become `oov_char` (or are removed when it is None).
        skip_top: the indices below this become `oov_char` too.
        maxlen: drop the reviews this long or longer; None keeps all.
        seed: the seed of the shuffle.
        start_char: the index put at the start of each review; None for none.
        oov_char: the index of cut words; None removes them instead.
        index_from: the shift added to every word index.
        origin: a folder URL to download from instead of Keras's.
        file_hash: the file's hash; None is refused.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x object arrays of shape
        (25000,) (fewer with `maxlen`), each item a list of ints; y int labels
        0 negative, 1 positive.
    """
    _check_sequence_args("imdb", num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
    require_hash(file_hash, "imdb")
    path = get_file(path, file_url(origin, KERAS_FOLDER, "imdb.npz"), file_hash=file_hash)
    arrays = _arrays(path, ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(seed)
    x_train, y_train = shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, y_test = shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train, y_train = _drop_long(maxlen, _encode(x_train, start_char, index_from), y_train)
    x_test, y_test = _drop_long(maxlen, _encode(x_test, start_char, index_from), y_test)
    if maxlen and (not x_train or not x_test):
        raise ConfigError(f"imdb.load_data: no review is shorter than maxlen={maxlen}; increase maxlen")
    xs = _cut_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(y_train, arrays["y_train"].dtype), np.asarray(y_test, arrays["y_test"].dtype)])
    n = len(x_train)
    return (_object_array(xs[:n]), labels[:n]), (_object_array(xs[n:]), labels[n:])


def _arrays(path: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays = load_npz_with_objects(path)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks the arrays {missing}; it has {sorted(arrays)}")
    return arrays


def _word_index(path: str, origin: str | None, name: str, file_hash: str | None) -> dict[str, int]:
    path = get_file(path, file_url(origin, KERAS_FOLDER, name), file_hash=file_hash)
    try:
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a JSON word index: {one_line(exc)}") from None
    if not isinstance(index, dict):
        raise DataError(f"{path} holds a JSON {type(index).__name__}, not a word index object")
    return index


def get_imdb_word_index(path: str = "imdb_word_index.json", *, origin: str | None = None,
                        file_hash: str | None = IMDB_WORD_INDEX_HASH) -> dict[str, int]:
    """{word: rank} of the IMDB reviews, as `keras.datasets.imdb.get_word_index` (add `index_from`
    to a rank to get the index `load_imdb` uses)."""
    return _word_index(path, origin, "imdb_word_index.json", file_hash)


def load_reuters(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0,
                 maxlen: int | None = None, test_split: float = 0.2, seed: int = 113, start_char: int | None = 1,
                 oov_char: int | None = 2, index_from: int = 3, *, origin: str | None = None,
                 file_hash: str = REUTERS_HASH) -> Split:
    """Reuters newswires labelled by topic (46 topics), as `keras.datasets.reuters.load_data`.

    The newswires are shuffled with `seed`, encoded as in `load_imdb` (same
    arguments, same two habits of Keras's code), then split: the first
    ``int(n * (1 - test_split))`` form the train split. The file's object
    arrays are read as `load_imdb` reads them, after the hash check.

    Args:
        test_split: the fraction of newswires in the test split, in [0, 1).
        (others): as `load_imdb`.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x object arrays of lists of
        ints, y int topic labels 0-45 (names: `REUTERS_LABELS`).
    """
    _check_sequence_args("reuters", num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
    test_split = fraction(test_split, "test_split", "reuters.load_data")
    require_hash(file_hash, "reuters")
    path = get_file(path, file_url(origin, KERAS_FOLDER, "reuters.npz"), file_hash=file_hash)
    arrays = _arrays(path, ("x", "y"))
    xs, labels = shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs, labels = _drop_long(maxlen, _encode(xs, start_char, index_from), labels)
    xs = _cut_vocabulary(xs, num_words, skip_top, oov_char)
    labels = np.asarray(labels, arrays["y"].dtype)
    n = int(len(xs) * (1 - test_split))
    return (_object_array(xs[:n]), labels[:n]), (_object_array(xs[n:]), labels[n:])


def get_reuters_word_index(path: str = "reuters_word_index.json", *, origin: str | None = None,
                           file_hash: str | None = REUTERS_WORD_INDEX_HASH) -> dict[str, int]:
    """{word: rank} of the Reuters newswires, as `keras.datasets.reuters.get_word_index`."""
    return _word_index(path, origin, "reuters_word_index.json", file_hash)


REUTERS_LABELS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def get_reuters_label_names() -> tuple[str, ...]:
    """The 46 topic names, by label, as `keras.datasets.reuters.get_label_names`."""
    return REUTERS_LABELS


# Keras's spelling reaches these through corelib.datasets: datasets.imdb.get_word_index().
load_imdb.get_word_index = get_imdb_word_index
load_reuters.get_word_index = get_reuters_word_index
load_reuters.get_label_names = get_reuters_label_names
