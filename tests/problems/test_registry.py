"""The table of training problems: the networks, the noisy quadratic and every 2-D
function, looked up by name, each with a working setting for every optimizer of the
catalogue."""

from __future__ import annotations

import pytest

from deepdescent.optimizers import catalogue
from deepdescent.problems import FUNCTIONS, PROBLEMS, get_problem
from deepdescent.recipe import make_optimizer


def test_the_table_holds_the_networks_the_noisy_quadratic_and_every_2d_function():
    assert list(PROBLEMS)[:4] == [
        "lecture_mlp",
        "logistic_regression",
        "deep_relu_mlp",
        "noisy_quadratic",
    ]
    assert set(PROBLEMS) == {*list(PROBLEMS)[:4], *FUNCTIONS}
    assert get_problem("Lecture-MLP") is PROBLEMS["lecture_mlp"]
    with pytest.raises(ValueError, match=r"Unknown problem 'mlp'.*Valid names: beale, booth"):
        get_problem("mlp")


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_every_optimizer_of_the_catalogue_has_a_setting_that_builds(problem):
    for name in catalogue.names():
        setting = PROBLEMS[problem].setting(name)
        assert setting.batch_size is None or setting.batch_size >= 1
        make_optimizer(name, options=setting.hyperparameters)
