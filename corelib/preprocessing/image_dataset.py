"""`image_dataset_from_directory`: batches of images read from a folder tree, decoded as they are needed.

Keras 3 returns a `tf.data.Dataset`; dl returns an `ImageBatches`, a
`PyDataset` that decodes a batch's images when the batch is asked for
(``dataset[i]``, by `fit` or a ``for`` loop), so the images are never all in
memory, and with ``workers=N`` loads batches ahead while the model trains.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from corelib import config
from corelib.errors import ConfigError, DataError, short_repr
from corelib.preprocessing.dataset_utils import (IterableBatches, check_validation_split, index_directory,
                                                 training_or_validation_split)
from corelib.preprocessing.image import (RESIZE_INTERPOLATIONS, check_data_format, check_size, decode_image, pillow,
                                         resize_image)

__all__ = ["image_dataset_from_directory", "ImageBatches", "ALLOWLIST_FORMATS"]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_OWNER = "image_dataset_from_directory"
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def image_dataset_from_directory(
    directory: str,
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: tuple[int, int] = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    verbose: bool = True,
    on_error: str = "raise",
    workers: int = 1,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
) -> ImageBatches | tuple[ImageBatches, ImageBatches]:
    """Batches of images from a folder tree, with their labels, as `keras.utils.image_dataset_from_directory`.

    With ``labels="inferred"``, each sub-folder of `directory` is a class
    (``directory/cat/*.png``, ``directory/dog/*.jpg``), in alphanumeric order;
    files are found in nested folders too. Formats: .bmp .gif .jpeg .jpg .png.

    Args:
        directory: the folder.
        labels: "inferred" (from the sub-folders), None (images only), or a list of integer
            labels, one per file in the alphanumeric order of the files' paths.
        label_mode: "int" (int32 labels, shape (batch,)), "categorical" (one-hot float32,
            (batch, classes)), "binary" (float32 0 / 1, (batch, 1); exactly 2 classes) or None
            (batches of images only).
        class_names: with inferred labels, the sub-folders to use and their order.
        color_mode: "grayscale", "rgb" or "rgba": 1, 3 or 4 channels.
        batch_size: images per batch; None for single images (no batch axis).
        image_size: ``(height, width)`` every image is resized to.
        shuffle: shuffle the files (seeded by `seed`, as Keras: this decides the validation split), and each
            pass again (from dl's generator).
        seed: the shuffle's seed; needed with `validation_split` and `shuffle`.
        validation_split: the fraction of the files set aside for validation (the last ones,
            after the shuffle).
        subset: "training", "validation" or "both" (a tuple (training, validation)); only with
            `validation_split`.
        interpolation: "bilinear", "nearest" (Keras's values), "bicubic", "area" or
            "lanczos3" (Pillow's filters).
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: crop each image to the target's aspect ratio (centred) before resizing.
        pad_to_aspect_ratio: pad each image with zeros to the target's aspect ratio before resizing.
        data_format: None or "channels_last".
        verbose: print how many files and classes were found.
        on_error: "raise" (a file that cannot be decoded is a DataError naming it, when its batch
            is loaded) or "skip" (a warning naming it; its batch comes without it). dl's addition.
        workers: threads (or processes) loading batches ahead during fit (see `PyDataset`).
        use_multiprocessing: load in worker processes instead of threads.
        max_queue_size: the most batches loaded ahead.

    Returns:
        An `ImageBatches` (with `class_names` and `file_paths`), or a tuple of two with
        ``subset="both"``. Batches are ``(images, labels)``, images float32 in [0, 255] of shape
        ``(batch, height, width, channels)``, or images alone without labels.
    """
    if labels is not None and not (isinstance(labels, str) and labels == "inferred"):
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ConfigError(f'{_OWNER}: `labels` should be a list/tuple of integer labels, of the same size as '
                              'the number of image files in the target directory; "inferred" to infer them from '
                              f"the sub-folder names; or None for images only. Received: labels={short_repr(labels)}")
        if class_names is not None:
            raise ConfigError(f'{_OWNER}: you can only pass `class_names` if `labels="inferred"`. '
                              f"Received: labels={short_repr(labels)}, and class_names={short_repr(class_names)}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ConfigError(f'{_OWNER}: label_mode must be one of "int", "categorical", "binary", or None. '
                          f"Received: label_mode={short_repr(label_mode)}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in _CHANNELS:
        raise ConfigError(f'{_OWNER}: color_mode must be one of "rgb", "rgba", "grayscale". '
                          f"Received: color_mode={short_repr(color_mode)}")
    interpolation = interpolation.lower() if isinstance(interpolation, str) else interpolation
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise ConfigError(f"{_OWNER}: interpolation should be one of {RESIZE_INTERPOLATIONS} (dl has no "
                          f"TensorFlow's lanczos5, gaussian or mitchellcubic). Received: "
                          f"interpolation={short_repr(interpolation)}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ConfigError(f"{_OWNER}: only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to True")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f'{_OWNER}: on_error must be "raise" or "skip". Received: on_error={short_repr(on_error)}')
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ConfigError(f"{_OWNER}: batch_size must be a positive int or None. "
                          f"Received: batch_size={short_repr(batch_size)}")
    check_data_format(data_format, _OWNER)
    image_size = check_size(image_size, "image_size", _OWNER)
    check_validation_split(validation_split, subset, shuffle, seed, _OWNER)
    pillow()  # a missing Pillow is reported now, not at the first batch
    if seed is None:
        seed = np.random.randint(1e6)
    paths, label_array, names = index_directory(directory, labels, ALLOWLIST_FORMATS, class_names, shuffle,
                                                seed, follow_links, verbose, _OWNER)
    if label_mode == "binary" and len(names) != 2:
        raise ConfigError(f'{_OWNER}: when passing label_mode="binary", there must be exactly 2 class_names. '
                          f"Received: class_names={short_repr(names)}")
    if label_mode == "categorical" and label_array is not None and len(label_array):
        if label_array.min() < 0 or label_array.max() >= len(names):
            raise DataError(f'{_OWNER}: with label_mode="categorical" the labels must be 0 to {len(names) - 1} '
                            f"(one per class); received labels from {label_array.min()} to {label_array.max()}")
    common = dict(class_names=names, label_mode=label_mode, batch_size=batch_size, image_size=image_size,
                  color_mode=color_mode, interpolation=interpolation, crop_to_aspect_ratio=crop_to_aspect_ratio,
                  pad_to_aspect_ratio=pad_to_aspect_ratio, seed=seed, on_error=on_error, workers=workers,
                  use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
    if subset == "both":
        parts = []
        for which in ("training", "validation"):
            part_paths, part_labels = training_or_validation_split(paths, label_array, validation_split, which,
                                                                   verbose)
            if not part_paths:
                raise DataError(f"{_OWNER}: no {which} images found in directory {directory}. "
                                f"Allowed formats: {ALLOWLIST_FORMATS}")
            parts.append(ImageBatches(part_paths, part_labels, shuffle=shuffle and which == "training", **common))
        return parts[0], parts[1]
    paths, label_array = training_or_validation_split(paths, label_array, validation_split, subset, verbose)
    if not paths:
        raise DataError(f"{_OWNER}: no images found in directory {directory}. Allowed formats: {ALLOWLIST_FORMATS}")
    return ImageBatches(paths, label_array, shuffle=shuffle, **common)


class ImageBatches(IterableBatches):
    """Batches of image files decoded and resized when asked for: what `image_dataset_from_directory`
    returns. ``len(ds)`` batches; ``ds[i]`` is batch i of the current epoch's order; ``for batch in
    ds`` reads them all (in a new order, if shuffling).

    Attributes:
        file_paths: the files, in the order of the first epoch.
        class_names: the classes' names (label i is ``class_names[i]``); None without labels.
    """

    def __init__(self, file_paths: list[str], labels: np.ndarray | None, *, class_names: list[str] | None,
                 label_mode: str | None, batch_size: int | None, image_size: tuple[int, int], color_mode: str,
                 interpolation: str, crop_to_aspect_ratio: bool, pad_to_aspect_ratio: bool, shuffle: bool,
                 seed: int, on_error: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self.labels = labels
        self.label_mode = label_mode
        self.batch_size = batch_size
        self.image_size = image_size
        self.color_mode = color_mode
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.shuffle = shuffle
        self.on_error = on_error
        self._order = np.arange(len(self.file_paths))

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"ImageBatches: batch index {index} is out of range (the data set has {len(self)})")
        size = self.batch_size or 1
        rows = self._order[index * size:(index + 1) * size]
        images, kept = [], []
        for row in rows:
            image = self._load(self.file_paths[row])
            if image is not None:
                images.append(image)
                kept.append(row)
        if not images:
            raise DataError(f"ImageBatches: every image of batch {index} is unreadable (skipped): "
                            f"{', '.join(repr(self.file_paths[row]) for row in rows)}")
        x = np.stack(images)
        if self.label_mode is None:
            return x if self.batch_size else x[0]
        y = self._encode(self.labels[np.array(kept)])
        return (x, y) if self.batch_size else (x[0], y[0])

    def on_epoch_begin(self) -> None:
        """With shuffling, each pass reads the files in an order drawn from dl's random generator
        (`utils.set_random_seed` repeats it, and a checkpointed run resumes with the same order)."""
        if self.shuffle:
            self._order = config.rng().permutation(len(self.file_paths))

    def _load(self, path: str) -> np.ndarray | None:
        try:
            image = decode_image(path, self.color_mode, "image_dataset_from_directory")
        except DataError as exc:
            if self.on_error == "raise":
                raise
            warnings.warn(f"{exc}; skipped (on_error='skip')", stacklevel=2)
            return None
        x = np.asarray(image, dtype=np.float32)
        if x.ndim == 2:
            x = x[:, :, None]
        return resize_image(x, self.image_size, self.interpolation, self.crop_to_aspect_ratio,
                            self.pad_to_aspect_ratio)

    def _encode(self, labels: np.ndarray) -> np.ndarray:
        if self.label_mode == "binary":
            return labels.astype(np.float32)[:, None]
        if self.label_mode == "categorical":
            return np.eye(len(self.class_names), dtype=np.float32)[labels]
        return labels.astype(np.int32)
