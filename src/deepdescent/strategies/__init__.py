"""Optimization strategies and meta-algorithms (Goodfellow et al. §8.4 and §8.7) that act
on a model and its data rather than inside one optimizer step: data-dependent
initialization (:mod:`~deepdescent.strategies.initialization`), supervised pretraining
(:mod:`~deepdescent.strategies.pretraining`) and curricula
(:mod:`~deepdescent.strategies.curriculum`)."""

from __future__ import annotations

from deepdescent.strategies.curriculum import PACINGS, Curriculum, StochasticCurriculum
from deepdescent.strategies.initialization import (
    SignalPropagation,
    initialize_biases,
    lsuv,
    signal_propagation,
)
from deepdescent.strategies.pretraining import (
    HintLoss,
    greedy_supervised_pretraining,
    hint_training,
)

__all__ = [
    "PACINGS",
    "Curriculum",
    "HintLoss",
    "SignalPropagation",
    "StochasticCurriculum",
    "greedy_supervised_pretraining",
    "hint_training",
    "initialize_biases",
    "lsuv",
    "signal_propagation",
]
