"""dl's ONNX exporters, one per built-in layer that ONNX expresses; the built-in plugin
registers them with the ``register_onnx_exporters`` hook, as a third-party plugin would."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["builtin_exporters"]


def builtin_exporters() -> list[tuple[str, Callable[..., Any]]]:
    """(registered layer name, exporter) for every built-in layer with an ONNX form."""
    from corelib.builtin.onnx_exporters import core, merge, normalization, recurrent, spatial

    table: list[tuple[str, Callable[..., Any]]] = [
        ("Dense", core.dense),
        ("PReLU", core.prelu),
        ("Flatten", core.flatten),
        ("Reshape", core.reshape),
        ("RepeatVector", core.repeat_vector),
        ("Rescaling", core.rescaling),
        ("Normalization", core.normalization),
        ("Embedding", core.embedding),
        ("Concatenate", merge.concatenate),
        ("Dot", merge.dot),
        ("Conv2DTranspose", spatial.conv_transpose),
        ("ZeroPadding2D", spatial.zero_padding),
        ("Cropping2D", spatial.cropping),
        ("UpSampling2D", spatial.upsampling),
        ("BatchNormalization", normalization.batch_normalization),
        ("LayerNormalization", normalization.layer_normalization),
        ("Bidirectional", recurrent.bidirectional),
        ("TimeDistributed", recurrent.time_distributed),
    ]
    table += [(n, core.activation) for n in ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax")]
    table += [(n, core.identity) for n in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "RandomFlip",
                                           "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast")]
    table += [(n, merge.elementwise) for n in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")]
    table += [(n, spatial.conv) for n in ("Conv1D", "Conv2D")]
    table += [(n, spatial.pooling) for n in ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")]
    table += [(n, spatial.global_pooling) for n in ("GlobalMaxPooling1D", "GlobalMaxPooling2D",
                                                    "GlobalAveragePooling1D", "GlobalAveragePooling2D")]
    table += [(n, recurrent.recurrent) for n in ("SimpleRNN", "LSTM", "GRU")]
    return table
