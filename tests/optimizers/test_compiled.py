"""The compiled fused bodies: when they are chosen, what is refused, the fallback, and
that a compiled body is built once (the iterates of every body are compared in
test_contract.py's table)."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from deepdescent.optimizers import RMSprop, compiled
from deepdescent.schedules import ExponentialDecay


def _params(size=12, dtype=torch.float32):
    torch.manual_seed(0)
    return [
        torch.randn(size, dtype=dtype, requires_grad=True),
        torch.randn(3, 2, dtype=dtype, requires_grad=True),
    ]


def _steps(optimizer, params, count=5):
    for step in range(count):
        for param in params:
            param.grad = torch.sin(3.0 * param.detach() + step)
        optimizer.step()
    return [p.detach().clone() for p in params]


@pytest.fixture
def compile_calls(monkeypatch):
    """Records each call of the fused body's run and runs the kernel eagerly instead (its
    decay included), so that the choice of body is tested without compiling."""
    calls = []

    def record(run, kernel, tensors, dynamic, static):
        calls.append(kernel.__name__)
        run._run_eagerly(kernel, tensors, dict(dynamic), static)

    monkeypatch.setattr(compiled.CompiledRun, "__call__", record)
    return calls


# -- what can be compiled, and when ---------------------------------------------------


def test_compile_problem_names_a_missing_compiler(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    problem = compiled.compile_problem("cpu")
    assert problem is not None and "'no-such-compiler' is not on PATH" in problem


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ on this machine")
def test_compile_problem_is_none_with_a_compiler(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    assert compiled.compile_problem("cpu") is None


def test_compile_problem_names_an_unsupported_device():
    assert "not meta" in str(compiled.compile_problem("meta"))


def test_worth_compiling_follows_the_threshold_of_the_device(monkeypatch):
    monkeypatch.setitem(compiled.COMPILE_MIN_ELEMENTS, "cpu", 18)
    assert compiled.worth_compiling([torch.zeros(12), torch.zeros(6)])
    assert not compiled.worth_compiling([torch.zeros(12), torch.zeros(5)])
    assert not compiled.worth_compiling([torch.zeros(100, device="meta")])


def test_the_lecture_network_is_below_the_cpu_threshold():
    """784-32-10: 25 450 elements, far below the size that repays a compile."""
    lecture = [torch.zeros(784, 32), torch.zeros(32), torch.zeros(32, 10), torch.zeros(10)]
    assert sum(p.numel() for p in lecture) == 25_450
    assert not compiled.worth_compiling(lecture)


def _scalars(values, as_tensors):
    return [torch.tensor(v) for v in values] if as_tensors else list(values)


@pytest.mark.parametrize("as_tensors", [False, True], ids=["numbers", "0-d tensors"])
def test_addcdiv_takes_numbers_or_0d_tensors(as_tensors):
    a, b = [torch.randn(5), torch.randn(3)], [torch.rand(5) + 1, torch.rand(3) + 1]
    per_tensor, shared = [torch.ones(5), torch.ones(3)], [torch.ones(5), torch.ones(3)]
    compiled.addcdiv_(per_tensor, a, b, _scalars([0.5, -2.0], as_tensors))
    compiled.addcdiv_(shared, a, b, _scalars([0.5], as_tensors)[0])
    torch.testing.assert_close(per_tensor, [1 + 0.5 * a[0] / b[0], 1 - 2.0 * a[1] / b[1]])
    torch.testing.assert_close(shared, [1 + 0.5 * a[0] / b[0], 1 + 0.5 * a[1] / b[1]])


@pytest.mark.parametrize("as_tensors", [False, True], ids=["numbers", "0-d tensors"])
def test_add_and_lerp_take_numbers_or_0d_tensors(as_tensors):
    ends = [torch.randn(5), torch.randn(3)]
    added, lerped = [torch.ones(5), torch.ones(3)], [torch.ones(5), torch.ones(3)]
    compiled.add_(added, ends, _scalars([0.25], as_tensors)[0])
    compiled.lerp_(lerped, ends, _scalars([0.25, 0.75], as_tensors))
    torch.testing.assert_close(added, [1 + 0.25 * e for e in ends])
    torch.testing.assert_close(lerped, [1 + 0.25 * (ends[0] - 1), 1 + 0.75 * (ends[1] - 1)])


def test_norms_are_the_2_norms_of_the_tensors():
    tensors = [torch.tensor([3.0, 4.0]), torch.tensor([[1.0, 2.0], [2.0, 4.0]])]
    torch.testing.assert_close(compiled.norms(tensors), [torch.tensor(5.0), torch.tensor(5.0)])


# -- the choice of body -----------------------------------------------------------------


def test_fused_none_keeps_small_groups_on_the_multi_tensor_body(compile_calls):
    params = _params()
    _steps(RMSprop(params, lr=0.01), params)
    assert compile_calls == []


def test_fused_none_compiles_groups_above_the_threshold(compile_calls, monkeypatch):
    monkeypatch.setitem(compiled.COMPILE_MIN_ELEMENTS, "cpu", 18)
    params = _params()
    _steps(RMSprop(params, lr=0.01), params, count=2)
    assert compile_calls == ["_rmsprop_pass"] * 2


def test_fused_true_compiles_any_group_and_fused_false_none(compile_calls):
    params = _params()
    _steps(RMSprop(params, lr=0.01, fused=True), params, count=1)
    _steps(RMSprop(params, lr=0.01, fused=False), params, count=1)
    assert compile_calls == ["_rmsprop_pass"]


def test_fused_none_without_a_compiler_runs_the_multi_tensor_body(compile_calls, monkeypatch):
    monkeypatch.setitem(compiled.COMPILE_MIN_ELEMENTS, "cpu", 0)
    monkeypatch.setenv("CXX", "no-such-compiler")
    params = _params()
    _steps(RMSprop(params, lr=0.01), params)
    assert compile_calls == []


@pytest.mark.parametrize("decoupled", [False, True])
def test_the_fused_body_applies_the_weight_decay_once(compile_calls, decoupled):
    config = {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": decoupled}
    fused_params, multi_params = _params(), _params()
    fused = _steps(RMSprop(fused_params, fused=True, **config), fused_params)
    multi = _steps(RMSprop(multi_params, fused=False, **config), multi_params)
    assert compile_calls
    torch.testing.assert_close(fused, multi, rtol=0, atol=0)


# -- what fused=True refuses, before any work -----------------------------------------


def test_fused_true_is_refused_without_a_compiler(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    expected = (
        r"Invalid fused: True \(expected None or False here: RMSprop's fused body is "
        r"compiled, and torch.compile builds CPU bodies with a C\+\+ compiler, and "
        r"'no-such-compiler' is not on PATH"
    )
    with pytest.raises(ValueError, match=expected):
        RMSprop([torch.zeros(3, requires_grad=True)], fused=True)
    spec = RMSprop(fused=True)  # a specification has no tensors yet: refused at bind
    with pytest.raises(ValueError, match=expected):
        spec.bind([torch.zeros(3, requires_grad=True)])


def test_fused_true_is_refused_on_an_unsupported_device():
    with pytest.raises(ValueError, match=r"Invalid fused: True .*cpu and cuda tensors, not meta"):
        RMSprop([torch.zeros(3, device="meta", requires_grad=True)], fused=True)


def test_fused_true_is_refused_for_integer_parameters():
    with pytest.raises(ValueError, match=r"Invalid fused: True .*torch.int64 parameters"):
        RMSprop([torch.zeros(3, dtype=torch.int64)], fused=True)


# -- a compile that fails -----------------------------------------------------------------


@pytest.fixture
def failing_compile(monkeypatch):
    """torch.compile that returns a body raising, and a cache of compiled bodies of the
    test's own."""

    def broken(*args, **kwargs):
        def body(*a, **k):
            raise RuntimeError("no compiler today")

        return body

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(compiled, "_BODIES", {})


def test_a_failed_compile_warns_once_and_runs_the_multi_tensor_body(failing_compile, monkeypatch):
    monkeypatch.setitem(compiled.COMPILE_MIN_ELEMENTS, "cpu", 0)
    config = {"lr": 0.01, "weight_decay": 0.1}
    params, reference = _params(), _params()
    optimizer, multi = RMSprop(params, **config), RMSprop(reference, fused=False, **config)
    with pytest.warns(RuntimeWarning, match="RMSprop: torch.compile failed .*no compiler today"):
        _steps(optimizer, params, count=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second attempt, no second warning
        fallen_back = _steps(optimizer, params, count=4)
    _steps(multi, reference, count=1)
    torch.testing.assert_close(fallen_back, _steps(multi, reference, count=4), rtol=0, atol=0)


def test_a_failed_compile_raises_under_fused_true(failing_compile):
    params = _params()
    with pytest.raises(RuntimeError, match="no compiler today"):
        _steps(RMSprop(params, lr=0.01, fused=True), params, count=1)


# -- real compiles (shared by the session: same shapes and options) -------------------


@pytest.mark.compile
def test_a_compiled_body_is_built_once_and_not_rebuilt_by_a_new_learning_rate():
    """A second optimizer of the same kind and shapes reuses the compiled body, and a
    learning rate that changes every step (a schedule) recompiles nothing."""
    from torch._dynamo.utils import counters

    schedule = ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    first_params, second_params = _params(), _params()
    first = RMSprop(first_params, lr=schedule, fused=True)
    _steps(first, first_params, count=1)
    bodies, graphs = len(compiled._BODIES), counters["stats"]["unique_graphs"]
    second = RMSprop(second_params, lr=schedule, fused=True)
    fused = _steps(second, second_params, count=6)
    assert second.compile_seconds == 0.0
    assert (len(compiled._BODIES), counters["stats"]["unique_graphs"]) == (bodies, graphs)
    reference = _params()
    multi = _steps(RMSprop(reference, lr=schedule, fused=False), reference, count=6)
    torch.testing.assert_close(fused, multi, rtol=1e-6, atol=1e-7)


@pytest.mark.compile
def test_a_compiled_body_keeps_float64_precision():
    """float64 parameters get float64 scalars: the iterates agree to 1e-12."""
    fused_params, multi_params = _params(dtype=torch.float64), _params(dtype=torch.float64)
    fused = _steps(RMSprop(fused_params, lr=0.01, momentum=0.9, fused=True), fused_params)
    multi = _steps(RMSprop(multi_params, lr=0.01, momentum=0.9, fused=False), multi_params)
    torch.testing.assert_close(fused, multi, rtol=1e-12, atol=1e-14)
