"""The optimizer base's shared behaviour: both doors, clipping, weight decay, state."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from deepdescent import optimizers
from deepdescent.optimizers import SGD
from deepdescent.optimizers.contract import TrainingNeeds


def _params(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return [
        torch.randn(4, 3, dtype=dtype, requires_grad=True),
        torch.randn(3, dtype=dtype, requires_grad=True),
    ]


def _set_grads(params, grads):
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()


def test_spec_binds_later_and_refuses_to_step_before():
    spec = SGD(learning_rate=0.1)
    assert not spec.is_bound and "not bound" in repr(spec)
    with pytest.raises(RuntimeError, match="bind"):
        spec.step()
    params = _params()
    spec.bind(params)
    _set_grads(params, [torch.ones(4, 3), torch.ones(3)])
    before = params[1].detach().clone()
    spec.step()
    torch.testing.assert_close(params[1].detach(), before - 0.1)
    with pytest.raises(RuntimeError, match="already bound"):
        spec.bind(params)


def test_lr_and_learning_rate_together_are_refused():
    with pytest.raises(ValueError, match="either lr or learning_rate"):
        SGD(lr=0.1, learning_rate=0.1)


def test_get_by_name_suggests_the_closest():
    assert isinstance(optimizers.get("SGD"), SGD)
    with pytest.raises(ValueError, match=r"Did you mean 'sgd'\?.*Valid names"):
        optimizers.get("sdg")
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(3)


def test_clipvalue_clamps_every_element():
    params = _params()
    grads = [torch.linspace(-3, 3, 12).reshape(4, 3), torch.tensor([0.1, -5.0, 2.0])]
    _set_grads(params, grads)
    before = [p.detach().clone() for p in params]
    SGD(params, lr=1.0, clipvalue=1.0).step()
    for p, b, g in zip(params, before, grads, strict=True):
        torch.testing.assert_close(p.detach(), b - g.clamp(-1, 1))


def test_clipnorm_rescales_each_tensor_like_keras():
    params = _params()
    grads = [torch.full((4, 3), 2.0), torch.tensor([0.1, 0.2, 0.2])]
    _set_grads(params, grads)
    before = [p.detach().clone() for p in params]
    SGD(params, lr=1.0, clipnorm=1.0).step()
    # Keras: g * clipnorm / max(‖g‖, clipnorm), per tensor.
    for p, b, g in zip(params, before, grads, strict=True):
        expected = g * 1.0 / max(np.linalg.norm(g.numpy()), 1.0)
        torch.testing.assert_close(p.detach(), b - expected)


def test_global_clipnorm_matches_torch_clip_grad_norm():
    ours, theirs = _params(), _params()
    grads = [torch.randn(4, 3) * 10, torch.randn(3) * 10]
    _set_grads(ours, grads)
    _set_grads(theirs, grads)
    SGD(ours, lr=0.5, global_clipnorm=2.0).step()
    torch.nn.utils.clip_grad_norm_(theirs, 2.0)
    torch.optim.SGD(theirs, lr=0.5).step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)


def test_decoupled_weight_decay_shrinks_before_the_step():
    params = _params()
    grads = [torch.randn(4, 3), torch.randn(3)]
    _set_grads(params, grads)
    before = [p.detach().clone() for p in params]
    SGD(params, lr=0.1, weight_decay=0.5, decoupled_weight_decay=True).step()
    for p, b, g in zip(params, before, grads, strict=True):
        torch.testing.assert_close(p.detach(), b * (1 - 0.1 * 0.5) - 0.1 * g)


def _run(optimizer, params, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        sum((p.sin() * p).sum() for p in params).backward()
        optimizer.step()


def test_state_dict_round_trip_continues_identically():
    params = _params()
    optimizer = SGD(params, lr=0.05, momentum=0.9)
    _run(optimizer, params, 5)
    saved_params = [p.detach().clone().requires_grad_() for p in params]
    saved_state = copy.deepcopy(optimizer.state_dict())
    assert saved_state["iterations"] == 5
    _run(optimizer, params, 5)
    resumed = SGD(saved_params, lr=0.05, momentum=0.9)
    resumed.load_state_dict(saved_state)
    assert resumed.iterations == 5
    _run(resumed, saved_params, 5)
    for a, b in zip(params, saved_params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_param_groups_dtype_and_missing_gradients():
    a = torch.ones(3, dtype=torch.float64, requires_grad=True)
    b = torch.ones(3, dtype=torch.float64, requires_grad=True)
    frozen = torch.ones(3, dtype=torch.float64, requires_grad=True)
    optimizer = SGD([{"params": [a], "lr": 0.1}, {"params": [b, frozen], "lr": 1.0}])
    a.grad, b.grad = torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    optimizer.step()
    assert a.dtype == torch.float64
    torch.testing.assert_close(a.detach(), torch.full((3,), 0.9, dtype=torch.float64))
    torch.testing.assert_close(b.detach(), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(frozen.detach(), torch.ones(3, dtype=torch.float64))


def test_learning_rate_setter_updates_every_group():
    optimizer = SGD(
        [
            {"params": [torch.zeros(1, requires_grad=True)]},
            {"params": [torch.zeros(1, requires_grad=True)], "lr": 3.0},
        ]
    )
    optimizer.learning_rate = 0.5
    assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.5]
    assert optimizer.learning_rate == 0.5


def test_config_round_trip_rebuilds_the_same_optimizer():
    optimizer = SGD(learning_rate=0.2, momentum=0.8, nesterov=True, clipnorm=1.5)
    rebuilt = optimizers.get(optimizers.serialize(optimizer))
    assert rebuilt.get_config() == optimizer.get_config()
    assert rebuilt.clipnorm == 1.5


def test_closure_is_required_by_closure_methods():
    class NeedsClosure(SGD):
        training_needs = TrainingNeeds(closure=True)

    optimizer = NeedsClosure([torch.zeros(1, requires_grad=True)])
    with pytest.raises(RuntimeError, match="closure"):
        optimizer.step()


def test_a_scheduled_learning_rate_is_not_overwritten_by_a_number():
    from deepdescent.schedules import ExponentialDecay

    optimizer = SGD(
        [torch.zeros(1, requires_grad=True)],
        learning_rate=ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5),
    )
    with pytest.raises(TypeError, match="schedule"):
        optimizer.learning_rate = 0.3
    optimizer.learning_rate = ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    assert optimizer.learning_rate == 1.0


def test_param_group_errors():
    shared = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [shared]}, {"params": [shared]}])
    with pytest.raises(TypeError, match="ordered collection"):
        SGD({shared})
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([shared * 2])


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_fitting_never_imports_dynamo(optimizer):
    """torch.optim's decorated helpers import torch._dynamo (about 1.5 s) on first use;
    the base's own add_param_group and zero_grad keep training free of that cost, and a
    small model never compiles a fused body (RMSprop has one)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from deepdescent.layers import Dense\n"
        "from deepdescent.models import Sequential\n"
        "m = Sequential([Dense(3, activation='softmax', input_shape=(4,))])\n"
        f"m.compile(optimizer='{optimizer}', loss='sparse_categorical_crossentropy')\n"
        "m.fit(np.ones((8, 4), 'float32'), np.zeros(8, 'int64'), epochs=2, verbose=0)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"


def _quadratic_grads(params):
    return [2.0 * p.detach() + 1.0 for p in params]


def test_gradient_accumulation_updates_once_with_the_mean_gradient():
    params, reference = _params(), _params()
    accumulating = SGD(params, lr=0.1, momentum=0.5, gradient_accumulation_steps=3)
    plain = SGD(reference, lr=0.1, momentum=0.5)
    for round_ in range(4):
        grads = [[torch.randn_like(p) for p in params] for _ in range(3)]
        for k, g in enumerate(grads):
            _set_grads(params, g)
            accumulating.step()
            assert accumulating.iterations == round_ + (k == 2)
        _set_grads(reference, [sum(gs) / 3 for gs in zip(*grads, strict=True)])
        plain.step()
        for a, b in zip(params, reference, strict=True):
            torch.testing.assert_close(a, b)


def test_a_state_dict_taken_mid_accumulation_resumes_it():
    """Two of three gradients summed, then saved: the loaded optimizer updates on the
    next call with the mean of all three (not of the one it saw)."""
    params, copies = _params(), _params()
    first = SGD(params, lr=0.1, gradient_accumulation_steps=3)
    grads = [[torch.randn_like(p) for p in params] for _ in range(3)]
    for g in grads[:2]:
        _set_grads(params, g)
        first.step()
    state = copy.deepcopy(first.state_dict())
    assert state["accumulated"] == 2
    second = SGD(copies, lr=0.1, gradient_accumulation_steps=3)
    second.load_state_dict(state)
    for optimizer, tensors in ((first, params), (second, copies)):
        _set_grads(tensors, grads[2])
        optimizer.step()
        assert optimizer.iterations == 1
    for a, b in zip(params, copies, strict=True):
        assert torch.equal(a, b)
    expected = _params()[0].detach() - 0.1 * sum(g[0] for g in grads) / 3
    torch.testing.assert_close(params[0].detach(), expected)


def test_a_torch_adam_state_dict_continues_in_deepdescent_adam_bit_identically():
    """torch.optim.Adam's dict lacks deepdescent's own group options (eps_hat): they
    keep this optimizer's values, and its tensor step counts become ints."""
    torch_params, ours = _params(), _params()
    reference = torch.optim.Adam(torch_params, lr=0.1, foreach=False)
    for _ in range(3):
        _set_grads(torch_params, _quadratic_grads(torch_params))
        reference.step()
    for mine, theirs in zip(ours, torch_params, strict=True):
        mine.data.copy_(theirs.detach())
    adam = optimizers.Adam(ours, lr=0.1, foreach=False, fused=False)
    adam.load_state_dict(copy.deepcopy(reference.state_dict()))
    for _ in range(3):
        for tensors, optimizer in ((torch_params, reference), (ours, adam)):
            _set_grads(tensors, _quadratic_grads(tensors))
            optimizer.step()
    for a, b in zip(ours, torch_params, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("momentum", [0.9, None])
def test_polyak_averaging_of_the_iterates(momentum):
    """θ̂ after t updates: Keras's EMA (first update copies θ) or the arithmetic mean
    (1/t) Σ θ(i) of §8.7.3, against the iterates recorded here."""
    params = _params(dtype=torch.float64)
    optimizer = SGD(params, lr=0.1, use_ema=True, ema_momentum=momentum)
    iterates = []
    for _ in range(6):
        _set_grads(params, _quadratic_grads(params))
        optimizer.step()
        iterates.append([p.detach().clone() for p in params])
    for index, param in enumerate(params):
        path = [step[index] for step in iterates]
        if momentum is None:
            expected = sum(path) / len(path)
        else:
            expected = path[0]
            for theta in path[1:]:
                expected = momentum * expected + (1 - momentum) * theta
        torch.testing.assert_close(optimizer.state[param]["ema"], expected)
    optimizer.finalize_variable_values()
    torch.testing.assert_close(params[0].detach(), optimizer.state[params[0]]["ema"])


def test_ema_overwrite_frequency_copies_the_average_in():
    params = _params()
    optimizer = SGD(params, lr=0.1, use_ema=True, ema_overwrite_frequency=2)
    for _ in range(2):
        _set_grads(params, _quadratic_grads(params))
        optimizer.step()
    torch.testing.assert_close(params[1].detach(), optimizer.state[params[1]]["ema"])


def test_state_dict_is_matched_by_parameter_name():
    """A checkpoint taken with parameters in one order loads into an optimizer built with
    them in another, and training continues identically."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(8, 3)
    optimizer = SGD(list(model.named_parameters()), lr=0.1, momentum=0.9)

    def train(opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()

    train(optimizer, 3)
    saved_weights = copy.deepcopy(model.state_dict())
    saved_state = copy.deepcopy(optimizer.state_dict())
    train(optimizer, 3)
    expected = copy.deepcopy(model.state_dict())
    model.load_state_dict(saved_weights)
    reordered = SGD(list(reversed(list(model.named_parameters()))), lr=0.1, momentum=0.9)
    reordered.load_state_dict(saved_state)
    train(reordered, 3)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=0)


def test_invalid_base_options_name_the_argument():
    for kwargs, argument in [
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
        ({"ema_momentum": 1.5}, "ema_momentum"),
        ({"clipnorm": -1.0}, "clipnorm"),
    ]:
        with pytest.raises(ValueError, match=f"Invalid {argument}"):
            SGD(**kwargs)


def test_closure_methods_refuse_gradient_accumulation_and_bad_losses():
    class NeedsClosure(SGD):
        training_needs = TrainingNeeds(closure=True)

    with pytest.raises(ValueError, match="Invalid gradient_accumulation_steps"):
        NeedsClosure(gradient_accumulation_steps=2)
    optimizer = NeedsClosure([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="non-finite loss"):
        optimizer._begin_closure_step(lambda: torch.tensor(float("nan")))
    with pytest.raises(ValueError, match="scalar"):
        optimizer._begin_closure_step(lambda: torch.zeros(3))


@pytest.mark.parametrize("option", ["clipvalue", "clipnorm", "global_clipnorm"])
def test_an_infinite_clipping_threshold_means_no_clipping(option):
    """inf / inf would make every weight NaN: inf clips nothing, exactly as None."""
    params, reference = _params(), _params()
    clipped = SGD(params, lr=0.1, **{option: math.inf})
    plain = SGD(reference, lr=0.1)
    for tensors, optimizer in ((params, clipped), (reference, plain)):
        _set_grads(tensors, [torch.full_like(p, 1e3) for p in tensors])
        optimizer.step()
    for a, b in zip(params, reference, strict=True):
        assert torch.equal(a, b)
    assert getattr(clipped, option) is None and option not in clipped.get_config()


@pytest.mark.parametrize("name", optimizers.catalogue.names())
def test_numpy_scalars_are_accepted_wherever_a_number_is(name):
    """np.float32 / np.int64 hyperparameters (as a grid search hands them over) build the
    same optimizer as Python numbers, with a JSON-safe config."""
    entry = optimizers.catalogue.info(name)
    options = {"lr": 0.01, **entry.lecture.kwargs}
    as_numpy = {
        key: np.float32(value) if type(value) is float else np.int64(value)
        for key, value in options.items()
        if type(value) in (float, int)
    }
    optimizer = entry.build(None, **{**options, **as_numpy})
    json.dumps(optimizer.get_config())
    assert optimizer.learning_rate == pytest.approx(options["lr"])
