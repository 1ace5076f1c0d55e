"""AUC, Precision, Recall, F1Score, FBetaScore and R2Score (issue 13) against scikit-learn,
over several update_state batches and with sample weights; their state, configs, names
and use in compile / fit / checkpoints."""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from corelib import layers, metrics, models
from corelib.errors import ConfigError, ShapeError

_WORKER = """
import pickle, sys
import sklearn.metrics
while True:
    try:
        name, args, kwargs = pickle.load(sys.stdin.buffer)
    except EOFError:
        break
    try:
        reply = (True, getattr(sklearn.metrics, name)(*args, **kwargs))
    except Exception as exc:
        reply = (False, exc)
    pickle.dump(reply, sys.stdout.buffer)
    sys.stdout.buffer.flush()
"""


class _SklearnMetrics:
    """scikit-learn's metric functions, run in a child process.

    Importing sklearn.metrics imports colorsys (through rich), one of the modules
    tests/test_model_file_safety.py checks that loading a crafted file never imports:
    imported here, that check would pass without meaning anything."""

    def __init__(self) -> None:
        self._child = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE)

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            pickle.dump((name, args, kwargs), self._child.stdin)
            self._child.stdin.flush()
            ok, value = pickle.load(self._child.stdout)
            if not ok:
                raise value
            return value

        return call

    def close(self) -> None:
        self._child.stdin.close()
        self._child.wait(timeout=60)


@pytest.fixture(scope="module")
def skm():
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    oracle = _SklearnMetrics()
    yield oracle
    oracle.close()

RNG = np.random.default_rng(42)


def _fed(metric, y_true, y_pred, sample_weight=None, batches=3):
    """`metric` after update_state on `batches` consecutive slices of the data."""
    metric.reset_state()
    for part in np.array_split(np.arange(len(y_pred)), batches):
        w = None if sample_weight is None else sample_weight[part]
        metric.update_state(y_true[part], y_pred[part], sample_weight=w)
    return metric


def _binary_data(n=400, columns=None, grid=None):
    """Labels and scores that predict them; with `grid`, scores sit mid-way between the
    thresholds i / grid (so that buckets separate distinct scores, and tied scores stay tied)."""
    shape = (n,) if columns is None else (n, columns)
    y = RNG.integers(0, 2, shape)
    score = np.clip(0.5 + 0.25 * (2 * y - 1) + 0.3 * RNG.standard_normal(shape), 0.0, 1.0)
    if grid is not None:
        score = (np.minimum(np.floor(score * grid), grid - 1) + 0.5) / grid
    return y, score


WEIGHTS = RNG.uniform(0.2, 2.0, 400)


# -- AUC ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_roc_auc_equals_sklearn(weighted, skm):
    # scores on the bucket grid: Keras's trapezoids over thresholds are then exactly the ROC area
    y, score = _binary_data(grid=50)
    w = WEIGHTS if weighted else None
    auc = _fed(metrics.AUC(num_thresholds=51), y, score, w)
    assert auc.result() == pytest.approx(skm.roc_auc_score(y, score, sample_weight=w), abs=1e-12)


def test_roc_auc_of_spread_scores_approaches_sklearn_with_many_thresholds(skm):
    y, score = _binary_data()
    exact = skm.roc_auc_score(y, score)
    coarse = _fed(metrics.AUC(), y, score).result()
    fine = _fed(metrics.AUC(num_thresholds=20001), y, score).result()
    assert abs(coarse - exact) < 5e-3 and abs(fine - exact) < 1e-4


@pytest.mark.parametrize("weighted", [False, True])
def test_pr_auc_approaches_average_precision(weighted, skm):
    # Keras interpolates TP and FP linearly between thresholds (Davis & Goadrich), scikit-learn's
    # average precision is a step sum: the two agree to O(1/N) when the thresholds separate the
    # scores; here, 4000 samples: within 2e-3.
    y = RNG.integers(0, 2, 4000)
    score = np.clip(0.5 + 0.2 * (2 * y - 1) + 0.3 * RNG.standard_normal(4000), 0.0, 1.0)
    w = RNG.uniform(0.5, 1.5, 4000) if weighted else None
    auc = _fed(metrics.AUC(num_thresholds=10001, curve="PR"), y, score, w, batches=4)
    assert auc.result() == pytest.approx(skm.average_precision_score(y, score, sample_weight=w), abs=2e-3)


def _brute_force_auc(y, score, w, thresholds, curve, method):
    """An independent transcription of Keras's Riemann sums from counts at each threshold."""
    tp, fp, tn, fn = (np.array([np.sum(w * ((score > t) == p) * ((y != 0) == a)) for t in thresholds])
                      for p, a in ((1, 1), (1, 0), (0, 0), (0, 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(tp / (tp + fn))
        x, h = (np.nan_to_num(fp / (fp + tn)), recall) if curve == "ROC" else (recall, np.nan_to_num(tp / (tp + fp)))
    pick = {"interpolation": lambda a, b: (a + b) / 2, "minoring": np.minimum, "majoring": np.maximum}[method]
    return float(np.sum((x[:-1] - x[1:]) * pick(h[:-1], h[1:])))


@pytest.mark.parametrize("curve, method", [("ROC", "minoring"), ("ROC", "majoring"), ("PR", "minoring"),
                                           ("PR", "majoring"), ("roc", "interpolation")])
def test_summation_methods(curve, method):
    y, score = _binary_data(200)
    w = WEIGHTS[:200]
    auc = _fed(metrics.AUC(num_thresholds=13, curve=curve, summation_method=method), y, score, w)
    want = _brute_force_auc(y, score, w, auc.thresholds, curve.upper(), method)
    assert auc.result() == pytest.approx(want, rel=1e-12)


def test_minoring_and_majoring_bracket_the_roc_area(skm):
    y, score = _binary_data()
    low = _fed(metrics.AUC(num_thresholds=30, summation_method="minoring"), y, score).result()
    high = _fed(metrics.AUC(num_thresholds=30, summation_method="majoring"), y, score).result()
    assert low < skm.roc_auc_score(y, score) < high


def test_multi_label_auc_averages_the_labels(skm):
    y, score = _binary_data(300, columns=3, grid=40)
    per_label = np.array([skm.roc_auc_score(y[:, j], score[:, j]) for j in range(3)])
    auc = _fed(metrics.AUC(num_thresholds=41, multi_label=True), y, score)
    assert auc.result() == pytest.approx(per_label.mean(), abs=1e-12)
    assert auc.true_positives.shape == (41, 3)
    label_weights = [0.2, 1.0, 3.0]
    weighted = _fed(metrics.AUC(num_thresholds=41, multi_label=True, num_labels=3, label_weights=label_weights),
                    y, score)
    assert weighted.result() == pytest.approx(np.dot(per_label, label_weights) / 4.2, abs=1e-12)
    # without multi_label, all entries are one binary problem (the label weights weigh them)
    flat = _fed(metrics.AUC(num_thresholds=41, label_weights=label_weights), y, score)
    entry_weights = np.broadcast_to(np.asarray(label_weights), y.shape).ravel()
    assert flat.result() == pytest.approx(skm.roc_auc_score(y.ravel(), score.ravel(), sample_weight=entry_weights),
                                          abs=1e-12)


def test_auc_from_logits_thresholds_and_keras_examples():
    # keras.metrics.AUC docstring
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)
    y, score = _binary_data(grid=20)
    logits = np.log(score / (1 - score))
    plain = _fed(metrics.AUC(num_thresholds=21), y, score).result()
    assert _fed(metrics.AUC(num_thresholds=21, from_logits=True), y, logits).result() == pytest.approx(plain, abs=1e-12)
    given = metrics.AUC(thresholds=[0.8, 0.2, 0.5])
    assert given.num_thresholds == 5 and given.thresholds == pytest.approx([-1e-7, 0.2, 0.5, 0.8, 1 + 1e-7])
    assert given.get_config()["thresholds"] == pytest.approx([0.2, 0.5, 0.8])
    even = metrics.AUC(thresholds=[0.25, 0.5, 0.75])
    assert _fed(even, y, score).result() == pytest.approx(_fed(metrics.AUC(num_thresholds=5), y, score).result())


def test_auc_state_round_trips_and_adds_up():
    y, score = _binary_data(300, columns=2)
    for make in (lambda: metrics.AUC(curve="PR"), lambda: metrics.AUC(multi_label=True)):
        whole = _fed(make(), y, score, WEIGHTS[:300], batches=1)
        first, second = make(), make()
        first.update_state(y[:100], score[:100], WEIGHTS[:100])
        second.update_state(y[100:], score[100:], WEIGHTS[100:300])
        state = json.loads(json.dumps(first.get_state()))
        resumed = make()
        resumed.set_state(state)
        resumed.update_state(y[100:], score[100:], WEIGHTS[100:300])
        assert resumed.result() == pytest.approx(whole.result(), rel=1e-12)
        summed = {k: (np.array(v) + np.array(second.get_state()[k])).tolist() for k, v in state.items()}
        added = make()
        added.set_state(summed)
        assert added.result() == pytest.approx(whole.result(), rel=1e-12)
    assert metrics.AUC().additive_state and not metrics.AUC(multi_label=True).additive_state


@pytest.mark.parametrize("kwargs, message", [
    ({"num_thresholds": 1}, "num_thresholds must be an int > 1"),
    ({"curve": "PRC"}, "curve must be one of"),
    ({"summation_method": "midpoint"}, "summation_method must be one of"),
    ({"thresholds": [0.5, 1.5]}, r"thresholds must be a float or a list of floats in \[0, 1\]"),
    ({"num_labels": 3}, "num_labels is needed only when multi_label is True"),
    ({"label_weights": [1.0, -1.0]}, "label_weights must be non-negative"),
])
def test_auc_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        metrics.AUC(**kwargs)


def test_auc_shape_errors():
    with pytest.raises(ShapeError, match="rank 2"):
        metrics.AUC(multi_label=True).update_state(np.zeros(4), np.zeros(4))
    with pytest.raises(ShapeError, match="shape of y_pred"):
        metrics.AUC().update_state(np.zeros(3), np.zeros(4))
    m = metrics.AUC(multi_label=True)
    m.update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="counts 3 labels"):
        m.update_state(np.zeros((2, 2)), np.zeros((2, 2)))


# -- Precision and Recall ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, oracle", [("Precision", "precision_score"), ("Recall", "recall_score")])
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_and_recall_equal_sklearn(cls, oracle, weighted, skm):
    y, score = _binary_data(400, columns=3)
    w = WEIGHTS if weighted else None
    entry_w = None if w is None else np.repeat(w, 3)
    m = _fed(metrics.get(cls), y, score, w)
    assert m.result() == pytest.approx(getattr(skm, oracle)(y.ravel(), score.ravel() > 0.5, sample_weight=entry_w),
                                       abs=1e-12)
    several = _fed(metrics.get({"class_name": cls, "config": {"thresholds": [0.3, 0.7]}}), y, score, w)
    want = [getattr(skm, oracle)(y.ravel(), score.ravel() > t, sample_weight=entry_w) for t in (0.3, 0.7)]
    np.testing.assert_allclose(several.result(), want, atol=1e-12)
    single = _fed(metrics.get({"class_name": cls, "config": {"class_id": 1}}), y, score, w)
    assert single.result() == pytest.approx(getattr(skm, oracle)(y[:, 1], score[:, 1] > 0.5, sample_weight=w),
                                            abs=1e-12)


def test_top_k_keeps_the_k_highest_predictions(skm):
    labels = RNG.integers(0, 5, 300)
    y = np.eye(5)[labels]
    score = RNG.dirichlet(np.ones(5), 300)
    top2 = np.argsort(-score, axis=1)[:, :2]
    predicted = np.zeros_like(y)
    np.put_along_axis(predicted, top2, 1.0, axis=1)
    precision = _fed(metrics.Precision(top_k=2), y, score, WEIGHTS[:300])
    recall = _fed(metrics.Recall(top_k=2), y, score, WEIGHTS[:300])
    w = np.repeat(WEIGHTS[:300], 5)
    assert precision.result() == pytest.approx(skm.precision_score(y.ravel(), predicted.ravel(), sample_weight=w))
    assert recall.result() == pytest.approx(skm.recall_score(y.ravel(), predicted.ravel(), sample_weight=w))
    # class_id with top_k: the class counts as predicted only when it is among the top k
    one = _fed(metrics.Precision(top_k=2, class_id=3), y, score)
    assert one.result() == pytest.approx(skm.precision_score(y[:, 3], predicted[:, 3]))


def test_precision_recall_keras_examples():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0
    for k, want in ((2, 0.0), (4, 0.5)):  # ties: the lower indices are the top k
        m = metrics.Precision(top_k=k)
        m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
        assert m.result() == want
    r = metrics.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert r.result() == pytest.approx(2 / 3)
    assert metrics.Recall().result() == 0.0  # nothing seen: 0, not NaN


def test_precision_recall_config_and_errors():
    m = metrics.Precision(thresholds=[0.2, 0.6], class_id=2, name="p2")
    again = metrics.deserialize(json.loads(json.dumps(metrics.serialize(m))))
    assert again.get_config() == {"name": "p2", "thresholds": [0.2, 0.6], "top_k": None, "class_id": 2}
    with pytest.raises(ConfigError, match="thresholds"):
        metrics.Recall(thresholds=2.0)
    with pytest.raises(ConfigError, match="top_k"):
        metrics.Precision(top_k=0)
    with pytest.raises(ShapeError, match="class_id=4"):
        metrics.Precision(class_id=4).update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="sample_weight"):
        metrics.Precision().update_state(np.zeros((4, 3)), np.zeros((4, 3)), sample_weight=np.ones(3))


# -- F1Score and FBetaScore --------------------------------------------------------------------------------


def _classes(n=400, c=4):
    labels = RNG.integers(0, c, n)
    score = RNG.dirichlet(np.ones(c), n) + 0.6 * np.eye(c)[labels] * RNG.random((n, 1))
    return np.eye(c)[labels], score, labels


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
def test_f_scores_equal_sklearn(average, weighted, skm):
    y, score, labels = _classes()
    w = WEIGHTS if weighted else None
    argmax = score.argmax(1)
    for beta in (1.0, 0.5, 2.0):
        m = metrics.F1Score(average=average) if beta == 1.0 else metrics.FBetaScore(average=average, beta=beta)
        got = _fed(m, y, score, w).result()
        want = skm.fbeta_score(labels, argmax, beta=beta, average=average, sample_weight=w, labels=range(4))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)  # Keras adds 1e-7 to denominators
    # multi-label with a threshold
    multi = (RNG.random((400, 4)) < 0.4).astype(float)
    probs = np.clip(0.3 * multi + 0.7 * RNG.random((400, 4)), 0, 1)
    got = _fed(metrics.F1Score(average=average, threshold=0.5), multi, probs, w).result()
    want = skm.f1_score(multi, probs > 0.5, average=average, sample_weight=w)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_f1_keras_example_and_names():
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    m = metrics.F1Score(threshold=0.5)
    m.update_state(y_true, y_pred)
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 0.6666667], rtol=1e-6)
    assert isinstance(m.result(), np.ndarray)  # average=None: one score per class, as in Keras
    assert metrics.F1Score().name == "f1_score" and metrics.FBetaScore().name == "fbeta_score"
    assert metrics.F1Score().get_config() == {"name": "f1_score", "average": None, "threshold": None}
    cfg = metrics.FBetaScore(average="weighted", beta=2.0, threshold=0.3).get_config()
    assert cfg == {"name": "fbeta_score", "average": "weighted", "beta": 2.0, "threshold": 0.3}
    assert type(metrics.get("f1_score")) is metrics.F1Score
    assert type(metrics.get("fbeta_score")) is metrics.FBetaScore


def test_f_score_state_checkpoint_and_errors():
    y, score, _ = _classes(100)
    m = metrics.F1Score(average="macro")
    assert m.get_state() == {} and m.result() == 0.0
    m.update_state(y[:50], score[:50])
    resumed = metrics.F1Score(average="macro")
    resumed.set_state(json.loads(json.dumps(m.get_state())))
    resumed.update_state(y[50:], score[50:])
    assert resumed.result() == pytest.approx(_fed(metrics.F1Score(average="macro"), y, score, batches=1).result())
    micro = metrics.F1Score(average="micro")
    micro.set_state(json.loads(json.dumps(_fed(metrics.F1Score(average="micro"), y, score).get_state())))
    micro.update_state(y, score)  # a restored micro state takes any number of classes
    with pytest.raises(ShapeError, match="was built for 4 classes"):
        resumed.update_state(y[:, :3], score[:, :3])
    with pytest.raises(ShapeError, match="2D inputs"):
        metrics.F1Score().update_state(np.zeros(3), np.zeros(3))
    with pytest.raises(ConfigError, match="average"):
        metrics.F1Score(average="samples")
    with pytest.raises(ConfigError, match="beta"):
        metrics.FBetaScore(beta=0.0)
    with pytest.raises(ConfigError, match="threshold"):
        metrics.F1Score(threshold=1.5)


# -- R2Score ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("aggregation, multioutput", [("uniform_average", "uniform_average"),
                                                      ("variance_weighted_average", "variance_weighted"),
                                                      (None, "raw_values")])
@pytest.mark.parametrize("weighted", [False, True])
def test_r2_equals_sklearn(aggregation, multioutput, weighted, skm):
    y = RNG.standard_normal((400, 3)) * [1.0, 2.0, 0.5]
    pred = y + RNG.standard_normal((400, 3)) * [0.5, 1.0, 0.4]
    w = WEIGHTS if weighted else None
    got = _fed(metrics.R2Score(class_aggregation=aggregation), y, pred, w).result()
    np.testing.assert_allclose(got, skm.r2_score(y, pred, sample_weight=w, multioutput=multioutput), rtol=1e-10)


def test_adjusted_r2_and_keras_example(skm):
    # keras.metrics.R2Score docstring
    m = metrics.R2Score()
    m.update_state(np.array([[1], [4], [3]], dtype=float), np.array([[2], [4], [4]], dtype=float))
    assert m.result() == pytest.approx(0.57142854, rel=1e-6)
    y = RNG.standard_normal(50)
    pred = y + 0.3 * RNG.standard_normal(50)
    r2 = skm.r2_score(y, pred)
    adjusted = _fed(metrics.R2Score(num_regressors=4), y, pred).result()  # 1-D: one output
    assert adjusted == pytest.approx(1 - (1 - r2) * 49 / 45, rel=1e-10)
    with pytest.warns(UserWarning, match="More independent predictors"):
        assert _fed(metrics.R2Score(num_regressors=60), y, pred).result() == pytest.approx(r2, rel=1e-10)
    with pytest.raises(ConfigError, match="class_aggregation"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ConfigError, match="num_regressors"):
        metrics.R2Score(num_regressors=-1)


def test_r2_state_round_trip(skm):
    y = RNG.standard_normal((60, 2))
    pred = y + RNG.standard_normal((60, 2))
    m = metrics.R2Score()
    m.update_state(y[:30], pred[:30])
    resumed = metrics.R2Score()
    resumed.set_state(json.loads(json.dumps(m.get_state())))
    resumed.update_state(y[30:], pred[30:])
    assert resumed.num_samples == 120
    assert resumed.result() == pytest.approx(skm.r2_score(y, pred), rel=1e-12)


# -- in models ---------------------------------------------------------------------------------------------


def _classifier():
    model = models.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    return model


def test_compile_by_keras_names_logs_keras_names(tmp_path, skm):
    x = RNG.standard_normal((64, 4))
    y = (x[:, :1] + 0.3 * RNG.standard_normal((64, 1)) > 0).astype(float)
    model = _classifier()
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["auc", "precision", "recall", metrics.AUC(curve="PR", name="pr_auc"),
                           metrics.F1Score(average="macro", threshold=0.5), "r2_score"])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.25).history
    for key in ("auc", "precision", "recall", "pr_auc", "f1_score", "r2_score"):
        assert key in history and f"val_{key}" in history and np.isfinite(history[key]).all()
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["auc"] == pytest.approx(_fed(metrics.AUC(), y, pred, batches=1).result(), rel=1e-6)
    assert logs["precision"] == pytest.approx(skm.precision_score(y, pred > 0.5), rel=1e-6)
    assert logs["recall"] == pytest.approx(skm.recall_score(y, pred > 0.5), rel=1e-6)
    path = tmp_path / "m.dl"
    model.save(path)
    loaded = models.load_model(path)
    again = loaded.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    for key in ("auc", "precision", "recall", "pr_auc", "f1_score", "r2_score"):
        assert again[key] == pytest.approx(logs[key], rel=1e-12)
    # a string logs under that string, an instance under its name ("auc"), as in Keras 3
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["AUC", metrics.AUC(), metrics.Recall()])
    assert {"AUC", "auc", "recall"} <= set(model.evaluate(x, y, verbose=0, return_dict=True))
