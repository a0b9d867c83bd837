"""Every curvature method reaches the optimum of L2-regularized logistic regression (a
convex problem with a unique minimum) that scipy.optimize.minimize finds, to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch
import torch.nn.functional as F

from deepdescent.layers.recording import recordable_layers
from deepdescent.optimizers import KFAC, CoordinateDescent, HessianFree, Shampoo
from deepdescent.optimizers.contract import ModelOutputs

LAM = 0.1


def _problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * np.linspace(1.0, 3.0, 5)
    t = (x @ rng.normal(size=5) + rng.normal(size=200) > 0).astype(np.float64)
    return torch.from_numpy(x), torch.from_numpy(t)


def _objective(net, x, t):
    return F.binary_cross_entropy_with_logits(net(x).squeeze(1), t) + 0.5 * LAM * (
        net.weight.pow(2).sum() + net.bias.pow(2).sum()
    )


def _scipy_optimum(x, t):
    def fun(theta):
        w = torch.tensor(theta, requires_grad=True)
        z = x @ w[:-1] + w[-1]
        value = F.binary_cross_entropy_with_logits(z, t) + 0.5 * LAM * w.pow(2).sum()
        value.backward()
        return value.item(), w.grad.numpy()

    result = scipy.optimize.minimize(
        fun, np.zeros(6), jac=True, method="BFGS", options={"gtol": 1e-12}
    )
    return result.x


def _net():
    net = torch.nn.Linear(5, 1).double()
    torch.nn.init.zeros_(net.weight)
    torch.nn.init.zeros_(net.bias)
    return net


def _train(make, steps, step_kwargs=None):
    x, t = _problem()
    net = _net()
    optimizer = make(net)

    def closure():
        optimizer.zero_grad()
        value = _objective(net, x, t)
        value.backward()
        return value

    for _ in range(steps):
        optimizer.step(closure, **(step_kwargs(net, x, t) if step_kwargs else {}))
    return np.concatenate([net.weight.detach().numpy().ravel(), net.bias.detach().numpy()])


def _hf_outputs(net, x, t):
    """Hessian-free's plain-loop door: the outputs and the loss as a function of them,
    so its CG runs on exact Gauss-Newton products."""

    def loss_of_outputs(z):
        return F.binary_cross_entropy_with_logits(z.squeeze(1), t) + 0.5 * LAM * (
            net.weight.pow(2).sum() + net.bias.pow(2).sum()
        )

    return {"model_outputs": ModelOutputs(lambda: net(x), loss_of_outputs)}


def _kfac(net):
    optimizer = KFAC(
        net.parameters(), lr=0.5, momentum=0.0, damping=1e-4, kl_clip=None, inverse_update_freq=1
    )
    optimizer.prepare(recordable_layers(net))
    return optimizer


CASES = {
    "coordinate_descent": (lambda net: CoordinateDescent(net.parameters()), 20, None),
    "coordinate_descent_coordinates": (
        lambda net: CoordinateDescent(net.parameters(), blocks="coordinate"),
        40,
        None,
    ),
    "hessian_free": (lambda net: HessianFree(net.parameters(), max_cg_iter=20), 30, _hf_outputs),
    "kfac": (_kfac, 300, None),
    "shampoo": (
        lambda net: Shampoo(net.parameters(), lr=1.0, grafting=None, precondition_frequency=1),
        2000,
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reaches_the_scipy_optimum(name):
    make, steps, step_kwargs = CASES[name]
    x, t = _problem()
    np.testing.assert_allclose(_train(make, steps, step_kwargs), _scipy_optimum(x, t), atol=1e-6)
