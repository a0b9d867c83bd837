"""The contract every optimizer of the catalogue keeps, driven by one table."""

from __future__ import annotations

import copy

import pytest
import torch

from deepdescent.optimizers import Lookahead, Optimizer, catalogue, compiled, handwritten

# Every entry of the catalogue with its contract settings, and the variants it names:
# case name → (entry, constructor kwargs that make the loss fall on the test problems).
SETTINGS = {
    **{entry.name: (entry, entry.contract) for entry in catalogue.CATALOGUE.values()},
    **{
        variant: (entry, kwargs)
        for entry in catalogue.CATALOGUE.values()
        for variant, kwargs in entry.variants.items()
    },
}


def make(name, params, **overrides):
    entry, kwargs = SETTINGS[name]
    return entry.build(params, **{**kwargs, **overrides})


CASES = list(SETTINGS)


def quadratic(params):
    (x,) = params
    scales = torch.linspace(1.0, 10.0, x.numel(), dtype=x.dtype)
    return 0.5 * (scales * x**2).sum()


def rosenbrock(params):
    (x,) = params
    return ((1 - x[:-1]) ** 2 + 10.0 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def run(optimizer, params, loss_fn, steps):
    for _ in range(steps):

        def closure():
            optimizer.zero_grad()
            value = loss_fn(params)
            value.backward()
            return value

        optimizer.step(closure)
    return loss_fn(params).item()


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(
    ("loss_fn", "start"), [(quadratic, 1.0), (rosenbrock, -0.5)], ids=["quadratic", "rosenbrock"]
)
def test_loss_goes_down(name, loss_fn, start):
    params = [torch.full((10,), start, requires_grad=True)]
    before = loss_fn(params).item()
    after = run(make(name, params), params, loss_fn, 200)
    assert after < 0.5 * before


@pytest.mark.parametrize("name", CASES)
def test_matrix_parameters_descend(name):
    """A 2-D parameter, for the methods that treat matrices apart (Muon, Adafactor,
    Shampoo): least squares ‖AW − B‖² from W = 0."""
    torch.manual_seed(0)
    a, b = torch.randn(20, 6), torch.randn(20, 4)
    params = [torch.zeros(6, 4, requires_grad=True)]

    def least_squares(ps):
        return ((a @ ps[0] - b) ** 2).mean()

    before = least_squares(params).item()
    assert run(make(name, params), params, least_squares, 200) < 0.9 * before


@pytest.mark.parametrize("name", CASES)
def test_multi_tensor_body_equals_per_tensor_body(name):
    results = []
    for flags in ({"foreach": False, "fused": False}, {"fused": False}, {}):
        torch.manual_seed(0)
        params = [torch.randn(10, dtype=torch.float64, requires_grad=True)]
        run(make(name, params, **flags), params, rosenbrock, 30)
        results.append(params[0].detach())
    for other in results[1:]:
        torch.testing.assert_close(other, results[0], rtol=1e-10, atol=1e-12)


def _has_compiled_body(name):
    optimizer = make(name, None)
    if isinstance(optimizer, Lookahead):
        return True  # the synchronization of the slow weights
    return isinstance(optimizer, Optimizer) and optimizer._has_compiled_body()


def _has_handwritten_body(name):
    """Whether the case's multi-tensor kernel has a hand-written CPU body (registered from
    the module of its class)."""
    module = SETTINGS[name][0].cls.__module__
    return any(kernel.__module__ == module for kernel in handwritten.BODIES)


COMPILED = [case for case in CASES if _has_compiled_body(case)]
NEEDS_A_BUILD = pytest.mark.skipif(
    handwritten.build_problem() is not None, reason=str(handwritten.build_problem())
)
# Every fused body: the compiled one of each case, and the hand-written one where it
# exists (which then runs in the compiled one's place on CPU).
FUSED_BODIES = [
    *(pytest.param(name, "compiled", id=f"{name}-compiled") for name in COMPILED),
    *(
        pytest.param(name, "handwritten", id=f"{name}-handwritten", marks=NEEDS_A_BUILD)
        for name in COMPILED
        if _has_handwritten_body(name)
    ),
]
# Bit for bit: no operation that inductor's CPU code evaluates with a fused multiply-add
# where the eager kernel rounds twice (addcdiv, addcmul with a non-trivial product).
BIT_EXACT = {"rprop", "lion", "lookahead", "lookahead_momentum"}


@pytest.fixture
def fused_body(monkeypatch, request):
    """Selects the fused body of the case: ``compiled`` takes the hand-written bodies
    away; ``handwritten`` records each call of one. Returns the recorded calls."""
    if request.param == "compiled":
        monkeypatch.setattr(handwritten, "BODIES", {})
        return []
    return request.getfixturevalue("handwritten_calls")


@pytest.mark.compile
@pytest.mark.filterwarnings("error::RuntimeWarning")  # a failed compile warns, runs eagerly
@pytest.mark.parametrize(("name", "fused_body"), FUSED_BODIES, indirect=["fused_body"])
def test_fused_body_equals_multi_tensor_body(name, fused_body, monkeypatch):
    """Each fused body (forced for these small tensors by a zero size threshold, which
    Lookahead's synchronization follows too) against the multi-tensor body, in float32,
    with weight decay and a learning rate that changes every step: equal to 1e-6
    relative (1e-7 absolute near 0), bit for bit where the operations round alike. Same
    shapes and options in every run: one compile per case per session, and the
    hand-written bodies built once per machine."""
    monkeypatch.setitem(compiled.COMPILE_MIN_ELEMENTS, "cpu", 0)
    decay = {} if SETTINGS[name][0].cls is Lookahead else {"weight_decay": 0.01}
    results = []
    for fused in (False, None):
        torch.manual_seed(0)
        params = [torch.randn(10, requires_grad=True), torch.randn(4, 3, requires_grad=True)]
        optimizer = make(name, params, fused=fused, **decay)
        for step in range(8):
            for group in optimizer.param_groups:
                group["lr"] *= 0.9 if step else 1.0
            run(optimizer, params, lambda ps: quadratic([ps[0]]) + (ps[1] ** 2).sum(), 1)
        results.append([p.detach() for p in params])
    if handwritten.BODIES:
        assert len(fused_body) == 8  # the hand-written body ran every fused step
    else:
        assert any(
            key[0] is type(optimizer) and body is not None for key, body in compiled._BODIES.items()
        )
    exact = name in BIT_EXACT
    for fused_result, multi_result in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(
            fused_result, multi_result, rtol=0 if exact else 1e-6, atol=0 if exact else 1e-7
        )


@pytest.mark.parametrize("name", CASES)
def test_state_dict_round_trip_continues_identically(name):
    params = [torch.linspace(-1, 1, 10, requires_grad=True)]
    optimizer = make(name, params)
    run(optimizer, params, rosenbrock, 10)
    state = copy.deepcopy(optimizer.state_dict())
    twin = [params[0].detach().clone().requires_grad_()]
    run(optimizer, params, rosenbrock, 10)
    resumed = make(name, twin)
    resumed.load_state_dict(state)
    run(resumed, twin, rosenbrock, 10)
    torch.testing.assert_close(twin[0], params[0], rtol=0, atol=0)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_are_kept(name, dtype):
    params = [torch.linspace(-1, 1, 10, dtype=dtype, requires_grad=True)]
    optimizer = make(name, params)
    run(optimizer, params, rosenbrock, 3)
    assert params[0].dtype == dtype
    for value in optimizer.state[params[0]].values():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim():
            assert value.dtype == dtype and value.device == params[0].device


@pytest.mark.parametrize("name", CASES)
def test_param_groups_and_parameters_without_gradients(name):
    moving = torch.ones(10, requires_grad=True)
    fixed = torch.ones(10, requires_grad=True)
    idle = torch.ones(10, requires_grad=True)
    optimizer = make(
        name, [{"params": [moving]}, {"params": [fixed], "lr": 0.0}, {"params": [idle]}]
    )

    def closure():
        optimizer.zero_grad()
        value = quadratic([moving]) + (fixed**2).sum()
        value.backward()
        return value

    for _ in range(3):
        optimizer.step(closure)
    assert not torch.equal(moving.detach(), torch.ones(10))
    torch.testing.assert_close(fixed.detach(), torch.ones(10))
    torch.testing.assert_close(idle.detach(), torch.ones(10))
    assert idle not in optimizer.state or not optimizer.state[idle]


@pytest.mark.parametrize("name", CASES)
def test_keras_door_spec_binds_later(name):
    spec = make(name, None)
    assert not spec.is_bound
    params = [torch.full((10,), 1.0, requires_grad=True)]
    spec.bind(params)
    before = quadratic(params).item()
    assert run(spec, params, quadratic, 50) < before


# Second-order methods decide on the host by design: line searches compare loss values,
# Newton and Shampoo factor matrices, K-FAC inverts its factors.
@pytest.mark.parametrize(
    "name", [case for case in CASES if SETTINGS[case][0].family != "second_order"]
)
def test_a_step_never_synchronizes_with_the_host(name, monkeypatch):
    """Nothing in a step reads a tensor's value on the host (on a GPU that would stall the
    device every step): every such read is made to fail."""
    params = [torch.linspace(-1, 1, 10, requires_grad=True)]
    optimizer = make(name, params)

    def closure():
        optimizer.zero_grad()
        value = rosenbrock(params)
        value.backward()
        return value

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronization in a step")

    for attribute in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, attribute, refuse)
    for _ in range(3):
        optimizer.step(closure)
