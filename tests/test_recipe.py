"""The lecture's recipe in pieces, as the commands share them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.cli import build_parser
from deepdescent.optimizers import SGD
from deepdescent.recipe import DEFAULTS, build_model, make_optimizer, resolve_device


def test_the_defaults_are_what_deepdescent_train_runs():
    parsed = vars(build_parser().parse_args(["train"]))
    assert {name: parsed[name] for name in DEFAULTS} == DEFAULTS


def test_the_lecture_network_and_its_parameter_count():
    model = build_model(784)
    assert [tuple(w.shape) for w in model.get_weights()] == [(784, 32), (32,), (32, 10), (10,)]
    assert model.count_params() == 784 * 32 + 32 + 32 * 10 + 10
    outputs = model(torch.zeros(3, 784))
    np.testing.assert_allclose(outputs.sum(1).detach().numpy(), np.ones(3), rtol=1e-6)


def test_make_optimizer_reads_the_catalogue():
    optimizer = make_optimizer("nesterov", 0.05)
    assert isinstance(optimizer, SGD) and not optimizer.is_bound
    assert optimizer.get_config()["nesterov"] is True and optimizer.learning_rate == 0.05
    with pytest.raises(ValueError, match="do not fit SGD"):
        make_optimizer("sgd", None, {"betas": [0.9, 0.99]})
    with pytest.raises(ValueError, match="Unknown optimizer 'nope'"):
        make_optimizer("nope")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
