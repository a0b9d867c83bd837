"""The hand-written CPU bodies of LAMB, LARS and Adafactor: which tensors they take, that
a build failure falls back or raises, and their iterates against the multi-tensor body
for the options the contract table does not vary (float32 with the contract's own
settings is in test_contract.py's table)."""

from __future__ import annotations

import pytest
import torch

from deepdescent.optimizers import LARS, Adafactor, Lamb, compiled, handwritten
from deepdescent.optimizers.first_order.lamb import _lamb_pass


def _params(dtype=torch.float64):
    """A vector, a matrix and a stack of matrices (Adafactor factors the last two)."""
    torch.manual_seed(0)
    shapes = [(10,), (4, 3), (2, 3, 5)]
    return [torch.randn(*shape, dtype=dtype, requires_grad=True) for shape in shapes]


def _steps(optimizer, params, count=6):
    for step in range(count):
        for group in optimizer.param_groups:
            group["lr"] *= 0.9 if step else 1.0
        for param in params:
            param.grad = torch.sin(3.0 * param.detach() + step)
        optimizer.step()
    return [p.detach().clone() for p in params]


NEEDS_A_BUILD = pytest.mark.skipif(
    handwritten.build_problem() is not None, reason=str(handwritten.build_problem())
)

# -- which tensors a hand-written body takes (no build) ----------------------------------


@NEEDS_A_BUILD
def test_takes_contiguous_cpu_tensors_of_float32_or_float64():
    for dtype in (torch.float32, torch.float64):
        tensors = [[torch.zeros(3, dtype=dtype)], [torch.zeros(3, dtype=dtype)]]
        assert handwritten.takes(_lamb_pass, tensors)
    mixed = [[torch.zeros(3, dtype=torch.float64)], [torch.zeros(3)]]
    assert not handwritten.takes(_lamb_pass, mixed)


@pytest.mark.parametrize(
    "tensor",
    [
        torch.zeros(4, 3).t(),
        torch.zeros(3, dtype=torch.float16),
        torch.zeros(3, device="meta"),
        torch.zeros(0),
    ],
    ids=["transposed", "float16", "meta", "empty"],
)
def test_takes_nothing_else(tensor):
    assert not handwritten.takes(_lamb_pass, [[tensor], [torch.zeros_like(tensor)]])


def test_takes_only_a_registered_kernel():
    def kernel(params, grads):
        pass

    assert not handwritten.takes(kernel, [[torch.zeros(3)], [torch.zeros(3)]])


def test_build_problem_names_a_missing_ninja(monkeypatch):
    real = handwritten.shutil.which
    monkeypatch.setattr(
        handwritten.shutil, "which", lambda name: None if name == "ninja" else real(name)
    )
    problem = handwritten.build_problem()
    assert problem is not None and "ninja" in problem
    assert not handwritten.takes(_lamb_pass, [[torch.zeros(3)], [torch.zeros(3)]])


def test_build_problem_names_a_missing_compiler(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    assert "'no-such-compiler' is not on PATH" in handwritten.build_problem()


# -- a build that fails ---------------------------------------------------------------


@pytest.fixture
def failing_build(monkeypatch):
    """A build that raises, a fresh fallback flag, and a torch.compile that fails too
    (so that the fallback ends on the multi-tensor body without compiling)."""

    def broken_load():
        raise RuntimeError("no ninja today")

    def broken_compile(*args, **kwargs):
        def body(*a, **k):
            raise RuntimeError("no compile today")

        return body

    monkeypatch.setattr(handwritten, "load", broken_load)
    monkeypatch.setattr(handwritten, "build_problem", lambda: None)
    monkeypatch.setattr(compiled, "_by_hand_failed", False)
    monkeypatch.setattr(compiled, "_BODIES", {})
    monkeypatch.setattr(torch, "compile", broken_compile)


def test_a_failed_build_warns_once_and_falls_back(failing_build, monkeypatch):
    monkeypatch.setitem(compiled.COMPILE_MIN_ELEMENTS, "cpu", 0)
    params, reference = _params(), _params()
    with pytest.warns(RuntimeWarning) as warned:
        fallen_back = _steps(Lamb(params, lr=0.05), params)
    messages = [str(w.message) for w in warned]
    assert sum("hand-written body failed to build" in m for m in messages) == 1
    assert any("torch.compile failed" in m for m in messages)
    multi = _steps(Lamb(reference, lr=0.05, fused=False), reference)
    torch.testing.assert_close(fallen_back, multi, rtol=0, atol=0)


def test_a_failed_build_raises_under_fused_true(failing_build):
    params = _params()
    with pytest.raises(RuntimeError, match="no ninja today"):
        _steps(Lamb(params, lr=0.05, fused=True), params, count=1)


# -- iterates (builds once per machine, then loads) ------------------------------------


OPTIONS = [
    pytest.param(Lamb, {"lr": 0.05, "weight_decay": 0.01}, id="lamb"),
    pytest.param(
        Lamb,
        {"lr": 0.05, "weight_decay": 0.01, "decoupled_weight_decay": False},
        id="lamb-l2",
    ),
    pytest.param(Lamb, {"lr": 0.05, "weight_norm_bounds": (0.1, 2.0)}, id="lamb-bounds"),
    pytest.param(LARS, {"lr": 10.0, "weight_decay": 0.01}, id="lars"),
    pytest.param(
        LARS,
        {
            "lr": 10.0,
            "weight_decay": 0.01,
            "decoupled_weight_decay": True,
            "exclude_bias_and_norm": True,
        },
        id="lars-decoupled-excluded",
    ),
    pytest.param(LARS, {"lr": 1.0, "momentum": 0.0}, id="lars-no-momentum"),
    pytest.param(
        LARS, {"lr": 1.0, "lars_adaptation": False, "weight_decay": 0.1}, id="lars-no-adaptation"
    ),
    pytest.param(Adafactor, {"lr": 0.1, "weight_decay": 0.01}, id="adafactor"),
    pytest.param(Adafactor, {"lr": 0.1, "eps_convention": "paper"}, id="adafactor-paper"),
    pytest.param(
        Adafactor,
        {"lr": 0.1, "weight_decay": 0.01, "decoupled_weight_decay": False},
        id="adafactor-l2",
    ),
]


@pytest.mark.compile
@NEEDS_A_BUILD
@pytest.mark.parametrize(("cls", "options"), OPTIONS)
def test_the_handwritten_body_keeps_float64_precision(cls, options, handwritten_calls):
    """Every option of the three methods, on a vector, a matrix and a stack of matrices
    in float64: the hand-written body's iterates equal the multi-tensor body's to 1e-12
    (only the order of the additions in a norm differs), and the parameters' version
    counters move as under torch's in-place ops."""
    fused_params, multi_params = _params(), _params()
    versions = [p._version for p in fused_params]
    fused = _steps(cls(fused_params, fused=True, **options), fused_params)
    multi = _steps(cls(multi_params, fused=False, **options), multi_params)
    assert len(handwritten_calls) == 6
    # written through data pointers, yet counted as in-place changes (autograd's check)
    assert all(p._version > v for p, v in zip(fused_params, versions, strict=True))
    torch.testing.assert_close(fused, multi, rtol=1e-12, atol=1e-14)


@pytest.mark.compile
@NEEDS_A_BUILD
def test_loading_counts_in_the_compile_seconds_of_the_first_optimizer(monkeypatch):
    monkeypatch.setattr(compiled, "_BY_HAND_LOADED", set())
    first_params, second_params = _params(), _params()
    first = Lamb(first_params, lr=0.05, fused=True)
    _steps(first, first_params, count=2)
    second = Lamb(second_params, lr=0.05, fused=True)
    _steps(second, second_params, count=2)
    assert first.compile_seconds > 0.0
    assert second.compile_seconds == 0.0


@pytest.mark.compile
@NEEDS_A_BUILD
@pytest.mark.parametrize("cls", [Lamb, LARS, Adafactor])
def test_tensors_split_over_two_threads_give_the_same_iterates(cls, handwritten_calls):
    """Tensors of several parallel tasks and blocks, with tails (100 003 elements, a
    301 × 333 matrix), on two threads: the partial norms combine to the multi-tensor
    body's iterates (float64, 1e-12)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        results = []
        for fused in (True, False):
            torch.manual_seed(0)
            params = [
                torch.randn(100_003, dtype=torch.float64, requires_grad=True),
                torch.randn(301, 333, dtype=torch.float64, requires_grad=True),
            ]
            results.append(_steps(cls(params, lr=0.05, fused=fused), params, count=3))
    finally:
        torch.set_num_threads(threads)
    assert len(handwritten_calls) == 3
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)
