"""Losses against torch.nn.functional and NumPy closed forms, reductions, weights, the
logits contract used by the trainer, and the target-shape checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepdescent import losses

EPS = 1e-7
N, K = 12, 5


def _rng(seed=0):
    return np.random.default_rng(seed)


def _one_hot(labels, k=K):
    return np.eye(k)[labels]


def _probs(rng, n=N, k=K):
    p = rng.uniform(0.01, 1.0, size=(n, k))
    return p / p.sum(axis=1, keepdims=True)


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


# ------------------------------------------------------------- per-sample values


def _case_table():
    """(id, loss, y_true, y_pred, reference per-sample values) from independent formulas."""
    rng = _rng(1)
    labels = rng.integers(0, K, size=N)
    y_oh = _one_hot(labels)
    p = _probs(rng)
    p_unnormalised = p * rng.uniform(0.5, 2.0, size=(N, 1))
    z = rng.normal(scale=3.0, size=(N, K))
    y01 = rng.integers(0, 2, size=(N, 3)).astype(float)
    q = rng.uniform(0.0, 1.0, size=(N, 3))
    q[0, 0], q[1, 1] = 0.0, 1.0  # exercise the clipping
    reg_true, reg_pred = rng.normal(size=(N, 4)), rng.normal(scale=2.0, size=(N, 4))
    counts, rates = rng.poisson(3.0, size=(N, 4)).astype(float), rng.uniform(0.5, 5, (N, 4))
    pm1 = 2 * y01 - 1
    clip_q = np.clip(q, EPS, 1 - EPS)
    renorm = np.clip(p_unnormalised / p_unnormalised.sum(1, keepdims=True), EPS, 1 - EPS)
    kl_t, kl_p = np.clip(_probs(rng), EPS, 1), np.clip(_probs(rng), EPS, 1)
    cases = [
        (
            "cce_probs_renormalised",
            losses.CategoricalCrossentropy(),
            y_oh,
            p_unnormalised,
            -(y_oh * np.log(renorm)).sum(1),
        ),
        (
            "cce_logits",
            losses.CategoricalCrossentropy(from_logits=True),
            y_oh,
            z,
            F.cross_entropy(_t(z), torch.tensor(labels), reduction="none").numpy(),
        ),
        (
            "scce_probs",
            losses.SparseCategoricalCrossentropy(),
            labels,
            p,
            F.nll_loss(
                _t(np.log(np.clip(p, EPS, 1 - EPS))), torch.tensor(labels), reduction="none"
            ).numpy(),
        ),
        (
            "scce_logits_labels_n_by_1",
            losses.SparseCategoricalCrossentropy(from_logits=True),
            labels[:, None],
            z,
            F.cross_entropy(_t(z), torch.tensor(labels), reduction="none").numpy(),
        ),
        (
            "bce_probs",
            losses.BinaryCrossentropy(),
            y01,
            q,
            F.binary_cross_entropy(_t(clip_q), _t(y01), reduction="none").mean(-1).numpy(),
        ),
        (
            "bce_logits",
            losses.BinaryCrossentropy(from_logits=True),
            y01,
            z[:, :3],
            F.binary_cross_entropy_with_logits(_t(z[:, :3]), _t(y01), reduction="none")
            .mean(-1)
            .numpy(),
        ),
        (
            "mse",
            losses.MeanSquaredError(),
            reg_true,
            reg_pred,
            F.mse_loss(_t(reg_pred), _t(reg_true), reduction="none").mean(-1).numpy(),
        ),
        (
            "mae",
            losses.MeanAbsoluteError(),
            reg_true,
            reg_pred,
            F.l1_loss(_t(reg_pred), _t(reg_true), reduction="none").mean(-1).numpy(),
        ),
        (
            "huber",
            losses.Huber(delta=0.7),
            reg_true,
            reg_pred,
            F.huber_loss(_t(reg_pred), _t(reg_true), reduction="none", delta=0.7).mean(-1).numpy(),
        ),
        (
            "hinge",
            losses.Hinge(),
            pm1,
            z[:, :3],
            np.maximum(1 - pm1 * z[:, :3], 0).mean(1),
        ),
        (
            "squared_hinge",
            losses.SquaredHinge(),
            pm1,
            z[:, :3],
            (np.maximum(1 - pm1 * z[:, :3], 0) ** 2).mean(1),
        ),
        (
            "kld",
            losses.KLDivergence(),
            kl_t,
            kl_p,
            F.kl_div(_t(np.log(kl_p)), _t(kl_t), reduction="none").sum(-1).numpy(),
        ),
        (
            # Keras: −Σ (y/‖y‖)(ŷ/‖ŷ‖); row 0's target is zero, which Keras scores 0.
            "cosine_similarity",
            losses.CosineSimilarity(),
            np.vstack([np.zeros((1, 4)), reg_true[1:]]),
            reg_pred,
            np.concatenate(
                [
                    [0.0],
                    -np.sum(reg_true[1:] * reg_pred[1:], axis=1)
                    / (np.linalg.norm(reg_true[1:], axis=1) * np.linalg.norm(reg_pred[1:], axis=1)),
                ]
            ),
        ),
        (
            "poisson",
            losses.Poisson(),
            counts,
            rates,
            F.poisson_nll_loss(_t(rates), _t(counts), log_input=False, eps=EPS, reduction="none")
            .mean(-1)
            .numpy(),
        ),
        (
            "log_cosh",
            losses.LogCosh(),
            reg_true,
            reg_pred,
            np.log(np.cosh(reg_pred - reg_true)).mean(1),
        ),
    ]
    return cases


CASES = _case_table()
CASE_IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("case", "loss", "y_true", "y_pred", "expected"), CASES, ids=CASE_IDS)
def test_per_sample_values_match_reference(case, loss, y_true, y_pred, expected):
    values = loss.call(torch.as_tensor(y_true), _t(y_pred))
    assert values.dtype == torch.float64
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("case", "loss", "y_true", "y_pred", "expected"), CASES, ids=CASE_IDS)
def test_reductions_and_sample_weights(case, loss, y_true, y_pred, expected):
    weights = _rng(7).uniform(0.0, 2.0, size=N)
    config = loss.get_config()
    y_true_t, y_pred_t = torch.as_tensor(y_true), _t(y_pred)

    def reduced(reduction, sample_weight=None):
        fresh = type(loss).from_config({**config, "reduction": reduction})
        return fresh(y_true_t, y_pred_t, sample_weight=sample_weight).numpy()

    np.testing.assert_allclose(reduced("sum_over_batch_size"), expected.mean(), rtol=1e-10)
    np.testing.assert_allclose(reduced("sum"), expected.sum(), rtol=1e-10)
    np.testing.assert_allclose(reduced("none"), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        reduced("sum_over_batch_size", weights), (weights * expected).sum() / N, rtol=1e-10
    )
    np.testing.assert_allclose(
        reduced("mean_with_sample_weight", torch.tensor(weights)[:, None]),
        (weights * expected).sum() / weights.sum(),
        rtol=1e-10,
    )
    np.testing.assert_allclose(reduced("sum", 3.0), 3.0 * expected.sum(), rtol=1e-10)


def test_default_reduction_is_keras_mean():
    loss = losses.MeanSquaredError()
    assert loss.reduction == "sum_over_batch_size"
    assert losses.MeanSquaredError(reduction=None).reduction == "none"
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.MeanSquaredError(reduction="avg")


# ------------------------------------------------------------- label smoothing


def test_categorical_label_smoothing_against_hand_formula():
    rng = _rng(2)
    y, p, s = _one_hot(rng.integers(0, K, N)), _probs(rng), 0.2
    smoothed = y * (1 - s) + s / K
    expected = -(smoothed * np.log(p)).sum(1).mean()
    got = losses.CategoricalCrossentropy(label_smoothing=s)(_t(y), _t(p))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_binary_label_smoothing_against_hand_formula():
    rng = _rng(3)
    y, q, s = rng.integers(0, 2, (N, 1)).astype(float), rng.uniform(0.05, 0.95, (N, 1)), 0.3
    smoothed = y * (1 - s) + 0.5 * s
    expected = -(smoothed * np.log(q) + (1 - smoothed) * np.log(1 - q)).mean()
    got = losses.BinaryCrossentropy(label_smoothing=s)(_t(y), _t(q))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.1"])
def test_label_smoothing_must_lie_in_unit_interval(value):
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        losses.CategoricalCrossentropy(label_smoothing=value)


def test_from_logits_must_be_bool():
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        losses.BinaryCrossentropy(from_logits="yes")


# ------------------------------------------------------------- the logits contract


@pytest.mark.parametrize(
    ("loss", "activation", "dtype"),
    [
        (losses.CategoricalCrossentropy(), "softmax", torch.float32),
        (losses.SparseCategoricalCrossentropy(), "softmax", torch.long),
        (losses.BinaryCrossentropy(), "sigmoid", torch.float32),
        (losses.MeanSquaredError(), None, torch.float32),
        (losses.Hinge(), None, torch.float32),
        (losses.KLDivergence(), None, torch.float32),
    ],
)
def test_output_activation_and_target_dtype(loss, activation, dtype):
    assert loss.output_activation == activation
    assert loss.target_dtype == dtype


def test_with_logits_copies_the_configuration():
    loss = losses.CategoricalCrossentropy(label_smoothing=0.1, reduction="sum", name="ce")
    logits = loss.with_logits()
    assert type(logits) is losses.CategoricalCrossentropy and logits is not loss
    assert logits.get_config() == {**loss.get_config(), "from_logits": True}
    assert loss.from_logits is False
    sparse = losses.SparseCategoricalCrossentropy(ignore_class=0).with_logits()
    assert sparse.from_logits and sparse.ignore_class == 0


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.Huber(), losses.Poisson()])
def test_with_logits_refuses_losses_without_logits(loss):
    with pytest.raises(ValueError, match="has no logits form"):
        loss.with_logits()


def test_saturated_softmax_is_clipped_while_logits_form_is_exact():
    z = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]])
    labels = torch.tensor([1, 1])
    y = F.one_hot(labels, 3).float()
    loss = losses.CategoricalCrossentropy()
    clipped = loss(y, torch.softmax(z, dim=-1))
    assert torch.isfinite(clipped)
    # Sample 0 puts probability 0 on its label: the clip caps its loss at −log ε.
    np.testing.assert_allclose(clipped.item(), -np.log(np.float32(EPS)) / 2, rtol=1e-3)
    exact = loss.with_logits()(y, z)
    torch.testing.assert_close(exact, F.cross_entropy(z, labels))
    assert exact.item() == pytest.approx(500.0)
    sparse = losses.SparseCategoricalCrossentropy().with_logits()(labels, z)
    torch.testing.assert_close(sparse, F.cross_entropy(z, labels))


def test_saturated_sigmoid_is_clipped_while_logits_form_is_exact():
    z = torch.tensor([[200.0], [-200.0]])
    y = torch.tensor([[0.0], [1.0]])
    clipped = losses.BinaryCrossentropy()(y, torch.sigmoid(z))
    assert torch.isfinite(clipped) and clipped.item() < 17
    exact = losses.BinaryCrossentropy().with_logits()(y, z)
    torch.testing.assert_close(exact, F.binary_cross_entropy_with_logits(z, y))
    assert exact.item() == pytest.approx(200.0)


def test_logits_gradient_is_softmax_minus_target():
    rng = _rng(4)
    labels = rng.integers(0, K, N)
    y = _t(_one_hot(labels))
    z = _t(rng.normal(size=(N, K))).requires_grad_()
    losses.CategoricalCrossentropy(from_logits=True)(y, z).backward()
    expected = (torch.softmax(z.detach(), dim=-1) - y) / N
    torch.testing.assert_close(z.grad, expected)
    z.grad = None
    losses.SparseCategoricalCrossentropy(from_logits=True)(torch.tensor(labels), z).backward()
    torch.testing.assert_close(z.grad, expected)


def test_binary_logits_gradient_is_sigmoid_minus_target():
    rng = _rng(5)
    y = _t(rng.integers(0, 2, (N, 3)).astype(float))
    z = _t(rng.normal(size=(N, 3))).requires_grad_()
    losses.BinaryCrossentropy(from_logits=True)(y, z).backward()
    torch.testing.assert_close(z.grad, (torch.sigmoid(z.detach()) - y) / (N * 3))


# ------------------------------------------------------------- special semantics


def test_ignore_class_averages_over_valid_entries_like_torch_ignore_index():
    rng = _rng(6)
    z = _t(rng.normal(size=(N, K)))
    labels = torch.tensor(rng.integers(0, K, N))
    labels[::3] = -1
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    torch.testing.assert_close(loss(labels, z), F.cross_entropy(z, labels, ignore_index=-1))
    values = losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-1, reduction="none"
    )(labels, z)
    assert (values[::3] == 0).all() and (values[1::3] > 0).all()


def test_hinge_converts_zero_one_labels():
    rng = _rng(8)
    y01 = _t(rng.integers(0, 2, (N, 2)).astype(float))
    z = _t(rng.normal(size=(N, 2)))
    for loss in (losses.Hinge(), losses.SquaredHinge()):
        torch.testing.assert_close(loss(y01, z), loss(2 * y01 - 1, z))


def test_huber_is_quadratic_then_linear():
    e = torch.tensor([[0.5, 3.0]])
    np.testing.assert_allclose(
        losses.Huber(delta=1.0)(torch.zeros(1, 2), e).item(), (0.125 + (3.0 - 0.5)) / 2
    )
    with pytest.raises(ValueError, match="delta must be a positive number"):
        losses.Huber(delta=0)


def test_log_cosh_does_not_overflow():
    value = losses.LogCosh()(torch.zeros(1, 1), torch.tensor([[1000.0]]))
    np.testing.assert_allclose(value.item(), 1000.0 - np.log(2.0), rtol=1e-6)


def test_trailing_unit_axis_is_squeezed_like_keras():
    rng = _rng(9)
    y, p = rng.integers(0, 2, N).astype(float), rng.uniform(0.1, 0.9, (N, 1))
    loss = losses.BinaryCrossentropy()
    torch.testing.assert_close(loss(_t(y), _t(p)), loss(_t(y[:, None]), _t(p)))
    torch.testing.assert_close(
        losses.MeanSquaredError()(_t(y), _t(p)), torch.tensor(((y - p[:, 0]) ** 2).mean()).double()
    )


def test_inputs_may_be_numpy_and_integer_targets():
    y = np.array([[0, 1], [1, 0]])
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    got = losses.get("categorical_crossentropy")(y, p)
    np.testing.assert_allclose(got.item(), -(np.log(0.8) + np.log(0.6)) / 2)


def test_losses_never_read_back_to_host():
    """On the meta device any .item()/float()/bool() raises: the per-step path has none."""
    meta = torch.device("meta")
    y, z = torch.zeros(8, 10, device=meta), torch.zeros(8, 10, device=meta)
    labels = torch.zeros(8, dtype=torch.long, device=meta)
    weight = torch.ones(8, device=meta)
    for _, loss, *_ in CASES:
        target = labels if isinstance(loss, losses.SparseCategoricalCrossentropy) else y
        out = loss(target, z, sample_weight=weight)
        assert out.device == meta and out.shape == ()
    ignore = losses.SparseCategoricalCrossentropy(ignore_class=3)
    assert ignore(labels, z).device == meta


# ------------------------------------------------------------- validate_targets

VALID_SHAPES = [
    (losses.CategoricalCrossentropy(), (100, 10), (100, 10)),
    (losses.CategoricalCrossentropy(), (100, 10), (32, 10)),  # batch axis not compared
    (losses.SparseCategoricalCrossentropy(), (100,), (100, 10)),
    (losses.SparseCategoricalCrossentropy(), (100, 1), (100, 10)),
    (losses.SparseCategoricalCrossentropy(), (100, 7), (100, 7, 10)),
    (losses.BinaryCrossentropy(), (100,), (100, 1)),
    (losses.BinaryCrossentropy(), (100, 3), (100, 3)),
    (losses.MeanSquaredError(), (100, 3), (100, 3)),
    (losses.MeanSquaredError(), (100, 1), (100,)),
    (losses.LossFunctionWrapper(lambda a, b: (a - b).abs()), (100, 2), (100, 7)),
]


@pytest.mark.parametrize(("loss", "y_shape", "out_shape"), VALID_SHAPES)
def test_validate_targets_accepts_fitting_shapes(loss, y_shape, out_shape):
    loss.validate_targets(y_shape, out_shape)


INVALID_SHAPES = [
    (
        losses.CategoricalCrossentropy(),
        (60000,),
        (60000, 10),
        "categorical_crossentropy expects one-hot targets of shape (60000, 10) but got "
        "(60000,): use loss='sparse_categorical_crossentropy' for integer labels, or "
        "deepdescent.utils.to_categorical(y, 10)",
    ),
    (
        losses.CategoricalCrossentropy(),
        (60000, 1),
        (60000, 10),
        "but got (60000, 1): use loss='sparse_categorical_crossentropy'",
    ),
    (losses.CategoricalCrossentropy(), (50, 3), (50, 10), "one column per output unit"),
    (losses.CategoricalCrossentropy(), (50, 1), (50, 1), "single output unit"),
    (
        losses.SparseCategoricalCrossentropy(),
        (50, 10),
        (50, 10),
        "expects integer class labels of shape (50,) but got one-hot targets of shape "
        "(50, 10): use loss='categorical_crossentropy'",
    ),
    (losses.SparseCategoricalCrossentropy(), (50,), (50, 1), "single output unit"),
    (losses.SparseCategoricalCrossentropy(), (50, 4), (50, 10), "without its class axis"),
    (losses.SparseCategoricalCrossentropy(), (50,), (50,), "needs outputs of shape"),
    (losses.MeanSquaredError(), (50, 3), (50, 4), "mean_squared_error expects targets"),
    (losses.MeanSquaredError(), (50,), (50, 10), "look like class indices"),
    (losses.BinaryCrossentropy(), (50, 1), (50, 10), "to_categorical(y, 10)"),
    (losses.Huber(), (50, 2, 2), (50, 4), "would broadcast"),
]


@pytest.mark.parametrize(("loss", "y_shape", "out_shape", "message"), INVALID_SHAPES)
def test_validate_targets_explains_misfits(loss, y_shape, out_shape, message):
    with pytest.raises(ValueError) as info:
        loss.validate_targets(y_shape, out_shape)
    assert message in str(info.value)


def test_calling_with_misfit_targets_raises_the_same_advice():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(torch.tensor([1, 2]), torch.rand(2, 4))
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy()(torch.eye(4)[:2], torch.rand(2, 4))


# ------------------------------------------------------------- look-up and config

NAMES = [
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("binary_crossentropy", losses.BinaryCrossentropy),
    ("mse", losses.MeanSquaredError),
    ("mean_squared_error", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError),
    ("mean_absolute_error", losses.MeanAbsoluteError),
    ("huber", losses.Huber),
    ("hinge", losses.Hinge),
    ("squared_hinge", losses.SquaredHinge),
    ("kld", losses.KLDivergence),
    ("kl_divergence", losses.KLDivergence),
    ("poisson", losses.Poisson),
    ("cosine_similarity", losses.CosineSimilarity),
    ("log_cosh", losses.LogCosh),
    ("logcosh", losses.LogCosh),
]


@pytest.mark.parametrize(("name", "cls"), NAMES)
def test_get_by_keras_name(name, cls):
    assert type(losses.get(name)) is cls


def test_get_other_identifiers():
    loss = losses.Huber(delta=2.0)
    assert losses.get(loss) is loss
    assert losses.get(None) is None
    assert type(losses.get(losses.mean_squared_error)) is losses.MeanSquaredError
    assert type(losses.get(losses.Poisson)) is losses.Poisson
    assert losses.get(losses.serialize(loss)).delta == 2.0
    wrapped = losses.get(lambda y, p: (y - p).abs().sum(-1))
    assert isinstance(wrapped, losses.LossFunctionWrapper)
    np.testing.assert_allclose(wrapped(torch.ones(2, 3), torch.zeros(2, 3)).item(), 3.0)
    with pytest.raises(ValueError, match=r"Unknown loss 'categorical_crossentropyy'"):
        losses.get("categorical_crossentropyy")
    with pytest.raises(TypeError, match="loss must be"):
        losses.get(1.5)


@pytest.mark.parametrize(("case", "loss", "y_true", "y_pred", "expected"), CASES, ids=CASE_IDS)
def test_config_round_trips_through_json(case, loss, y_true, y_pred, expected):
    spec = json.loads(json.dumps(losses.serialize(loss)))
    rebuilt = losses.deserialize(spec)
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()


def test_wrapper_config_names_registered_functions_only():
    wrapper = losses.LossFunctionWrapper(losses.huber, name="h", delta=0.5)
    rebuilt = losses.deserialize(losses.serialize(wrapper))
    assert rebuilt.fn is losses.huber and rebuilt.fn_kwargs == {"delta": 0.5}
    with pytest.raises(ValueError, match="cannot be saved"):
        losses.serialize(losses.LossFunctionWrapper(lambda y, p: y - p))


def test_deserialize_only_builds_loss_classes():
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.deserialize({"class_name": "os.system", "config": {}})


def test_cosine_similarity_along_another_axis_and_in_fit_shape():
    rng = _rng(7)
    y_true, y_pred = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    expected = -np.sum(unit(y_true) * unit(y_pred), axis=1)
    got = losses.CosineSimilarity(axis=1, reduction="none")(_t(y_true), _t(y_pred))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert losses.get("cosine_similarity").get_config()["axis"] == -1
