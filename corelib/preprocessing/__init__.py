"""Keras's `keras.preprocessing` paths: `preprocessing.sequence.pad_sequences`, `preprocessing.image.load_img`
(and `img_to_array`, `array_to_img`, `save_img`, `smart_resize`), `preprocessing.image_dataset_from_directory`,
`preprocessing.timeseries_dataset_from_array`.

They live in this package's modules (`sequence`, `image`, `image_dataset`,
`timeseries`, `dataset_utils`); `corelib.utils` re-exports them under Keras's
`keras.utils` names.
"""

from corelib.preprocessing import image, sequence
from corelib.preprocessing.dataset_utils import split_dataset
from corelib.preprocessing.image_dataset import ImageBatches, image_dataset_from_directory
from corelib.preprocessing.timeseries import TimeseriesBatches, timeseries_dataset_from_array

__all__ = ["sequence", "image", "image_dataset_from_directory", "timeseries_dataset_from_array", "split_dataset",
           "ImageBatches", "TimeseriesBatches"]
