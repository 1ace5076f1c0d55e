"""Training data read batch by batch: a folder of images, a glob of .npz shards, a large .csv.

`dl train` reads these without holding the whole data set: ``training.data``
(or ``--data``) names

- a folder with one sub-folder of images per class: read by
  `image_dataset_from_directory` at the model's input size;
- a glob of .npz shards (``shards/part-*.npz``), each with arrays x and y:
  `corelib.spec.shards`;
- a .csv file larger than `CSV_STREAM_BYTES`, or any .csv given as
  ``{path: file.csv, streaming: true}``: `corelib.spec.csv_chunks`.

Each becomes a `PyDataset` whose batches are checked against the model as
they come (the same checks and messages as for arrays); `validation_split`
holds out the last rows of the shards or the file (a subset of the images, as
Keras does), and shuffling is drawn from dl's random generator pass by pass,
so a seeded run repeats and a checkpointed run resumes bit for bit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from corelib.errors import DataError
from corelib.spec.fields import SpecError
from corelib.trainers.py_dataset import PyDataset

__all__ = ["CSV_STREAM_BYTES", "is_streamed", "StreamedData", "open_streamed"]

CSV_STREAM_BYTES = 256 * 2**20  # a .csv above this is streamed: its float64 table would be several times larger
_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def is_streamed(data: dict | None) -> bool:
    """Whether a parsed ``data`` field is read batch by batch (see the module's doc)."""
    if data is None or "path" not in data:
        return False
    from corelib.spec.shards import has_magic

    path = data["path"]
    if has_magic(str(path)) or path.is_dir():
        return True
    if path.suffix.lower() != ".csv":
        return False
    streaming = data.get("streaming")
    if streaming is not None:
        return streaming
    try:
        return path.stat().st_size > CSV_STREAM_BYTES
    except OSError:  # missing: the whole-file reader says so
        return False


class StreamedData:
    """A streamed source opened for training (see `open_streamed`).

    Attributes:
        source: its name in messages (the folder, the glob or the file).
        kind: "images", "shards" or "csv".
        sample_shape: the shape of one input sample when it is known before the model is
            built (shards with one x array, a .csv); None for images (the model's input
            shape decides their size) and named inputs.
        files: the files read (the shards, the .csv), for the path checks; the folder for images.
    """

    def __init__(self, data: dict) -> None:
        from corelib.spec.shards import has_magic

        path: Path = data["path"]
        self.source = str(path)
        self.rows: Any = None
        if has_magic(str(path)):
            from corelib.spec.shards import Shards

            self.kind, self.rows = "shards", Shards(path)
            self.sample_shape = self.rows.sample_shape
            self.files = list(self.rows.paths)
        elif path.is_dir():
            self.kind, self.sample_shape, self.files = "images", None, [path]
        else:
            from corelib.spec.csv_chunks import CsvBlocks

            self.kind, self.rows = "csv", CsvBlocks(path, target=data.get("target"))
            self.sample_shape = self.rows.sample_shape
            self.files = [path]

    def batches(self, model: Any, spec: Any, workers: int = 1) -> tuple[PyDataset, PyDataset | None]:
        """(training batches, validation batches or None) for the compiled `model`, with the spec's
        batch_size, shuffle, seed and validation_split; `workers` threads load batches ahead. The
        first batch is read and checked against the model now (a DataError before training starts)."""
        t = spec.training

        def prepare(x: Any, y: Any, index: int) -> tuple:
            from corelib.spec.data import prepare_arrays

            return prepare_arrays(model, spec, x, y, source=self.source)

        train, val = self._images(model, t, prepare, workers) if self.kind == "images" else \
            self._rows(t, prepare, workers)
        train[0]  # noqa: B018 -- the first batch, checked against the model before training starts
        return train, val

    def _rows(self, t: Any, prepare: Any, workers: int) -> tuple[PyDataset, PyDataset | None]:
        from corelib.spec.row_batches import RowBatches

        n = sum(self.rows.sizes)
        cut = math.floor(n * (1.0 - t.validation_split)) if t.validation_split else n  # as for arrays
        if t.validation_split and (cut == 0 or cut == n):
            raise DataError(f"{self.source}: validation_split={t.validation_split} leaves no samples for "
                            f"{'validation' if cut == n else 'training'} (the data holds {n} samples)")
        train = RowBatches(self.rows, 0, cut, t.batch_size, shuffle=t.shuffle, workers=workers, prepare=prepare)
        val = None if cut == n else RowBatches(self.rows, cut, n, t.batch_size, workers=workers, prepare=prepare)
        return train, val

    def _images(self, model: Any, t: Any, prepare: Any, workers: int) -> tuple[PyDataset, PyDataset | None]:
        from corelib.preprocessing import image_dataset_from_directory

        shape = tuple(model.inputs[0].shape[1:]) if model.built and len(model.inputs) == 1 else None
        if shape is None or len(shape) != 3 or None in shape or shape[-1] not in _COLOR_MODES:
            raise SpecError(f"{self.source}: training on a folder of images needs a model with one input of shape "
                            f"(height, width, channels) with 1, 3 or 4 channels, e.g. input_shape: [64, 64, 3] on the "
                            f"first layer; the model's input is {shape if shape is not None else 'not known'}")
        height, width, channels = shape
        # The file order is shuffled once by the seed (which files are held out for validation, as in Keras);
        # fit shuffles the order of the batches every pass from dl's random generator, which a checkpoint keeps.
        options = {"labels": "inferred", "label_mode": "int", "color_mode": _COLOR_MODES[channels],
                   "batch_size": t.batch_size, "image_size": (height, width), "shuffle": True,
                   "seed": t.seed if t.seed is not None else 0, "verbose": False}
        if t.validation_split:
            train = image_dataset_from_directory(str(self.source), validation_split=t.validation_split,
                                                 subset="training", **options)
            val = image_dataset_from_directory(str(self.source), validation_split=t.validation_split,
                                               subset="validation", **options)
            return Prepared(train, prepare, workers), Prepared(val, prepare, workers)
        return Prepared(image_dataset_from_directory(str(self.source), **options), prepare, workers), None

    @property
    def fit_shuffle(self) -> bool:
        """What fit's `shuffle` is for this source: images shuffle their batch order through fit; rows
        shuffle themselves (`RowBatches`), piece by piece."""
        return self.kind == "images"


class Prepared(PyDataset):
    """The batches of another PyDataset, in the order it gives each pass, each passed through
    `prepare(x, y, index)`; loaded ahead on `workers` threads."""

    def __init__(self, inner: PyDataset, prepare: Any, workers: int = 1) -> None:
        super().__init__(workers=workers, max_queue_size=max(10, 2 * workers))
        self.inner, self.prepare = inner, prepare
        self.class_names = getattr(inner, "class_names", None)

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> tuple:
        batch = self.inner[index]
        return self.prepare(batch[0], batch[1], index)

    def on_epoch_begin(self) -> None:
        self.inner.on_epoch_begin()  # ImageBatches draws its file order from dl's generator: resumable

    def on_epoch_end(self) -> None:
        self.inner.on_epoch_end()


def open_streamed(data: dict) -> StreamedData:
    """Open a streamed ``data`` field (`is_streamed`): its files' headers are read and checked.

    Raises:
        DataError: a glob that matches nothing or other than .npz shards, a malformed header.
    """
    return StreamedData(data)
