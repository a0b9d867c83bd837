"""A classification problem small enough to compare optimizers on in a fraction of a
second: three Gaussian blobs in 6 dimensions, a 6-8-3 network."""

from __future__ import annotations

import numpy as np
import pytest

from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.problems import Splits, Target, TrainingProblem
from deepdescent.problems.fashion_mnist import lecture_setting


def _blobs(source):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=2.0, size=(3, 6))
    labels = rng.integers(0, 3, size=240)
    x = (centers[labels] + rng.normal(size=(240, 6))).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[labels]
    return Splits(x[:160], y[:160], x[160:200], y[160:200], x[200:], y[200:])


def _network():
    return Sequential(
        [Dense(8, activation="sigmoid", input_shape=(6,)), Dense(3, activation="softmax")]
    )


@pytest.fixture(scope="session")
def blobs():
    """The problem (immutable, so shared); each optimizer runs with the catalogue's
    lecture recipe."""
    return TrainingProblem(
        name="blobs",
        summary="three Gaussian blobs",
        load=_blobs,
        build=_network,
        loss="categorical_crossentropy",
        metrics=("accuracy",),
        target=Target("val_accuracy", 0.9),
        setting=lecture_setting,
    )
