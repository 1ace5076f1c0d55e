"""Helpers of the ONNX export tests: export, check, run in onnxruntime, compare with dl."""

from __future__ import annotations

import numpy as np

BATCH = 7  # no model is exported with a batch size; any other size shows the batch is dynamic


def randomize(model, seed: int = 0) -> None:
    """Random weights (positive variances), so that biases, moving statistics and gates all count."""
    rng = np.random.default_rng(seed)
    for p in model.weights:
        values = rng.normal(0.0, 0.5, p.value.shape)
        if "variance" in p.name:
            values = np.abs(values) + 0.5
        p.value[...] = values


def run_onnx(path, xs):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for info, x in zip(session.get_inputs(), xs):
        feeds[info.name] = x.astype(np.int64 if "int64" in info.type else np.float32)
    return session.run(None, feeds)


def check_export(model, tmp_path, xs, tolerance: float = 1e-5, **kwargs):
    """Export `model`, check the file with onnx.checker, and compare onnxruntime's outputs on
    `xs` (a list of arrays) with `model.predict`. Returns the ONNX outputs."""
    import onnx

    path = tmp_path / f"{model.name}.onnx"
    model.export(str(path), format="onnx", **kwargs)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    got = run_onnx(path, xs)
    ref = model.predict(xs if len(xs) > 1 else xs[0], verbose=0, batch_size=len(xs[0]))
    refs = list(ref.values()) if isinstance(ref, dict) else (list(ref) if isinstance(ref, (list, tuple)) else [ref])
    assert len(got) == len(refs)
    for g, r in zip(got, refs):
        assert g.shape == r.shape
        assert np.abs(g - r).max() <= tolerance * max(1.0, float(np.abs(r).max())), np.abs(g - r).max()
    return got
