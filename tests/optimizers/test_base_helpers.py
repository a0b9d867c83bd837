"""The base's helpers for optimizer modules: the shared check of ``betas``, lazily made
state, the refusal of ``fused=True`` without a fused body, and decoupled weight decay left
to the update."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from deepdescent.optimizers import (
    LARS,
    SGD,
    AdaBelief,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lamb,
    Lion,
    Muon,
    NAdam,
    RAdam,
    RMSprop,
    Rprop,
    ScheduleFreeAdamW,
    ScheduleFreeSGD,
)
from deepdescent.optimizers.base import Optimizer, check_betas


class _Toy(Optimizer):
    """Gradient descent that also sums its gradients: just enough state to test with."""

    def __init__(
        self,
        params: Any = None,
        lr: float = 0.1,
        weight_decay: float = 0.0,
        *,
        decoupled_weight_decay: bool = False,
        fused: bool | None = None,
        **options: Any,
    ) -> None:
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "fused": fused,
        }
        super().__init__(params, defaults, **options)

    def _update_loop(self, group, params, grads):
        for param, grad in zip(params, grads, strict=True):
            state = self._init_state(param, "total")
            state["step"] += 1
            state["total"].add_(grad)
            param.add_(grad, alpha=-group["lr"])


class _FusedToy(_Toy):
    def _update_fused(self, group, params, grads):
        self._update_loop(group, params, grads)


# -- check_betas ------------------------------------------------------------------------


def test_check_betas_returns_the_pair_as_floats():
    betas = check_betas([0, 0.5])
    assert betas == (0.0, 0.5)
    assert all(type(b) is float for b in betas)


@pytest.mark.parametrize(
    "betas",
    [(1.0, 0.5), (0.5, 1.0), (-0.1, 0.5), (0.5,), (0.1, 0.2, 0.3), 0.9, ("0.9", 0.9), None],
)
def test_check_betas_names_the_argument_the_value_and_the_rule(betas):
    expected = f"Invalid betas: {betas!r} (expected a pair of numbers, each in [0, 1))"
    with pytest.raises(ValueError) as caught:
        check_betas(betas)
    assert str(caught.value) == expected


def test_check_betas_names_the_argument_it_is_given():
    with pytest.raises(ValueError, match=r"Invalid adamw_betas: \(0\.9, 1\.0\)"):
        check_betas((0.9, 1.0), "adamw_betas")


@pytest.mark.parametrize(
    ("cls", "argument"),
    [
        (Adam, "betas"),
        (AdamW, "betas"),
        (Adamax, "betas"),
        (NAdam, "betas"),
        (RAdam, "betas"),
        (AdaBelief, "betas"),
        (Lion, "betas"),
        (Lamb, "betas"),
        (ScheduleFreeAdamW, "betas"),
        (Muon, "adamw_betas"),
    ],
)
def test_every_optimizer_with_betas_uses_the_shared_rule(cls, argument):
    with pytest.raises(ValueError, match=rf"Invalid {argument}: .*each in \[0, 1\)"):
        cls(**{argument: (0.9, 1.0)})
    assert cls(**{argument: [0.5, 0]}).get_config()[argument] == (0.5, 0.0)


# -- _init_state ------------------------------------------------------------------------


def test_init_state_makes_the_step_and_zero_buffers_like_the_parameter():
    param = torch.randn(2, 3, 4, 5, dtype=torch.float64).to(memory_format=torch.channels_last)
    optimizer = _Toy([param.requires_grad_()])
    state = optimizer._init_state(param, "first", "second", fills={"size": 0.25})
    assert state is optimizer.state[param]
    assert set(state) == {"step", "first", "second", "size"} and state["step"] == 0
    for name, value in (("first", 0.0), ("second", 0.0), ("size", 0.25)):
        buffer = state[name]
        assert buffer.shape == param.shape and buffer.dtype == param.dtype
        assert buffer.device == param.device and buffer.stride() == param.stride()
        assert torch.equal(buffer, torch.full_like(param, value))


def test_init_state_without_a_step_count():
    param = torch.zeros(3, requires_grad=True)
    optimizer = _Toy([param])
    assert set(optimizer._init_state(param, "momentum_buffer", step=False)) == {"momentum_buffer"}


def test_init_state_keeps_what_is_there_and_adds_what_is_missing():
    param = torch.zeros(3, requires_grad=True)
    optimizer = _Toy([param])
    state = optimizer._init_state(param, "first")
    state["step"] = 7
    state["first"].fill_(2.0)
    state = optimizer._init_state(param, "first", "second", fills={"first": 5.0})
    assert state["step"] == 7
    assert torch.equal(state["first"], torch.full((3,), 2.0))
    assert torch.equal(state["second"], torch.zeros(3))


@pytest.mark.parametrize(
    "cls", [_Toy, Adam, Adamax, NAdam, RAdam, AdaBelief, Adadelta, Adagrad, Rprop, Lion]
)
def test_state_is_made_even_after_gradient_accumulation_has_begun(cls):
    """Accumulation puts ``accumulated_grad`` in the state before the first update: two
    accumulated calls are one update with the mean gradient."""
    torch.manual_seed(0)
    gradients = [torch.randn(4) for _ in range(6)]
    accumulating = torch.ones(4, requires_grad=True)
    plain = torch.ones(4, requires_grad=True)
    optimizer = cls([accumulating], gradient_accumulation_steps=2)
    reference = cls([plain])
    for grad in gradients:
        accumulating.grad = grad.clone()
        optimizer.step()
    for first, second in zip(gradients[::2], gradients[1::2], strict=True):
        plain.grad = (first + second) / 2
        reference.step()
    assert optimizer.iterations == reference.iterations == 3
    torch.testing.assert_close(accumulating, plain, rtol=1e-6, atol=1e-7)


# -- fused=True needs a fused body -----------------------------------------------------


@pytest.mark.parametrize("fused", [None, False])
def test_fused_none_or_false_is_accepted_without_a_fused_body(fused):
    assert _Toy(fused=fused).get_config()["lr"] == 0.1


def test_fused_true_is_refused_without_a_fused_body():
    message = r"Invalid fused: True \(expected None or False: _Toy has no fused kernel\)"
    with pytest.raises(ValueError, match=message):
        _Toy(fused=True)
    with pytest.raises(ValueError, match=message):
        _Toy([torch.zeros(2, requires_grad=True)], fused=True)


def test_fused_true_runs_the_fused_body_where_there_is_one():
    param = torch.ones(2, requires_grad=True)
    optimizer = _FusedToy([param], fused=True)
    param.grad = torch.tensor([1.0, -2.0])
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.tensor([0.9, 1.2]))


def test_catalogue_optimizers_without_a_fused_body_refuse_fused():
    with pytest.raises(ValueError, match=r"Invalid fused: True .*Muon has no fused"):
        Muon(fused=True)


COMPILED = [
    Adamax,
    NAdam,
    RAdam,
    AdaBelief,
    Adadelta,
    Rprop,
    Lion,
    RMSprop,
    Lamb,
    LARS,
    Adafactor,
    ScheduleFreeSGD,
    ScheduleFreeAdamW,
]


@pytest.mark.parametrize("cls", COMPILED)
def test_catalogue_optimizers_with_a_compiled_body_accept_fused(cls):
    """Their multi-tensor body is compiled for ``fused`` (run in tests/optimizers/
    test_compiled.py and the contract table); construction alone compiles nothing."""
    assert cls._has_compiled_body()
    assert cls([torch.ones(3, requires_grad=True)], fused=True).param_groups[0]["fused"]


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, Adagrad])
def test_catalogue_optimizers_with_a_kernel_accept_fused(cls):
    param = torch.ones(3, requires_grad=True)
    optimizer = cls([param], fused=True)
    param.grad = torch.ones(3)
    optimizer.step()
    assert (param.detach() < 1.0).all()


# -- decoupled_decay_in_update ----------------------------------------------------------


class _Recorder(_Toy):
    """Records what the base hands the update, after its weight decay."""

    def _update_loop(self, group, params, grads):
        self.seen = [(p.detach().clone(), g.clone()) for p, g in zip(params, grads, strict=True)]


class _DecaysInUpdate(_Recorder):
    decoupled_decay_in_update = True


@pytest.mark.parametrize(
    ("cls", "decoupled", "theta_seen", "grad_seen"),
    [
        (_Recorder, True, [2.85, -1.425], [1.0, 1.0]),  # θ(1 − ελ), ε = 0.5, λ = 0.1
        (_Recorder, False, [3.0, -1.5], [1.3, 0.85]),  # g + λθ
        (_DecaysInUpdate, True, [3.0, -1.5], [1.0, 1.0]),  # left to the update
        (_DecaysInUpdate, False, [3.0, -1.5], [1.3, 0.85]),  # L2 still in g
    ],
)
def test_decoupled_decay_can_be_left_to_the_update(cls, decoupled, theta_seen, grad_seen):
    theta = torch.tensor([3.0, -1.5], dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta], lr=0.5, weight_decay=0.1, decoupled_weight_decay=decoupled)
    theta.grad = torch.ones(2, dtype=torch.float64)
    optimizer.step()
    ((param, grad),) = optimizer.seen
    torch.testing.assert_close(param, torch.tensor(theta_seen, dtype=torch.float64))
    torch.testing.assert_close(grad, torch.tensor(grad_seen, dtype=torch.float64))
