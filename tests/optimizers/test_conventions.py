"""convention="torch" / "keras": the peer's iterates at the peer's defaults (torch.optim
itself; NumPy transcriptions of Keras 3's updates), and Keras's optimizer idioms — a
learning rate first, Keras's argument names, Nadam, optimizers.schedules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from optimizers._harness import assert_follows, assert_matches_torch, iterates
from reference import chapter8, keras_optimizers

from deepdescent import optimizers, schedules
from deepdescent.optimizers import CONVENTIONS

TORCH_PEERS = [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "Rprop",
]


@pytest.mark.parametrize("name", TORCH_PEERS)
def test_torch_convention_gives_torch_optims_iterates_at_its_defaults(name):
    ours = getattr(optimizers, name)
    theirs = getattr(torch.optim, name)
    assert_matches_torch(
        lambda p: ours(p, convention="torch"),
        lambda p: theirs(p),
        dtype=torch.float64,
        rtol=1e-9,
        atol=1e-12,
    )


KERAS_PEERS = [
    ("SGD", keras_optimizers.sgd),
    ("Adam", keras_optimizers.adam),
    ("AdamW", keras_optimizers.adamw),
    ("RMSprop", keras_optimizers.rmsprop),
    ("Adagrad", keras_optimizers.adagrad),
    ("Adadelta", keras_optimizers.adadelta),
    ("Adamax", keras_optimizers.adamax),
    ("Nadam", keras_optimizers.nadam),
    ("Lion", keras_optimizers.lion),
]


@pytest.mark.parametrize(("name", "reference"), KERAS_PEERS, ids=[k[0] for k in KERAS_PEERS])
def test_keras_convention_gives_keras_iterates_at_its_defaults(name, reference):
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    expected = reference(theta0, lambda t: f(t)[1], 50)
    ours = iterates(lambda p: getattr(optimizers, name)(p, convention="keras"), f, theta0, 50)
    assert_follows(ours, expected, rtol=1e-10)


def test_the_book_convention_is_the_default():
    assert optimizers.RMSprop(convention="book").get_config() == optimizers.RMSprop().get_config()


def test_explicit_arguments_win_over_the_convention():
    config = optimizers.RMSprop(0.05, convention="torch", eps=1e-3).get_config()
    assert (config["lr"], config["eps"], config["alpha"]) == (0.05, 1e-3, 0.99)


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="convention"):
        optimizers.Adam(convention="jax")


def test_lbfgs_torch_convention_has_torchs_fixed_step():
    assert optimizers.LBFGS(convention="torch").get_config()["line_search_fn"] is None


def test_the_readme_table_lists_every_difference():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, peers in CONVENTIONS.items():
        for peer, arguments in peers.items():
            row = next(
                (line for line in readme.splitlines() if line.startswith(f"| `{name}` | {peer} ")),
                None,
            )
            assert row is not None, f"README lacks the row for {name} / {peer}"
            for argument in arguments:
                assert f"`{argument}`" in row, f"README's {name}/{peer} row lacks {argument}"


def test_a_learning_rate_may_come_first_as_in_keras():
    assert optimizers.Adam(1e-2).learning_rate == 1e-2
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert optimizers.SGD(schedule).learning_rate_schedule is schedule
    with pytest.raises(TypeError, match="both first and by name"):
        optimizers.SGD(0.1, learning_rate=0.2)
    params = [torch.zeros(2, requires_grad=True)]
    assert optimizers.SGD(params, 0.3).is_bound


def test_keras_argument_names():
    adam = optimizers.Adam(beta_1=0.8, beta_2=0.99, epsilon=1e-5, name="my_adam")
    config = adam.get_config()
    assert config["betas"] == (0.8, 0.99) and config["eps"] == 1e-5 and adam.name == "my_adam"
    assert optimizers.Adam(beta_2=0.9).get_config()["betas"] == (0.9, 0.9)
    assert optimizers.RMSprop(rho=0.8).get_config()["alpha"] == 0.8
    assert optimizers.Adadelta(rho=0.8).get_config()["rho"] == 0.8
    with pytest.raises(ValueError, match="not both"):
        optimizers.Adam(betas=(0.9, 0.9), beta_1=0.8)
    with pytest.raises(ValueError, match="not both"):
        optimizers.Adam(eps=1e-3, epsilon=1e-4)


@pytest.mark.parametrize(
    ("cls", "kwargs", "argument", "expected"),
    [
        (optimizers.AdamW, {"epsilon": 1e-7}, "eps", 1e-7),
        (optimizers.NAdam, {"beta_2": 0.9}, "betas", (0.9, 0.9)),
        (optimizers.Lion, {"beta_1": 0.8}, "betas", (0.8, 0.99)),
    ],
)
def test_keras_names_reach_the_torch_argument(cls, kwargs, argument, expected):
    assert cls(learning_rate=0.01, **kwargs).get_config()[argument] == expected


def test_keras_names_a_class_cannot_take_keep_pythons_error():
    # A Keras name with no counterpart in the class is not dropped silently.
    with pytest.raises(TypeError, match="unexpected keyword argument 'epsilon'"):
        optimizers.SGD(epsilon=1e-7)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nesterov_momentum'"):
        optimizers.SGD(nesterov_momentum=True)


def test_keras_spellings_of_names():
    assert optimizers.Nadam is optimizers.NAdam
    assert optimizers.schedules is schedules


def test_apply_binds_a_specification_and_steps_as_keras():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = optimizers.SGD(learning_rate=0.5)
    optimizer.apply([torch.tensor([1.0, 1.0])], [weight])
    torch.testing.assert_close(weight.detach(), torch.tensor([0.5, -2.5]))
    optimizer.apply_gradients([(torch.tensor([2.0, 0.0]), weight)])
    torch.testing.assert_close(weight.detach(), torch.tensor([-0.5, -2.5]))
    with pytest.raises(ValueError, match="other variables"):
        optimizer.apply([torch.ones(1)], [torch.nn.Parameter(torch.zeros(1))])
