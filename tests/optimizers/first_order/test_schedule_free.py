"""Schedule-Free SGD and AdamW (Defazio et al. 2024) against a NumPy transcription that
keeps x, y and z explicitly, and the averaging against its closed form."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES, STEPS, assert_config_round_trips
from reference import layers, schedule_free

from deepdescent.optimizers.first_order.schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD

PROBLEMS = [pytest.param(p, id=p.name) for p in layers.problems()]
SGD_LR = {"ill_conditioned": 0.009, "tiny_network": 1.0}
VARIANTS = [
    pytest.param({}, id="plain"),
    pytest.param({"warmup_steps": 20, "weight_decay": 0.01}, id="warmup-decay"),
]


def _run(problem, make_optimizer):
    """The stored parameters (y) after every step, and x after the last (via eval())."""
    path = layers.run_torch(problem, make_optimizer, STEPS, finish=lambda opt: opt.eval())
    return path[:-1], path[-1]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_sgd_follows_the_paper(problem, variant, impl):
    lr = SGD_LR[problem.name]
    xs, ys = schedule_free.sgd(problem.theta0, problem.flat_grad, lr, 0.9, STEPS, **variant)
    ours_y, ours_x = _run(problem, lambda p: ScheduleFreeSGD(p, lr=lr, **variant, **impl))
    layers.assert_paths_close(ours_y, ys)
    layers.assert_paths_close([ours_x], [xs[-1]])
    loss = problem.loss_and_grad
    assert loss(xs[-1])[0] < 0.5 * loss(xs[0])[0]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_adamw_follows_algorithm_1(problem, variant, impl):
    hyper = {"lr": 0.02, "betas": (0.9, 0.99), "eps": 1e-8}
    xs, ys = schedule_free.adamw(
        problem.theta0, problem.flat_grad, 0.02, 0.9, 0.99, 1e-8, STEPS, **variant
    )
    ours_y, ours_x = _run(problem, lambda p: ScheduleFreeAdamW(p, **hyper, **variant, **impl))
    layers.assert_paths_close(ours_y, ys)
    layers.assert_paths_close([ours_x], [xs[-1]])
    loss = problem.loss_and_grad
    assert loss(xs[-1])[0] < 0.5 * loss(xs[0])[0]


@pytest.mark.parametrize("impl", BODIES)
@pytest.mark.parametrize(("r", "power"), [(0.0, 2.0), (0.0, 0.0), (1.0, 0.0), (0.5, 1.0)])
def test_x_is_the_weighted_average_of_the_z_iterates(r, power, impl):
    """x_{T+1} = Σ w_t z_{t+1} / Σ w_t with w_t = t^r γ̄_t^p (z_1 has no weight)."""
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    optimizer = ScheduleFreeSGD([w], lr=0.1, warmup_steps=5, r=r, weight_lr_power=power, **impl)
    zs, weights = [], []
    for t in range(1, 16):
        w.grad = torch.sin(3 * w.detach()) + w.detach()
        optimizer.step()
        zs.append(optimizer.state[w]["z"].clone())
        weights.append(t**r * (0.1 * min(1.0, t / 5)) ** power)
    optimizer.eval()
    expected = sum(wt * z for wt, z in zip(weights, zs, strict=True)) / sum(weights)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=1e-12)


def _trained(cls=ScheduleFreeAdamW, steps=5, **kwargs):
    torch.manual_seed(0)
    params = [torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    optimizer = cls(params, lr=0.1, **kwargs)
    for _ in range(steps):
        optimizer.zero_grad()
        sum((p**2).sum() for p in params).backward()
        optimizer.step()
    return params, optimizer


@pytest.mark.parametrize("cls", [ScheduleFreeSGD, ScheduleFreeAdamW])
def test_eval_and_train_swap_between_y_and_x(cls):
    params, optimizer = _trained(cls)
    beta = optimizer.param_groups[0].get("momentum", optimizer.param_groups[0].get("betas", [0])[0])
    y = [p.detach().clone() for p in params]
    zs = [optimizer.state[p]["z"].clone() for p in params]
    optimizer.eval()
    optimizer.eval()  # idempotent
    for p, yy, z in zip(params, y, zs, strict=True):
        torch.testing.assert_close(p.detach(), (yy - (1 - beta) * z) / beta)
    optimizer.train()
    optimizer.train()
    for p, yy in zip(params, y, strict=True):
        torch.testing.assert_close(p.detach(), yy)


def test_step_in_eval_mode_is_refused():
    params, optimizer = _trained()
    optimizer.eval()
    for p in params:
        p.grad = torch.ones_like(p)
    with pytest.raises(RuntimeError, match=r"optimizer\.train\(\)"):
        optimizer.step()


def test_state_dict_in_eval_mode_resumes_identically():
    params, optimizer = _trained(ScheduleFreeAdamW, weight_decay=0.01, warmup_steps=3)
    optimizer.eval()
    saved = copy.deepcopy(optimizer.state_dict())
    twins = [p.detach().clone().requires_grad_() for p in params]
    resumed = ScheduleFreeAdamW(twins, lr=0.1, weight_decay=0.01, warmup_steps=3)
    resumed.load_state_dict(saved)
    for opt, ps in ((optimizer, params), (resumed, twins)):
        opt.train()
        for _ in range(3):
            opt.zero_grad()
            sum((p**2).sum() for p in ps).backward()
            opt.step()
        opt.eval()
    for a, b in zip(params, twins, strict=True):
        assert torch.equal(a, b)


def test_unbound_spec_swaps_nothing_and_binds_in_training_mode():
    spec = ScheduleFreeSGD(lr=0.1)
    spec.eval()
    assert not spec.is_bound
    w = torch.ones(2, requires_grad=True)
    spec.bind([w])
    assert all(group["train_mode"] for group in spec.param_groups)
    w.grad = torch.ones(2)
    spec.step()  # refused in evaluation mode
    assert not torch.equal(w.detach(), torch.ones(2))


def test_defaults_and_config_round_trip():
    assert ScheduleFreeSGD().learning_rate == 1.0
    assert ScheduleFreeAdamW().learning_rate == 0.0025
    optimizer = ScheduleFreeAdamW(learning_rate=0.01, warmup_steps=10, r=0.5)
    assert_config_round_trips(optimizer)
    assert np.isclose(ScheduleFreeSGD(momentum=0.8).get_config()["momentum"], 0.8)


@pytest.mark.parametrize(
    ("cls", "kwargs", "argument"),
    [
        (ScheduleFreeSGD, {"momentum": 0.0}, "momentum"),
        (ScheduleFreeSGD, {"momentum": 1.0}, "momentum"),
        (ScheduleFreeSGD, {"warmup_steps": -1}, "warmup_steps"),
        (ScheduleFreeSGD, {"warmup_steps": 2.5}, "warmup_steps"),
        (ScheduleFreeSGD, {"r": -1.0}, "r"),
        (ScheduleFreeSGD, {"weight_lr_power": -2.0}, "weight_lr_power"),
        (ScheduleFreeSGD, {"lr": -1.0}, "lr"),
        (ScheduleFreeAdamW, {"betas": (0.0, 0.999)}, r"betas\[0\]"),
        (ScheduleFreeAdamW, {"betas": (0.9, 1.0)}, "betas"),
        (ScheduleFreeAdamW, {"eps": -1.0}, "eps"),
        (ScheduleFreeAdamW, {"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(cls, kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        cls(**kwargs)
