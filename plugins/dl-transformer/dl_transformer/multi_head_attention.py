"""MultiHeadAttention: scaled dot-product attention over several heads (Keras's arguments)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corelib import ConfigError, Layer, ShapeError, config
from corelib.layers.symbolic import is_symbolic
from corelib.layers.weight_options import set_weight_options, weight_options_config
from corelib.validation import positive_int
from dl_transformer import _attention as _att
from dl_transformer._call import CallOptions, bind_inputs, check_training, fold_token_masks, keep_mask

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(Layer):
    """Multi-head attention as in "Attention Is All You Need" and `keras.layers.MultiHeadAttention`.

    Called as in Keras, ``mha(query, value, key=None, query_mask=None,
    value_mask=None, key_mask=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``, on
    arrays or on the symbolic tensors of `corelib.Input` (key defaults to
    value); or on one tensor for self-attention (query, key and value all that
    tensor — which is how it works inside a `Sequential`); or on a list
    ``[query, value]``, ``[query, value, key]`` or ``[query, value, key,
    attention_mask]``, the form `forward` takes.
    Each head projects query and key to `key_dim` and value to `value_dim`
    features, takes ``softmax(q k^T / sqrt(key_dim)) v``, and the heads'
    results are concatenated and projected to `output_shape` features.
    Projections run through the core's dense kernel; the per-head products
    through BLAS (`numpy.matmul` on stacked views); softmax through the core's
    activation kernel.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (`key_dim` when None).
        dropout: dropout rate on the attention probabilities (training only).
        use_bias: whether the projections add biases.
        output_shape: features of the output (an int or a 1-tuple); the query's
            features when None.
        attention_axes: only None (attend over every axis between the batch and
            the features, jointly) is supported.
        kernel_initializer: initializer of the projection kernels ("glorot_uniform").
        bias_initializer: initializer of the biases ("zeros").
        kernel_regularizer: penalty on the kernels, or None.
        bias_regularizer: penalty on the biases, or None.
        **kwargs: name, input_shape, dtype, trainable (see `corelib.Layer`).

    Call arguments:
        query, value, key: the tensors (see Input shape).
        attention_mask: (batch_size, Tq..., Tv...), nonzero where a query
            position may attend to a key position; a constant (no gradient
            flows into it). In a functional model, a float `Input`.
        query_mask, value_mask, key_mask: (batch_size, Tq...) and
            (batch_size, Tv...) token masks, folded into attention_mask as
            Keras does (arrays only).
        use_causal_mask: each query position attends only to key positions
            at or before it (positions counted over the flattened steps).
        return_attention_scores: also return the attention probabilities,
            (batch_size, num_heads, Tq..., Tv...), before dropout.
        training: True or False (None: False); anything else is refused.
        A symbolic call fixes use_causal_mask and return_attention_scores for
        the layer (they are saved with it as "call_options" in its config).

    Input shape:
        query (batch_size, Tq..., query_dim); value (batch_size, Tv...,
        value_dim); key (batch_size, Tv..., key_dim). Rank 3 or more.

    Output shape:
        (batch_size, Tq..., output_shape or query_dim); with
        return_attention_scores, a pair (output, scores).

    Weights (Keras's order): query_kernel (query_dim, num_heads, key_dim),
    query_bias (num_heads, key_dim), key_kernel, key_bias, value_kernel
    (value_dim_in, num_heads, value_dim), value_bias, output_kernel
    (num_heads, value_dim, output_dim), output_bias (output_dim,).
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple | list | None = None,
        attention_axes: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"MultiHeadAttention '{self.name}'"
        self.num_heads = positive_int(num_heads, "num_heads", where)
        self.key_dim = positive_int(key_dim, "key_dim", where)
        self.value_dim = self.key_dim if value_dim is None else positive_int(value_dim, "value_dim", where)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"MultiHeadAttention '{self.name}': dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (list, tuple)):
            if len(output_shape) != 1:
                raise ConfigError(f"MultiHeadAttention '{self.name}': output_shape must be an int or a 1-tuple "
                                  f"(features only). Received: output_shape={output_shape!r}")
            output_shape = output_shape[0]
        self.output_dim = None if output_shape is None else positive_int(output_shape, "output_shape", where)
        if attention_axes is not None:
            raise ConfigError(f"MultiHeadAttention '{self.name}': only attention_axes=None (attend over every axis "
                              f"between batch and features) is supported. Received: attention_axes={attention_axes!r}")
        set_weight_options(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                           kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
        self._projections: dict[str, tuple] = {}
        self._call_options: CallOptions | None = None  # set by from_config or the first symbolic call
        self._options_fixed = False  # whether a symbolic call has used them

    # -- calling --------------------------------------------------------------------------

    def __call__(self, query: Any, value: Any = None, key: Any = None, query_mask: Any = None,
                 value_mask: Any = None, key_mask: Any = None, attention_mask: Any = None,
                 return_attention_scores: bool = False, training: bool | None = None,
                 use_causal_mask: bool = False) -> Any:
        """Attend `query` to `value` (keyed by `key`, value by default), with Keras's arguments.

        See the class docstring for the arguments. Returns the output, or
        (output, scores) with return_attention_scores.
        """
        where = f"MultiHeadAttention '{self.name}'"
        training = check_training(training, where)
        options = CallOptions.from_config({"use_causal_mask": use_causal_mask,
                                           "return_attention_scores": return_attention_scores}, where)
        mask = fold_token_masks(where, attention_mask, query_mask, value_mask, key_mask, query, value)
        inputs = bind_inputs(where, query, value, key, mask)
        if is_symbolic(inputs):
            if not self._options_fixed and self._call_options is not None and options == CallOptions():
                options = self._call_options  # a layer rebuilt from its config keeps its options
            if self._call_options not in (None, options):
                raise ConfigError(f"{where} was called on symbolic tensors with {self._call_options.config()}; "
                                  f"every call in a graph must use the same options. Received: {options.config()}")
            self._call_options, self._options_fixed = options, True
            out = super().__call__(inputs)
            return tuple(out) if options.return_attention_scores else out
        if isinstance(inputs, list):
            xs: Any = [np.asarray(a).astype(self.dtype, copy=False) for a in inputs]
            self.ensure_built([(None,) + a.shape[1:] for a in xs])
        else:
            xs = np.asarray(inputs).astype(self.dtype, copy=False)
            self.ensure_built((None,) + xs.shape[1:])
        y, _ = self._attend(xs, training, options)
        return (np.array(y[0]), np.array(y[1])) if options.return_attention_scores else np.array(y)

    # -- shapes -------------------------------------------------------------------------

    def _split(self, shapes: Any) -> tuple[tuple, tuple, tuple, tuple | None]:
        """(query, value, key, attention mask or None) shapes from one shape or a list of 2 to 4."""
        if isinstance(shapes, list) or (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], (tuple, list))):
            shapes = [tuple(s) for s in shapes]
            if len(shapes) not in (2, 3, 4):
                raise ShapeError(f"MultiHeadAttention '{self.name}' takes [query, value], [query, value, key] or "
                                 f"[query, value, key, attention_mask]; received {len(shapes)} inputs")
            query, value = shapes[0], shapes[1]
            key = shapes[2] if len(shapes) >= 3 else value
            return query, value, key, shapes[3] if len(shapes) == 4 else None
        shape = tuple(shapes)
        return shape, shape, shape, None

    def ensure_built(self, input_shape: Any) -> Any:
        """Build for (query, value, key), however the call gave them, and check the attention
        mask's shape; the output shape, or [output, scores] shapes with return_attention_scores."""
        query, value, key, mask = self._split(input_shape)
        if mask is not None and tuple(mask[1:]) != tuple(query[1:-1]) + tuple(value[1:-1]):
            raise ShapeError(f"MultiHeadAttention '{self.name}' expects attention_mask of shape (batch, "
                             f"{', '.join(map(str, query[1:-1] + value[1:-1]))}); received shape {mask}")
        single = not isinstance(input_shape, list) and not (input_shape and isinstance(input_shape[0], (tuple, list)))
        if single and not (self.built and isinstance(self.input_shape, list)):
            out = super().ensure_built(query)
        else:  # one tensor for a layer built on several is self-attention: the same shape three times
            out = super().ensure_built([query, value, key])
        if self._call_options is not None and self._call_options.return_attention_scores:
            return [out, (None, self.num_heads, *query[1:-1], *value[1:-1])]
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        query, value, key, _ = self._split(input_shape)
        for label, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) < 3 or shape[-1] is None:
                raise ShapeError(f"MultiHeadAttention '{self.name}' expects {label} of rank >= 3 (batch, steps..., "
                                 f"features) with known features; received shape {shape}")
        if value[1:-1] != key[1:-1] or len(value) != len(key):
            raise ShapeError(f"MultiHeadAttention '{self.name}': key and value must have the same steps; received "
                             f"value shape {value} and key shape {key}")
        if len(query) != len(value):
            raise ShapeError(f"MultiHeadAttention '{self.name}': query and value must have the same rank; received "
                             f"query shape {query} and value shape {value}")
        if self._projections:
            built = tuple(self._projections[n][0].value.shape[0] for n in ("query", "value", "key"))
            if built != (query[-1], value[-1], key[-1]):
                raise ShapeError(f"MultiHeadAttention '{self.name}' was built for (query, value, key) features "
                                 f"{built}, received {(query[-1], value[-1], key[-1])}")
        return query[:-1] + (self.output_dim or query[-1],)

    def build(self, input_shape: Any) -> None:
        query, value, key, _ = self._split(input_shape)
        out_dim = self.output_dim or int(query[-1])
        specs = (
            ("query", (int(query[-1]), self.num_heads, self.key_dim), (self.num_heads, self.key_dim)),
            ("key", (int(key[-1]), self.num_heads, self.key_dim), (self.num_heads, self.key_dim)),
            ("value", (int(value[-1]), self.num_heads, self.value_dim), (self.num_heads, self.value_dim)),
            ("output", (self.num_heads, self.value_dim, out_dim), (out_dim,)),
        )
        for label, kernel_shape, bias_shape in specs:
            kernel = self.add_weight(f"{label}_kernel", kernel_shape, self.kernel_initializer, self.kernel_regularizer)
            bias = (self.add_weight(f"{label}_bias", bias_shape, self.bias_initializer, self.bias_regularizer)
                    if self.use_bias else None)
            self._projections[label] = (kernel, bias)

    # -- computing ----------------------------------------------------------------------

    def _matrices(self, label: str) -> tuple:
        """(kernel, bias, kernel grad, bias grad) of a projection as the 2-D / 1-D views
        the dense kernel takes: (inputs, outputs); the output kernel's inputs are its
        first two axes (heads, value_dim)."""
        kernel, bias = self._projections[label]
        inputs = kernel.value.shape[0] if label != "output" else -1
        outputs = -1 if label != "output" else kernel.value.shape[-1]
        w2, dw2 = kernel.value.reshape(inputs, outputs), kernel.grad.reshape(inputs, outputs)
        if bias is None:
            return w2, None, dw2, None
        return w2, bias.value.reshape(-1), dw2, bias.grad.reshape(-1)

    def forward(self, x: Any, training: bool = False):
        """The layer in a graph: the options its symbolic call fixed (the defaults if none)."""
        return self._attend(x, training, self._call_options or CallOptions())

    def _attend(self, x: Any, training: bool, options: CallOptions):
        listed = isinstance(x, (list, tuple))
        mask = None
        if listed:
            query, value = x[0], x[1]
            key = x[2] if len(x) >= 3 else value
            mask = x[3] if len(x) == 4 else None
        else:
            query = value = key = x
        dtype = self._projections["query"][0].value.dtype
        query, value, key = (a if a.dtype == dtype else a.astype(dtype) for a in (query, value, key))
        batch, steps = query.shape[0], query.shape[1:-1]
        length, keys = math.prod(steps), math.prod(value.shape[1:-1])
        flat = {
            "query": query.reshape(batch * length, query.shape[-1]),
            "key": key.reshape(batch * keys, key.shape[-1]),
            "value": value.reshape(batch * keys, value.shape[-1]),
        }
        p = {label: self._matrices(label) for label in self._projections}
        q, k, v = (_att.project(flat[label], p[label][0], p[label][1]) for label in ("query", "key", "value"))
        heads = self.num_heads
        rng = config.rng() if training and self.dropout > 0.0 else None
        keep = keep_mask(mask, options.use_causal_mask, batch, length, keys)
        attended, cache = _att.attend(_att.heads(q, batch, length, heads), _att.heads(k, batch, keys, heads),
                                      _att.heads(v, batch, keys, heads), 1.0 / math.sqrt(self.key_dim),
                                      self.dropout, rng, keep)
        concat = attended.reshape(batch * length, heads * self.value_dim)
        y = _att.project(concat, p["output"][0], p["output"][1])
        out_shape = (batch, *steps, y.shape[-1])
        scores_shape = (batch, heads, *steps, *value.shape[1:-1])

        def backprop(dy: Any, need_input_grad: bool = True) -> Any:
            dscores = None
            if options.return_attention_scores:
                dy, dscores = dy
                dscores = np.asarray(dscores).reshape(batch, heads, length, keys)
            dy2 = dy.reshape(batch * length, -1)
            w2, _, dw2, db = p["output"]
            dconcat = _att.project_backward(concat, w2, dy2, dw2, db, True)
            dq, dk, dv = _att.attend_backward(dconcat.reshape(batch, length, heads, self.value_dim), cache, dscores)
            grads = {}
            for label, d, rows in (("query", dq, length), ("key", dk, keys), ("value", dv, keys)):
                w2, _, dw2, db = p[label]
                grads[label] = _att.project_backward(flat[label], w2, d.reshape(batch * rows, -1), dw2, db,
                                                     need_input_grad)
            if not need_input_grad:
                return None
            dquery = grads["query"].reshape(query.shape)
            dvalue = grads["value"].reshape(value.shape)
            dkey = grads["key"].reshape(key.shape)
            if not listed:
                return dquery + dvalue + dkey
            if len(x) == 2:
                return [dquery, dvalue + dkey]
            # the mask is a constant: its gradient is zero wherever it is defined
            return [dquery, dvalue, dkey] + ([np.zeros_like(mask)] if mask is not None else [])

        if options.return_attention_scores:
            return [y.reshape(out_shape), cache[3].reshape(scores_shape).copy()], backprop
        return y.reshape(out_shape), backprop

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_dim,
            "attention_axes": None,
            **weight_options_config(self),
            **({"call_options": self._call_options.config()} if self._call_options not in (None, CallOptions())
               else {}),
        }

    @classmethod
    def from_config(cls, cfg: dict) -> "MultiHeadAttention":
        cfg = dict(cfg)
        options = cfg.pop("call_options", None)
        layer = cls(**cfg)
        if options is not None:
            layer._call_options = CallOptions.from_config(options, f"MultiHeadAttention '{layer.name}'")
        return layer
