"""One run of a comparison: every optimizer from the same initial weights and the same
minibatches for a seed, the curves it records, divergence, and time to target."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from deepdescent.bench import DeviceData, train_run
from deepdescent.models import Model
from deepdescent.problems import (
    DataSource,
    Function2D,
    Setting,
    Target,
    function_problem,
    get_problem,
)


class _Recording(torch.nn.Module):
    """A 6-8-3 network that keeps every training minibatch it is given."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(6, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 3), torch.nn.Softmax(1)
        )

    def forward(self, x):
        if torch.is_grad_enabled():
            self.seen.append(x.clone())
        return self.layers(x)


def _seen_by(problem, optimizer, seed, setting=None):
    """The initial weights and the minibatches, in order, ``optimizer`` was given."""
    seen, initial = [], []

    def build():
        model = Model(_Recording(seen))
        initial.append([p.detach().clone() for p in model.parameters()])
        return model

    recording = dataclasses.replace(problem, build=build)
    data = DeviceData.from_splits(problem.load(DataSource()), "cpu")
    setting = setting or Setting(problem.setting(optimizer).hyperparameters, 16)
    train_run(recording, data, optimizer, setting, seed=seed, epochs=2, target=problem.target)
    # A closure method evaluates one minibatch several times: keep each once.
    batches = [x for i, x in enumerate(seen) if i == 0 or not torch.equal(x, seen[i - 1])]
    return initial[0], batches


def _equal(first, second):
    return len(first) == len(second) and all(
        torch.equal(a, b) for a, b in zip(first, second, strict=True)
    )


def test_for_a_seed_every_optimizer_starts_from_the_same_weights_and_sees_the_same_data(blobs):
    weights, batches = _seen_by(blobs, "sgd", seed=3)
    assert len(batches) == 2 * 10
    for optimizer in ("adam", "lbfgs", "nesterov"):
        other_weights, other_batches = _seen_by(blobs, optimizer, seed=3)
        assert _equal(weights, other_weights), optimizer
        assert _equal(batches, other_batches), optimizer
    other_weights, other_batches = _seen_by(blobs, "sgd", seed=4)
    assert not _equal(weights, other_weights)
    assert not _equal(batches, other_batches)


def test_a_run_records_its_curves_evaluations_and_time_to_target(blobs):
    data = DeviceData.from_splits(blobs.load(DataSource()), "cpu")
    target = Target("val_accuracy", 0.8)
    run = train_run(blobs, data, "sgd", blobs.setting("sgd"), seed=0, epochs=4, target=target)
    curves = run.curves
    assert curves["epoch"] == [0, 1, 2, 3, 4]
    assert curves["evaluations"] == [0, 2, 4, 6, 8], "160 samples in minibatches of 128"
    assert run.evaluations == 8 and run.seconds == curves["time"][-1]
    assert np.all(np.diff(curves["time"]) >= 0) and curves["time"][0] == 0
    reached = [e for e, a in zip(curves["epoch"], curves["val_accuracy"], strict=True) if a >= 0.8]
    assert run.target_epoch == (reached[0] if reached else None)
    assert run.final["val_accuracy"] == curves["val_accuracy"][-1]
    assert run.final["loss"] == curves["loss"][-1]
    assert set(run.final) == {"loss", "accuracy", "val_loss", "val_accuracy"} | {
        "test_loss",
        "test_accuracy",
    }
    assert not run.diverged and run.note == ""


def test_an_unreached_target_is_none():
    problem = get_problem("rosenbrock")
    data = DeviceData.from_splits(problem.load(DataSource()), "cpu")
    run = train_run(
        problem, data, "sgd", problem.setting("sgd"), seed=0, epochs=1, target=problem.target
    )
    assert run.target_epoch is None and run.target_seconds is None
    assert run.curves["val_loss"][-1] > 0.01


def test_a_run_whose_loss_blows_up_stops_and_is_marked_diverged():
    problem = get_problem("rosenbrock")
    data = DeviceData.from_splits(problem.load(DataSource()), "cpu")
    setting = Setting({"lr": 0.1}, 1)
    run = train_run(problem, data, "sgd", setting, seed=0, epochs=3, target=problem.target)
    assert run.diverged_at == 1 and run.diverged
    assert run.curves["epoch"] == [0, 1]
    # fit refused the non-finite step and put the last good weights back: nothing
    # non-finite was recorded, and the note says why the run stopped.
    assert np.isfinite(run.curves["loss"]).all()
    assert run.note.startswith("NonFiniteError: Training stopped at step")
    assert run.final == {}


def test_a_method_that_refuses_a_non_finite_loss_is_marked_diverged():
    """f = x² + y² + 0·log x is finite for x > 0 only; Newton heads for the minimum of
    x² + y², (0, 0), where it is not, until fit refuses the step whose loss is NaN: the
    run diverged in the epoch of the last row recorded (at the weights put back), and
    says why."""
    cliff = Function2D(
        name="cliff",
        formula="x² + y² + 0·log x",
        value=lambda x, y: x**2 + y**2 + 0 * torch.log(x),
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=(1.0, 1.0),
        minima=((0.0, 0.0),),
        minimum=0.0,
    )
    problem = function_problem(cliff)
    data = DeviceData.from_splits(problem.load(DataSource()), "cpu")
    setting = problem.setting("newton")
    run = train_run(problem, data, "newton", setting, seed=0, epochs=3, target=problem.target)
    assert run.diverged_at == len(run.curves["epoch"]) - 1 <= 3
    assert np.isfinite(run.curves["loss"]).all()
    assert run.note.startswith("NonFiniteError: Training stopped at step")
    assert "(last: loss nan" in run.note
    assert run.final == {}


def test_an_error_that_is_not_a_divergence_is_raised(blobs):
    data = DeviceData.from_splits(blobs.load(DataSource()), "cpu")
    with pytest.raises(ValueError, match="the options do not fit SGD"):
        train_run(
            blobs,
            data,
            "sgd",
            Setting({"lr": 0.1, "moment": 1}, 16),
            seed=0,
            epochs=1,
            target=blobs.target,
        )
