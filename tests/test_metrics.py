"""Metrics against NumPy on whole batches, streamed over several updates, with weights,
and the rules that resolve "accuracy" and the 0-1 loss."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from deepdescent import losses, metrics

N, K = 60, 7


def _data(seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, N)
    scores = rng.normal(size=(N, K))
    scores[:10] = np.round(scores[:10])  # ties, resolved like NumPy/Keras argmax
    probs01 = rng.uniform(size=(N, 1))
    y01 = rng.integers(0, 2, (N, 1)).astype(float)
    reg_true, reg_pred = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    exact_pred = np.where(rng.uniform(size=N) < 0.5, labels, (labels + 1) % K).astype(float)
    return labels, scores, probs01, y01, reg_true, reg_pred, exact_pred


def _top_k_hits(labels, scores, k):
    kth = -np.sort(-scores, axis=1)[:, min(k, K) - 1]
    return (scores[np.arange(len(labels)), labels] >= kth).astype(float)


def _table():
    labels, scores, probs01, y01, reg_true, reg_pred, exact_pred = _data()
    one_hot = np.eye(K)[labels]
    argmax_hit = (scores.argmax(1) == labels).astype(float)
    binary_hit = ((probs01 > 0.5) == y01).astype(float)[:, 0]
    binary_hit_07 = ((probs01 > 0.7) == y01).astype(float)[:, 0]
    return [
        ("accuracy", metrics.Accuracy(), labels, exact_pred, (exact_pred == labels) * 1.0),
        ("binary", metrics.BinaryAccuracy(), y01, probs01, binary_hit),
        ("binary_0.7", metrics.BinaryAccuracy(threshold=0.7), y01, probs01, binary_hit_07),
        ("categorical", metrics.CategoricalAccuracy(), one_hot, scores, argmax_hit),
        ("sparse", metrics.SparseCategoricalAccuracy(), labels, scores, argmax_hit),
        ("sparse_n_by_1", metrics.SparseCategoricalAccuracy(), labels[:, None], scores, argmax_hit),
        (
            "top5",
            metrics.TopKCategoricalAccuracy(),
            one_hot,
            scores,
            _top_k_hits(labels, scores, 5),
        ),
        (
            "top2",
            metrics.TopKCategoricalAccuracy(k=2),
            one_hot,
            scores,
            _top_k_hits(labels, scores, 2),
        ),
        (
            "sparse_top3",
            metrics.SparseTopKCategoricalAccuracy(k=3),
            labels,
            scores,
            _top_k_hits(labels, scores, 3),
        ),
        (
            "mse",
            metrics.MeanSquaredError(),
            reg_true,
            reg_pred,
            ((reg_true - reg_pred) ** 2).mean(1),
        ),
        (
            "mae",
            metrics.MeanAbsoluteError(),
            reg_true,
            reg_pred,
            np.abs(reg_true - reg_pred).mean(1),
        ),
        ("zero_one_sparse", metrics.ZeroOneLoss(), labels, scores, 1 - argmax_hit),
        ("zero_one_one_hot", metrics.ZeroOneLoss(), one_hot, scores, 1 - argmax_hit),
        ("zero_one_binary", metrics.ZeroOneLoss(), y01, probs01, 1 - binary_hit),
    ]


TABLE = _table()
IDS = [row[0] for row in TABLE]


@pytest.mark.parametrize(("case", "metric", "y_true", "y_pred", "per_sample"), TABLE, ids=IDS)
def test_streaming_equals_whole_batch_numpy(case, metric, y_true, y_pred, per_sample):
    metric = copy.deepcopy(metric)
    for chunk in np.array_split(np.arange(N), [7, 20, 21, 45]):
        metric.update_state(torch.as_tensor(y_true[chunk]), torch.as_tensor(y_pred[chunk]))
    np.testing.assert_allclose(metric.result().item(), per_sample.mean(), rtol=1e-12)


@pytest.mark.parametrize(("case", "metric", "y_true", "y_pred", "per_sample"), TABLE, ids=IDS)
def test_sample_weights_give_the_weighted_mean(case, metric, y_true, y_pred, per_sample):
    weights = np.random.default_rng(1).uniform(0.0, 3.0, N)
    metric = copy.deepcopy(metric)
    for chunk in np.array_split(np.arange(N), 3):
        metric.update_state(
            torch.as_tensor(y_true[chunk]),
            torch.as_tensor(y_pred[chunk]),
            sample_weight=torch.as_tensor(weights[chunk]),
        )
    expected = (weights * per_sample).sum() / weights.sum()
    np.testing.assert_allclose(metric.result().item(), expected, rtol=1e-12)


@pytest.mark.parametrize(("case", "metric", "y_true", "y_pred", "per_sample"), TABLE, ids=IDS)
def test_reset_clears_and_config_round_trips(case, metric, y_true, y_pred, per_sample):
    metric = copy.deepcopy(metric)
    metric.update_state(torch.as_tensor(y_true[:5]), torch.as_tensor(y_pred[:5]))
    metric.reset_state()
    assert metric.result().item() == 0.0
    metric.update_state(torch.as_tensor(y_true[5:9]), torch.as_tensor(y_pred[5:9]))
    np.testing.assert_allclose(metric.result().item(), per_sample[5:9].mean(), rtol=1e-12)
    rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()


def test_top_k_counts_ties_with_the_kth_score_as_hits():
    scores = torch.tensor([[0.5, 0.5, 0.1], [0.1, 0.5, 0.5]])
    labels = torch.tensor([1, 2])
    np.testing.assert_allclose(metrics.sparse_top_k_categorical_accuracy(labels, scores, k=1), 1)


def test_mean_tracks_the_trainers_batch_losses():
    batch_means, sizes = [0.9, 0.5, 0.25], [32, 32, 7]
    tracker = metrics.Mean(name="loss")
    assert tracker.result().item() == 0.0
    for value, size in zip(batch_means, sizes, strict=True):
        tracker.update_state(torch.tensor(value, dtype=torch.float64), sample_weight=size)
    expected = np.dot(batch_means, sizes) / sum(sizes)
    np.testing.assert_allclose(tracker.result().item(), expected, rtol=1e-12)
    assert tracker.name == "loss"


def test_states_do_not_hold_the_autograd_graph():
    z = torch.randn(4, 3, requires_grad=True)
    metric = metrics.MeanSquaredError()
    metric.update_state(torch.zeros(4, 3), z * 2)
    assert not metric.total.requires_grad and not metric.result().requires_grad


def test_mean_averages_higher_rank_values_per_sample():
    values = np.random.default_rng(2).normal(size=(5, 3, 2))
    weights = np.array([1.0, 0.0, 2.0, 1.0, 3.0])
    mean = metrics.Mean()
    mean.update_state(torch.tensor(values), sample_weight=torch.tensor(weights))
    per_sample = values.mean(axis=(1, 2))
    np.testing.assert_allclose(mean.result().item(), (weights * per_sample).sum() / weights.sum())
    mean.reset_state()
    mean.update_state(torch.tensor(values))
    np.testing.assert_allclose(mean.result().item(), values.mean())


@pytest.mark.parametrize(
    ("dtype", "state_dtype"),
    [
        (torch.float64, torch.float64),
        (torch.float32, torch.float32),
        (torch.float16, torch.float32),
    ],
)
def test_states_follow_the_inputs_dtype(dtype, state_dtype):
    metric = metrics.CategoricalAccuracy()
    metric.update_state(torch.eye(3, dtype=dtype), torch.eye(3, dtype=dtype))
    assert metric.total.dtype == state_dtype and metric.result().dtype == state_dtype
    assert metric.result().item() == 1.0


def test_update_state_stays_on_the_device_without_host_reads():
    """On the meta device every .item()/float()/bool() raises, so this proves no sync."""
    meta = torch.device("meta")
    y, p = torch.zeros(8, K, device=meta), torch.zeros(8, K, device=meta)
    labels = torch.zeros(8, dtype=torch.long, device=meta)
    for _, shared, y_true, _, _ in TABLE:
        metric = copy.deepcopy(shared)
        sparse = isinstance(metric, metrics.SparseCategoricalAccuracy | metrics.Accuracy)
        target = labels if sparse or y_true.ndim == 1 else y
        prediction = p if not isinstance(metric, metrics.Accuracy) else labels.double()
        metric.update_state(target, prediction, sample_weight=torch.ones(8, device=meta))
        metric.update_state(target, prediction)
        assert metric.total.device == meta and metric.result().device == meta
    tracker = metrics.Mean()
    tracker.update_state(torch.zeros((), device=meta), sample_weight=32)
    assert tracker.count.device == meta


# ------------------------------------------------------------- resolution of names

ACCURACY_RESOLUTION = [
    ({"loss": "binary_crossentropy"}, metrics.BinaryAccuracy),
    ({"loss": losses.BinaryCrossentropy(from_logits=True)}, metrics.BinaryAccuracy),
    ({"loss": "sparse_categorical_crossentropy"}, metrics.SparseCategoricalAccuracy),
    ({"loss": "categorical_crossentropy"}, metrics.CategoricalAccuracy),
    ({"loss": "mse", "output_shape": (None, 1)}, metrics.BinaryAccuracy),
    (
        {"loss": None, "y_true_shape": (100,), "output_shape": (100, 10)},
        metrics.SparseCategoricalAccuracy,
    ),
    ({"y_true_shape": (100, 1), "output_shape": (100, 10)}, metrics.SparseCategoricalAccuracy),
    ({"y_true_shape": (100, 10), "output_shape": (100, 10)}, metrics.CategoricalAccuracy),
    ({"loss": "mse"}, metrics.CategoricalAccuracy),
    ({}, metrics.CategoricalAccuracy),
]


@pytest.mark.parametrize(("context", "cls"), ACCURACY_RESOLUTION)
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolves_like_keras_compile_and_keeps_the_name(context, cls, name):
    metric = metrics.get(name, **context)
    assert type(metric) is cls and metric.name == name


@pytest.mark.parametrize(
    ("loss", "kind"),
    [
        ("binary_crossentropy", "binary"),
        ("sparse_categorical_crossentropy", "sparse_categorical"),
        ("categorical_crossentropy", "categorical"),
        (None, "auto"),
    ],
)
@pytest.mark.parametrize("name", ["zero_one_loss", "error_rate"])
def test_zero_one_loss_resolves_with_the_loss(loss, kind, name):
    metric = metrics.get(name, loss=loss)
    assert type(metric) is metrics.ZeroOneLoss and metric.name == name
    assert metric.fn_kwargs["kind"] == kind


def test_zero_one_loss_is_one_minus_accuracy():
    labels, scores, *_ = _data(3)
    accuracy, error = (
        metrics.get("accuracy", "sparse_categorical_crossentropy"),
        metrics.get("error_rate", "sparse_categorical_crossentropy"),
    )
    accuracy.update_state(torch.tensor(labels), torch.tensor(scores))
    error.update_state(torch.tensor(labels), torch.tensor(scores))
    np.testing.assert_allclose(error.result().item(), 1 - accuracy.result().item(), rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("mse", metrics.MeanSquaredError),
        ("mean_squared_error", metrics.MeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("categorical_accuracy", metrics.CategoricalAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
    ],
)
def test_get_keeps_the_users_name(name, cls):
    metric = metrics.get(name)
    assert type(metric) is cls and metric.name == name


def test_get_other_identifiers_and_errors():
    metric = metrics.Mean()
    assert metrics.get(metric) is metric
    wrapped = metrics.get(losses.mean_absolute_error)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "mean_absolute_error"
    spec = metrics.serialize(metrics.TopKCategoricalAccuracy(k=3, name="top3"))
    rebuilt = metrics.get(spec)
    assert rebuilt.name == "top3" and rebuilt.fn_kwargs == {"k": 3}
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'.*Valid names:.*accuracy"):
        metrics.get("acuracy")
    with pytest.raises(TypeError, match="metric must be"):
        metrics.get(42)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="kind must be"):
        metrics.ZeroOneLoss(kind="multilabel")
    with pytest.raises(ValueError, match="cannot be saved"):
        metrics.serialize(metrics.MeanMetricWrapper(lambda y, p: y - p, name="diff"))


# ------------------------------------------------- confusion-count metrics (Keras's)


def _keras_counts(y_true, y_pred, weight, thresholds):
    """NumPy transcription of Keras's confusion counts: a decision per entry, positive when
    y_pred > t; targets positive when nonzero; weights broadcast to y_pred."""
    positive = (y_true != 0).astype(float)
    above = (y_pred.reshape(1, -1) > np.asarray(thresholds).reshape(-1, 1)).astype(float)
    hits, misses = (positive * weight).reshape(1, -1), ((1 - positive) * weight).reshape(1, -1)
    return (
        (above * hits).sum(1),
        (above * misses).sum(1),
        ((1 - above) * hits).sum(1),
        ((1 - above) * misses).sum(1),
    )


def _confusion_batches(seed=3):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, (40, 3)).astype(float)
    # Scores that lean towards the label, so the ratios are far from 0 and 1.
    y_pred = np.clip(0.35 * y_true + rng.uniform(0, 0.65, (40, 3)), 0, 1)
    weight = rng.uniform(0.5, 2.0, (40, 1))
    return y_true, y_pred, weight


@pytest.mark.parametrize("thresholds", [None, 0.3, [0.2, 0.5, 0.8]])
def test_precision_and_recall_streamed_with_weights_match_keras_counts(thresholds):
    y_true, y_pred, weight = _confusion_batches()
    ts = [0.5] if thresholds is None else np.atleast_1d(thresholds)
    tp, fp, fn, _ = _keras_counts(y_true, y_pred, np.broadcast_to(weight, y_pred.shape), ts)
    precision, recall = metrics.Precision(thresholds), metrics.Recall(thresholds)
    for metric in (precision, recall):
        for part in (slice(0, 15), slice(15, 40)):
            metric.update_state(y_true[part], y_pred[part], sample_weight=weight[part])
    expected_p, expected_r = tp / (tp + fp), tp / (tp + fn)
    if not isinstance(thresholds, list):
        expected_p, expected_r = expected_p[0], expected_r[0]
    np.testing.assert_allclose(precision.result().numpy(), expected_p, rtol=1e-12)
    np.testing.assert_allclose(recall.result().numpy(), expected_r, rtol=1e-12)
    precision.reset_state()
    assert float(np.atleast_1d(precision.result().numpy())[0]) == 0.0  # 0/0 reads 0


def _rank_auc(y_true, scores):
    """The exact ROC AUC: the probability that a positive outscores a negative (ties ½)."""
    pos, neg = scores[y_true == 1], scores[y_true == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auc_is_keras_trapezoid_over_its_thresholds_and_near_the_exact_auc():
    y_true, y_pred, _ = _confusion_batches(seed=5)
    n = 200
    thresholds = [-1e-7, *[(i + 1) / (n - 1) for i in range(n - 2)], 1 + 1e-7]
    tp, fp, fn, tn = _keras_counts(y_true, y_pred, np.ones_like(y_pred), thresholds)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    keras_auc = np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    auc = metrics.AUC()
    auc.update_state(y_true[:20], y_pred[:20])
    auc.update_state(y_true[20:], y_pred[20:])
    np.testing.assert_allclose(float(auc.result()), keras_auc, rtol=1e-12)
    assert abs(keras_auc - _rank_auc(y_true.ravel(), y_pred.ravel())) < 0.01
    logits = metrics.AUC(from_logits=True)
    logits.update_state(y_true, np.log(y_pred + 1e-9) - np.log1p(-y_pred + 1e-9))
    assert abs(float(logits.result()) - keras_auc) < 1e-3


def _ratio(numerator, denominator):
    """Keras's divide_no_nan: 0 where the denominator is 0."""
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _keras_auc(tp, fp, fn, tn, curve, summation):
    """NumPy transcription of Keras 3's AUC.result() (keras/src/metrics/
    confusion_metrics.py): Davis & Goadrich's closed form for PR with interpolation,
    otherwise a Riemann sum of the curve's points with the chosen heights."""
    if curve == "PR" and summation == "interpolation":
        p = tp + fp
        dtp, dp = tp[:-1] - tp[1:], p[:-1] - p[1:]
        slope = _ratio(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        p_ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return np.sum(
            _ratio(slope * (dtp + intercept * np.log(p_ratio)), np.maximum(tp[1:] + fn[1:], 0))
        )
    recall = _ratio(tp, tp + fn)
    if curve == "ROC":
        x, y = _ratio(fp, fp + tn), recall
    elif curve == "PR":
        x, y = recall, _ratio(tp, tp + fp)
    else:
        scale = _ratio(tp + fn, tn + fp)
        x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * _ratio(fn, tp)), 0.0)
        y = np.where(tp == 0, 1.0, 1.0 - scale * _ratio(fp, tp))
    heights = {
        "interpolation": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[summation]
    return np.sum((x[:-1] - x[1:]) * heights)


@pytest.mark.parametrize("curve", ["ROC", "PR", "PRGAIN"])
@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
def test_auc_curves_and_summations_match_keras(curve, summation):
    y_true, y_pred, weight = _confusion_batches(seed=7)
    n = 50
    thresholds = [-1e-7, *[(i + 1) / (n - 1) for i in range(n - 2)], 1 + 1e-7]
    counts = _keras_counts(y_true, y_pred, np.broadcast_to(weight, y_pred.shape), thresholds)
    auc = metrics.AUC(num_thresholds=n, curve=curve, summation_method=summation)
    auc.update_state(y_true[:25], y_pred[:25], sample_weight=weight[:25])
    auc.update_state(y_true[25:], y_pred[25:], sample_weight=weight[25:])
    np.testing.assert_allclose(
        float(auc.result()), _keras_auc(*counts, curve, summation), rtol=1e-12
    )


def test_auc_bounds_and_a_perfect_ranking():
    y_true, y_pred, _ = _confusion_batches(seed=9)
    low, mid, high = (
        float(_fill(metrics.AUC(curve="PR", summation_method=s), y_true, y_pred).result())
        for s in ("minoring", "interpolation", "majoring")
    )
    assert low <= mid <= high and high - low > 1e-3
    separated = np.where(y_true == 1, 0.9, 0.1)
    for curve in ("ROC", "PR"):
        perfect = _fill(metrics.AUC(curve=curve), y_true, separated)
        np.testing.assert_allclose(float(perfect.result()), 1.0, rtol=1e-9)


def test_auc_at_given_thresholds_counts_at_those_and_the_two_ends():
    y_true, y_pred, _ = _confusion_batches(seed=11)
    given = [0.7, 0.2, 0.45]
    auc = _fill(metrics.AUC(thresholds=given), y_true, y_pred)
    ends = [-1e-7, 0.2, 0.45, 0.7, 1 + 1e-7]
    counts = _keras_counts(y_true, y_pred, np.ones_like(y_pred), ends)
    np.testing.assert_allclose(
        float(auc.result()), _keras_auc(*counts, "ROC", "interpolation"), rtol=1e-12
    )


def _fill(metric, y_true, y_pred):
    metric.update_state(y_true, y_pred)
    return metric


def test_confusion_metrics_by_name_config_and_refusals():
    for name, cls in (
        ("precision", metrics.Precision),
        ("recall", metrics.Recall),
        ("auc", metrics.AUC),
    ):
        metric = metrics.get(name)
        assert isinstance(metric, cls) and metric.name == name
        rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
        assert type(rebuilt) is cls and rebuilt.get_config() == metric.get_config()
    with pytest.raises(ValueError, match="thresholds"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="summation_method"):
        metrics.AUC(summation_method="simpson")
    configured = metrics.AUC(curve="PR", summation_method="majoring", thresholds=[0.3, 0.6])
    rebuilt = metrics.deserialize(json.loads(json.dumps(metrics.serialize(configured))))
    assert rebuilt.get_config() == configured.get_config()
    assert rebuilt.thresholds.tolist() == configured.thresholds.tolist()
