"""What every wrapper shares (``OptimizerWrapper``), on a minimal wrapper of the test's
own: the base's parameter groups and learning rate, one state dict with the wrapper's
entries under its prefix, the contract delegated to the base, a torch.optim base, the
Keras door and the config."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from deepdescent import optimizers
from deepdescent.optimizers import SGD, Adam, OptimizerWrapper, TrainingNeeds


class Tally(OptimizerWrapper):
    """Steps the base and counts, per parameter with a gradient, the updates it saw."""

    def __init__(self, base_optimizer: Any, label: str = "tally") -> None:
        self.label = label
        super().__init__(base_optimizer)

    def _options(self) -> dict[str, Any]:
        return {"label": self.label}

    @torch.no_grad()
    def step(self, closure=None):
        self._check_bound()
        loss = self.base_optimizer.step(closure)
        self.iterations += 1
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    count = self.state[param].get("count", torch.zeros((), dtype=param.dtype))
                    self.state[param]["count"] = count + 1
        return loss


def _params():
    torch.manual_seed(0)
    return [torch.randn(3, 2, requires_grad=True), torch.randn(2, requires_grad=True)]


def _train(optimizer, params, steps, idle_every=None):
    for k in range(steps):
        optimizer.zero_grad()
        sum((p.sin() * p).sum() for p in params).backward()
        if idle_every is not None and k % idle_every == 0:
            params[1].grad = None
        optimizer.step()


BASES = [
    pytest.param(lambda ps: SGD(ps, lr=0.1, momentum=0.9), id="deepdescent-sgd"),
    pytest.param(lambda ps: torch.optim.Adam(ps, lr=0.01), id="torch-adam"),
]


# -- groups and learning rate -----------------------------------------------------------------


@pytest.mark.parametrize("make_base", BASES)
def test_the_groups_are_the_bases_own_list(make_base):
    params = _params()
    base = make_base(params[:1])
    wrapper = Tally(base)
    assert wrapper.param_groups is base.param_groups
    wrapper.add_param_group({"params": [params[1]], "lr": 0.5})
    assert len(base.param_groups) == 2 and base.param_groups[1]["params"] == [params[1]]
    _train(wrapper, params, 2)
    assert wrapper.iterations == 2
    assert all(wrapper.state[p]["count"] == 2 for p in params)


@pytest.mark.parametrize("make_base", BASES)
def test_the_learning_rate_is_the_bases(make_base):
    base = make_base(_params())
    wrapper = Tally(base)
    assert wrapper.learning_rate == pytest.approx(base.param_groups[0]["lr"])
    wrapper.learning_rate = 0.25
    assert [group["lr"] for group in base.param_groups] == [0.25]
    assert wrapper.learning_rate == 0.25
    with pytest.raises(
        ValueError, match=r"^Invalid (lr|learning_rate): -1\.0 \(expected a number >= 0"
    ):
        wrapper.learning_rate = -1.0


# -- one state dict -------------------------------------------------------------------------


@pytest.mark.parametrize("make_base", BASES)
def test_state_dict_merges_the_wrappers_entries_under_its_prefix_and_resumes(make_base):
    params = _params()
    wrapper = Tally(make_base(params))
    _train(wrapper, params, 5, idle_every=2)  # the vector has a gradient in 2 of 5 steps
    saved = copy.deepcopy(wrapper.state_dict())
    entries = saved["state"]
    assert entries[0]["tally.count"] == 5 and entries[1]["tally.count"] == 2
    base_keys = set(wrapper.base_optimizer.state_dict()["state"][0])
    assert set(entries[0]) == base_keys | {"tally.count"}
    assert saved["iterations"] == 5
    if isinstance(wrapper.base_optimizer, optimizers.Optimizer):
        assert saved["base_iterations"] == wrapper.base_optimizer.iterations == 5
    else:
        assert "base_iterations" not in saved

    twins = [p.detach().clone().requires_grad_() for p in params]
    _train(wrapper, params, 3)
    resumed = Tally(make_base(twins))
    resumed.load_state_dict(saved)
    assert resumed.iterations == 5
    assert [float(resumed.state[p]["count"]) for p in twins] == [5.0, 2.0]
    assert all(
        not any(str(k).startswith("tally.") for k in s)
        for s in resumed.base_optimizer.state.values()
    )
    _train(resumed, twins, 3)
    for ours, theirs in zip(params, twins, strict=True):
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)
    assert resumed.state_dict()["state"][0]["tally.count"] == 8


def test_a_wrapper_of_a_wrapper_of_the_same_kind_refuses_to_merge_colliding_entries():
    params = _params()
    double = Tally(Tally(SGD(params, lr=0.1)))
    _train(double, params, 1)
    with pytest.raises(
        ValueError,
        match=r"Tally wraps another Tally: their state entries 'tally\.count' would collide",
    ):
        double.state_dict()


# -- the contract with the training loop -----------------------------------------------------


class Journaling(SGD):
    """A base that declares needs and records what the loop calls on it."""

    training_needs = TrainingNeeds(autograd=True, model_outputs=True, layer_statistics=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.journal: list = []

    def prepare(self, layers):
        self.journal.append(("prepare", layers))

    def release(self):
        self.journal.append(("release",))

    def use_evaluation_weights(self):
        self.journal.append(("evaluation",))

    def use_training_weights(self):
        self.journal.append(("training",))

    def finalize(self):
        self.journal.append(("finalize",))


def test_needs_and_the_loops_calls_are_delegated_to_the_base():
    base = Journaling(_params(), lr=0.1)
    wrapper = Tally(base)
    assert wrapper.needs() == base.needs() == Journaling.training_needs
    layers = ["a layer record"]
    wrapper.prepare(layers)
    wrapper.use_evaluation_weights()
    wrapper.use_training_weights()
    wrapper.finalize()
    wrapper.release()
    assert base.journal == [
        ("prepare", layers),
        ("evaluation",),
        ("training",),
        ("finalize",),
        ("release",),
    ]


@pytest.mark.parametrize(
    ("base", "needs"),
    [
        (torch.optim.SGD, TrainingNeeds()),
        (torch.optim.LBFGS, TrainingNeeds(closure=True, full_batch=True)),
    ],
)
def test_a_torch_base_needs_what_torch_optimizers_need_and_ignores_the_loops_calls(base, needs):
    wrapper = Tally(base(_params(), lr=0.1))
    assert wrapper.needs() == needs
    for call in (
        lambda: wrapper.prepare([]),
        wrapper.use_evaluation_weights,
        wrapper.use_training_weights,
        wrapper.finalize,
        wrapper.finalize_variable_values,
        wrapper.release,
    ):
        assert call() is None


def test_the_polyak_average_of_the_base_is_the_wrappers():
    params = _params()
    wrapper = Tally(SGD(params, lr=0.1, use_ema=True, ema_momentum=None))
    assert wrapper.use_ema and not Tally(SGD(_params())).use_ema
    _train(wrapper, params, 3)
    wrapper.finalize()
    for param in params:
        torch.testing.assert_close(param.detach(), wrapper.base_optimizer.state[param]["ema"])


# -- the Keras door, config, copies -----------------------------------------------------------


def test_an_unbound_base_makes_an_unbound_wrapper_that_binds_it():
    wrapper = Tally(SGD(learning_rate=0.1))
    assert not wrapper.is_bound and wrapper.learning_rate == 0.1
    with pytest.raises(RuntimeError, match="Tally has no parameters: call bind"):
        wrapper.step()
    params = _params()
    assert wrapper.bind(params) is wrapper
    assert wrapper.is_bound and wrapper.base_optimizer.is_bound
    with pytest.raises(RuntimeError, match="already bound"):
        wrapper.bind(params)


@pytest.mark.parametrize(
    "base", ["adam", {"class_name": "Adam", "config": {"lr": 0.01}}], ids=["name", "config"]
)
def test_a_base_given_by_name_or_config_is_built_unbound(base):
    wrapper = Tally(base)
    assert type(wrapper.base_optimizer) is Adam and not wrapper.is_bound


def test_a_base_that_is_not_an_optimizer_is_refused():
    with pytest.raises(
        TypeError, match=r"^Invalid base_optimizer: 42 \(expected a torch.optim.Optimizer"
    ):
        Tally(42)


def test_config_is_the_serialized_base_and_the_options_and_rebuilds():
    wrapper = Tally(SGD(learning_rate=0.05, momentum=0.5), label="x")
    config = wrapper.get_config()
    assert config == {"base_optimizer": optimizers.serialize(wrapper.base_optimizer), "label": "x"}
    assert Tally.from_config(config).get_config() == config


def test_a_torch_base_has_no_config_but_a_repr():
    wrapper = Tally(torch.optim.Adam([torch.zeros(1, requires_grad=True)]), label="y")
    with pytest.raises(TypeError, match="its base optimizer Adam is not a deepdescent optimizer"):
        wrapper.get_config()
    assert repr(wrapper).startswith("Tally(Adam (") and repr(wrapper).endswith(", label='y')")


@pytest.mark.parametrize("make_base", BASES)
def test_deepcopy_keeps_the_base_optimizer_and_continues_identically(make_base):
    params = _params()
    wrapper = Tally(make_base(params))
    _train(wrapper, params, 3)
    copied = copy.deepcopy({"params": params, "optimizer": wrapper})
    assert copied["optimizer"].base_optimizer is not wrapper.base_optimizer
    _train(wrapper, params, 4)
    _train(copied["optimizer"], copied["params"], 4)
    for ours, theirs in zip(params, copied["params"], strict=True):
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


def test_compile_seconds_are_the_wrappers_and_its_bases():
    """fit reports the seconds a step spent compiling: a wrapper's own passes (Lookahead's
    synchronization) and its base's bodies both count, and neither twice."""
    base = SGD([torch.zeros(3, requires_grad=True)], lr=0.1)
    wrapper = Tally(base)
    assert wrapper.compile_seconds == 0.0
    base._count_compile(2.0)
    wrapper._count_compile(0.5)
    wrapper._count_compile(0.25)
    assert (base.compile_seconds, wrapper.compile_seconds) == (2.0, 2.75)
    assert Tally(torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=0.1)).compile_seconds == 0
