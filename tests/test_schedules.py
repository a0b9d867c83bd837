"""Schedules against closed forms written out here and against torch.optim.lr_scheduler."""

from __future__ import annotations

import json
import math

import pytest
import torch

from deepdescent import schedules
from deepdescent.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    LinearDecay,
    LinearWarmup,
    PiecewiseConstantDecay,
    PolynomialDecay,
    StepDecay,
)


def torch_lrs(make_scheduler, lr: float, steps: int) -> list[float]:
    """The learning rate torch uses for updates 0 .. steps-1 (one scheduler step each)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def ours(schedule: LearningRateSchedule, steps: int) -> list[float]:
    return [schedule(k) for k in range(steps)]


# -- the book's schedule, eq. 8.14 ----------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 25, 99, 100])
def test_linear_decay_before_tau_is_the_books_interpolation(k):
    eps0, eps_tau, tau = 0.1, 0.002, 100
    alpha = k / tau
    expected = (1 - alpha) * eps0 + alpha * eps_tau
    assert LinearDecay(eps0, tau, eps_tau)(k) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("k", [101, 150, 10_000])
def test_linear_decay_after_tau_holds_eps_tau(k):
    assert LinearDecay(0.1, 100, 0.002)(k) == pytest.approx(0.002, rel=1e-12)


def test_linear_decay_default_end_is_one_percent_of_the_start():
    schedule = LinearDecay(0.5, 10)
    assert schedule.end_learning_rate == pytest.approx(0.005)
    assert schedule(10) == pytest.approx(0.005)


def test_linear_decay_returns_a_python_float():
    assert type(LinearDecay(1, 10, 0)(3)) is float


def test_linear_decay_matches_torch_linear_lr():
    lr, start, end, total = 0.2, 1.0, 0.05, 20
    expected = torch_lrs(
        lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start, end, total), lr, 30
    )
    assert ours(LinearDecay(lr * start, total, lr * end), 30) == pytest.approx(expected, rel=1e-9)


# -- Keras's schedules, closed forms --------------------------------------------------------


@pytest.mark.parametrize(("k", "expected_fraction"), [(0, 1.0), (50, 0.25), (100, 0.0), (400, 0.0)])
def test_polynomial_decay_power_two(k, expected_fraction):
    # (ε0 - εe)(1 - k/τ)^2 + εe with k clipped at τ; (1 - 50/100)^2 = 0.25.
    schedule = PolynomialDecay(1.0, 100, end_learning_rate=0.1, power=2.0)
    assert schedule(k) == pytest.approx(0.9 * expected_fraction + 0.1)


@pytest.mark.parametrize(
    ("k", "horizon"), [(0, 100), (50, 100), (100, 100), (101, 200), (150, 200), (201, 300)]
)
def test_polynomial_decay_cycle_uses_the_next_multiple_of_tau(k, horizon):
    schedule = PolynomialDecay(1.0, 100, end_learning_rate=0.1, power=1.5, cycle=True)
    assert schedule(k) == pytest.approx(0.9 * (1 - k / horizon) ** 1.5 + 0.1)


@pytest.mark.parametrize("k", [0, 1, 7, 10, 25])
def test_exponential_decay(k):
    assert ExponentialDecay(0.3, 10, 0.5)(k) == pytest.approx(0.3 * 0.5 ** (k / 10))
    assert ExponentialDecay(0.3, 10, 0.5, staircase=True)(k) == pytest.approx(
        0.3 * 0.5 ** (k // 10)
    )


@pytest.mark.parametrize("k", [0, 3, 10, 31])
def test_inverse_time_decay(k):
    assert InverseTimeDecay(0.1, 10, 0.5)(k) == pytest.approx(0.1 / (1 + 0.5 * k / 10))
    assert InverseTimeDecay(0.1, 10, 0.5, staircase=True)(k) == pytest.approx(
        0.1 / (1 + 0.5 * (k // 10))
    )


@pytest.mark.parametrize(
    ("k", "expected"), [(0, 1.0), (10, 1.0), (11, 0.5), (20, 0.5), (21, 0.1), (1000, 0.1)]
)
def test_piecewise_constant_decay_boundaries_belong_to_the_left_piece(k, expected):
    assert PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])(k) == expected


@pytest.mark.parametrize("k", [0, 25, 50, 100, 150])
def test_cosine_decay_without_warmup(k):
    alpha, tau = 0.1, 100
    cosine = 0.5 * (1 + math.cos(math.pi * min(k, tau) / tau))
    assert CosineDecay(2.0, tau, alpha=alpha)(k) == pytest.approx(
        2.0 * ((1 - alpha) * cosine + alpha)
    )


@pytest.mark.parametrize(
    ("k", "expected"),
    [(0, 0.2), (5, 0.6), (10, 1.0), (60, 0.5), (110, 0.0), (500, 0.0)],
)
def test_cosine_decay_with_linear_warmup(k, expected):
    # Linear from 0.2 to 1.0 over 10 steps, then a cosine over 100 more steps.
    schedule = CosineDecay(0.2, 100, warmup_target=1.0, warmup_steps=10)
    assert schedule(k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (0, 1.0),
        (5, 0.5),  # half of the first period (10 steps)
        (10, 0.8),  # first restart, at m_mul
        (20, 0.4),  # half of the second period (20 steps)
        (30, 0.64),  # second restart, at m_mul^2
        (50, 0.32),  # half of the third period (40 steps, from step 30)
    ],
)
def test_cosine_decay_restarts(k, expected):
    schedule = CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.8)
    assert schedule(k) == pytest.approx(expected, abs=1e-12)


def test_cosine_decay_restarts_with_fixed_period():
    schedule = CosineDecayRestarts(1.0, 10, t_mul=1.0, alpha=0.2)
    assert [schedule(k) for k in (0, 5, 10, 15, 20)] == pytest.approx([1.0, 0.6, 1.0, 0.6, 1.0])


@pytest.mark.parametrize("k", [0, 1, 7, 10, 13])
def test_step_decay(k):
    assert StepDecay(0.5, 4, gamma=0.3)(k) == pytest.approx(0.5 * 0.3 ** (k // 4))


def test_linear_warmup_then_constant():
    schedule = LinearWarmup(0.4, warmup_steps=8, initial=0.0)
    assert [schedule(k) for k in (0, 2, 4, 8, 100)] == pytest.approx([0.0, 0.1, 0.2, 0.4, 0.4])


def test_linear_warmup_starts_the_wrapped_schedule_after_the_warmup():
    wrapped = LinearWarmup(CosineDecay(1.0, 100, alpha=0.1), warmup_steps=10)
    keras_form = CosineDecay(0.0, 100, alpha=0.1, warmup_target=1.0, warmup_steps=10)
    assert ours(wrapped, 150) == pytest.approx(ours(keras_form, 150), abs=1e-12)


def test_linear_warmup_accepts_any_callable():
    schedule = LinearWarmup(lambda step: 1.0 / (1 + step), warmup_steps=4, initial=0.2)
    assert [schedule(k) for k in (0, 2, 4, 5)] == pytest.approx([0.2, 0.6, 1.0, 0.5])


def test_zero_warmup_steps_is_the_wrapped_schedule():
    assert ours(LinearWarmup(StepDecay(1.0, 3), 0), 10) == ours(StepDecay(1.0, 3), 10)


# -- the same math in torch.optim.lr_scheduler --------------------------------------------


def test_step_decay_matches_torch_step_lr():
    expected = torch_lrs(lambda opt: torch.optim.lr_scheduler.StepLR(opt, 7, gamma=0.5), 0.3, 40)
    assert ours(StepDecay(0.3, 7, gamma=0.5), 40) == pytest.approx(expected, rel=1e-12)


def test_exponential_decay_with_one_step_matches_torch_exponential_lr():
    expected = torch_lrs(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, 0.9), 0.1, 50)
    assert ours(ExponentialDecay(0.1, 1, 0.9), 50) == pytest.approx(expected, rel=1e-9)


def test_cosine_decay_matches_torch_cosine_annealing_over_half_a_period():
    lr, eta_min, t_max = 0.5, 0.01, 40
    expected = torch_lrs(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, t_max, eta_min), lr, t_max + 1
    )
    schedule = CosineDecay(lr, t_max, alpha=eta_min / lr)
    assert ours(schedule, t_max + 1) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_cosine_decay_restarts_matches_torch_warm_restarts():
    lr, eta_min = 0.5, 0.05
    expected = torch_lrs(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, 5, 2, eta_min),
        lr,
        80,
    )
    schedule = CosineDecayRestarts(lr, 5, t_mul=2.0, alpha=eta_min / lr)
    assert ours(schedule, 80) == pytest.approx(expected, rel=1e-9)


def test_linear_warmup_of_a_constant_matches_torch_linear_lr():
    lr, start, total = 0.2, 0.25, 12
    expected = torch_lrs(
        lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start, 1.0, total), lr, 20
    )
    assert ours(LinearWarmup(lr, total, initial=lr * start), 20) == pytest.approx(expected)


# -- argument checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: LinearDecay(0.1, 0), "decay_steps"),
        (lambda: LinearDecay(-0.1, 10), "initial_learning_rate"),
        (lambda: LinearDecay(0.1, 10, -1.0), "end_learning_rate"),
        (lambda: PolynomialDecay(0.1, -5), "decay_steps"),
        (lambda: PolynomialDecay(0.1, 5, power=0), "power"),
        (lambda: ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
        (lambda: ExponentialDecay(0.1, 10, -0.5), "decay_rate"),
        (lambda: InverseTimeDecay(0.1, 10, -1), "decay_rate"),
        (lambda: StepDecay(0.1, 0), "step_size"),
        (lambda: StepDecay(0.1, 3, gamma=-0.1), "gamma"),
        (lambda: PiecewiseConstantDecay([10, 20], [1.0, 0.5]), "values"),
        (lambda: PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), "boundaries"),
        (lambda: PiecewiseConstantDecay([10], [1.0, -0.5]), "values"),
        (lambda: CosineDecay(0.1, 0), "decay_steps"),
        (lambda: CosineDecay(0.1, 10, alpha=1.5), "alpha"),
        (lambda: CosineDecay(0.1, 10, warmup_steps=5), "warmup_steps"),
        (lambda: CosineDecayRestarts(0.1, 10, t_mul=0.5), "t_mul"),
        (lambda: CosineDecayRestarts(0.1, 0), "first_decay_steps"),
        (lambda: LinearWarmup(-1.0, 10), "schedule"),
        (lambda: LinearWarmup(0.1, -1), "warmup_steps"),
        (lambda: LinearDecay(0.1, float("nan")), "decay_steps"),
        (lambda: LinearDecay(True, 10), "initial_learning_rate"),
    ],
)
def test_bad_arguments_are_named(make, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}: "):
        make()


def test_negative_step_is_refused():
    with pytest.raises(ValueError, match="Invalid step: -1"):
        StepDecay(0.1, 3)(-1)


# -- configs -------------------------------------------------------------------------------

ALL = [
    LinearDecay(0.1, 50, 0.003),
    PolynomialDecay(0.1, 50, 0.001, power=0.5, cycle=True),
    ExponentialDecay(0.1, 10, 0.9, staircase=True),
    StepDecay(0.1, 7, 0.5),
    PiecewiseConstantDecay([5, 15], [0.1, 0.05, 0.01]),
    InverseTimeDecay(0.1, 10, 0.5, staircase=True),
    CosineDecay(0.0, 40, alpha=0.1, warmup_target=0.2, warmup_steps=5),
    CosineDecayRestarts(0.1, 8, t_mul=1.5, m_mul=0.9, alpha=0.05),
    LinearWarmup(ExponentialDecay(0.1, 10, 0.9), 6, initial=0.01),
    LinearWarmup(0.3, 4),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip_through_json(schedule):
    spec = json.loads(json.dumps(schedules.serialize(schedule)))
    rebuilt = schedules.deserialize(spec)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    assert ours(rebuilt, 60) == ours(schedule, 60)
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_lambda_inside_linear_warmup_cannot_be_serialized():
    with pytest.raises(TypeError, match="cannot serialize"):
        LinearWarmup(lambda step: 0.1, 3).get_config()


def test_deserialize_only_builds_schedules():
    with pytest.raises(ValueError, match="Valid names"):
        schedules.deserialize({"class_name": "os.system", "config": {}})


def test_get():
    schedule = StepDecay(0.1, 3)
    assert schedules.get(None) is None
    assert schedules.get(schedule) is schedule
    assert schedules.get(schedules.serialize(schedule)).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="CosineDecay needs arguments"):
        schedules.get("cosine_decay")
    with pytest.raises(ValueError, match="Did you mean"):
        schedules.get("CosineDecy")
    with pytest.raises(TypeError, match="Invalid schedule identifier: 3"):
        schedules.get(3)


def test_serialize_refuses_plain_functions():
    with pytest.raises(TypeError, match="Invalid schedule"):
        schedules.serialize(lambda step: 0.1)
