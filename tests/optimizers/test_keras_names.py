"""Keras's argument names that an optimizer does not take are refused with the name to
use, before the constructor runs; names an optimizer does take pass."""

from __future__ import annotations

import pytest

from deepdescent import optimizers


@pytest.mark.parametrize(
    ("cls", "kwargs", "hint"),
    [
        (optimizers.Adam, {"beta_1": 0.8}, r"beta_1 -> betas=\(beta_1, beta_2\)"),
        (optimizers.AdamW, {"epsilon": 1e-7}, "epsilon -> eps"),
        (optimizers.RMSprop, {"rho": 0.95}, "rho -> alpha"),
        (optimizers.NAdam, {"beta_2": 0.9}, "betas"),
    ],
)
def test_keras_names_get_the_torch_name(cls, kwargs, hint):
    with pytest.raises(TypeError, match=rf"{cls.__name__} got Keras's argument name.*{hint}"):
        cls(learning_rate=0.01, **kwargs)


def test_names_an_optimizer_takes_are_not_touched():
    assert optimizers.Adadelta(rho=0.8).get_config()["rho"] == 0.8


def test_other_unknown_names_keep_pythons_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'nesterov_momentum'"):
        optimizers.SGD(nesterov_momentum=True)
