r"""Curriculum learning: easy examples first (Goodfellow et al. §8.7.6).

Bengio, Louradour, Collobert & Weston (2009) present a continuation method in the space of
training distributions: start with the examples a person would call easy, and add the
harder ones as training goes on. Here each training example has a difficulty score, and a
*pacing function* g(t) ∈ (0, 1] says which fraction of the examples, easiest first, epoch
t draws from (Hacohen & Weinshall 2019 name it so):

* ``"linear"``: g(t) = min(1, g₀ + (1 − g₀) t/T);
* ``"root"``: g(t) = min(1, √(g₀² + (1 − g₀²) t/T)) (Platanios et al. 2019: fast early);
* ``"step"``: g(t) = g₀ for t < T, then 1 — Bengio et al.'s switch from the easy set to
  the whole training set at epoch T;
* any function of the epoch number.

with g₀ = ``start`` and T = ``epochs``. An epoch keeps its length (as many examples as the
training set): it goes through the pool of the ⌈g(t)·n⌉ easiest examples in random order,
as many times as it takes, so that the number of updates per epoch does not change.

:class:`StochasticCurriculum` is Zaremba & Sutskever's (2014) "combined" strategy: each
example of an epoch comes from the curriculum's pool with probability 1 − ``mix`` and
from the whole training set with probability ``mix``, so that hard examples are seen from
the start and the model does not overfit the easy ones.

Both are :class:`~deepdescent.training.ExampleOrder`\ s: pass one as ``fit``'s
``shuffle`` (``model.fit(x, y, shuffle=Curriculum(difficulty))``). Their epochs are
``fit``'s epoch indices, so ``initial_epoch`` resumes the pace where it was.

References:
    Y. Bengio, J. Louradour, R. Collobert & J. Weston, "Curriculum learning", ICML 2009.
    W. Zaremba & I. Sutskever, "Learning to execute", arXiv:1410.4615 (2014). G. Hacohen
    & D. Weinshall, "On the power of curriculum learning in training deep networks",
    ICML 2019. E. A. Platanios et al., "Competence-based curriculum learning for neural
    machine translation", NAACL 2019. Goodfellow, Bengio & Courville, *Deep Learning*,
    §8.7.6 (2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from deepdescent.utils._checks import check_argument, check_count, check_fraction, is_number
from deepdescent.utils._lookup import lookup

__all__ = ["PACINGS", "Curriculum", "StochasticCurriculum"]

Pacing = Callable[[int], float]


def _linear(start: float, epochs: int) -> Pacing:
    return lambda t: min(1.0, start + (1.0 - start) * t / epochs)


def _root(start: float, epochs: int) -> Pacing:
    return lambda t: min(1.0, math.sqrt(start**2 + (1.0 - start**2) * t / epochs))


def _step(start: float, epochs: int) -> Pacing:
    return lambda t: start if t < epochs else 1.0


#: The pacing functions by name: ``(start, epochs)`` → g.
PACINGS: dict[str, Callable[[float, int], Pacing]] = {
    "linear": _linear,
    "root": _root,
    "step": _step,
}


class Curriculum:
    """Easy examples first, more and harder ones as the epochs go (Bengio et al. 2009).

    Args:
        difficulty: one score per training example (higher: harder), in the order of the
            ``x`` that ``fit`` trains on (after ``validation_split`` took its share).
        pacing: ``"linear"``, ``"root"``, ``"step"`` (see the module docstring), or a
            function of the epoch number returning the fraction of examples in play.
        start: g₀ ∈ (0, 1], the fraction of the easiest examples the first epoch uses.
        epochs: T, the epoch from which every example is in play.

    Ties in difficulty are broken by the examples' order, so the pool is the same on
    every machine.
    """

    def __init__(
        self, difficulty: Any, pacing: str | Pacing = "linear", start: float = 0.2, epochs: int = 5
    ) -> None:
        scores = np.asarray(
            difficulty.detach().cpu() if isinstance(difficulty, torch.Tensor) else difficulty
        )
        check_argument(
            "difficulty",
            f"an array of shape {scores.shape}",
            scores.ndim == 1
            and len(scores) > 0
            and np.issubdtype(scores.dtype, np.number)
            and bool(np.all(np.isfinite(scores))),
            "one finite score per training example (a 1-D array)",
        )
        check_argument("start", start, is_number(start) and 0 < start <= 1, "a number in (0, 1]")
        check_count("epochs", epochs)
        if isinstance(pacing, str):
            self.pacing: Pacing = lookup("pacing", pacing, PACINGS)(float(start), epochs)
        elif callable(pacing):
            self.pacing = pacing
        else:
            raise TypeError(
                f"Invalid pacing: {pacing!r} (expected one of {sorted(PACINGS)} or a function "
                "of the epoch number)"
            )
        self.difficulty = scores
        self.ranked = torch.from_numpy(np.argsort(scores, kind="stable"))

    def check(self, count: int) -> None:
        """``count`` must be the number of difficulty scores."""
        check_argument(
            "difficulty",
            f"{len(self.difficulty)} scores",
            len(self.difficulty) == count,
            f"one per training example: the training data has {count} (after "
            "validation_split, if any)",
        )

    def fraction(self, epoch: int) -> float:
        """g(epoch), the fraction of the examples in play, checked to lie in (0, 1]."""
        value = self.pacing(epoch)
        check_argument("pacing", value, is_number(value) and 0 < value <= 1, "g(t) in (0, 1]")
        return float(value)

    def pool(self, epoch: int) -> torch.Tensor:
        """The indices of the ⌈g(epoch)·n⌉ easiest examples."""
        size = max(1, math.ceil(self.fraction(epoch) * len(self.ranked)))
        return self.ranked[:size]

    def order(self, epoch: int, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` indices: the pool in random order, repeated as needed."""
        return _cycle(self.pool(epoch), count, generator)


class StochasticCurriculum(Curriculum):
    """Zaremba & Sutskever's (2014) combined curriculum: each example of an epoch is drawn
    from the paced pool of :class:`Curriculum` with probability 1 − ``mix``, and uniformly
    from the whole training set with probability ``mix``.

    Args:
        difficulty, pacing, start, epochs: as :class:`Curriculum`.
        mix: the probability that an example comes from the whole training set.
    """

    def __init__(
        self,
        difficulty: Any,
        pacing: str | Pacing = "linear",
        start: float = 0.2,
        epochs: int = 5,
        mix: float = 0.5,
    ) -> None:
        super().__init__(difficulty, pacing, start, epochs)
        self.mix = check_fraction("mix", mix)

    def order(self, epoch: int, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` indices: from the pool in random order, each replaced with probability
        ``mix`` by an index drawn uniformly from all ``count``."""
        paced = _cycle(self.pool(epoch), count, generator)
        anywhere = torch.randint(0, count, (count,), generator=generator)
        uniform = torch.rand(count, generator=generator) < self.mix
        return torch.where(uniform, anywhere, paced)


def _cycle(pool: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` entries of ``pool``: shuffled afresh each pass through it."""
    passes = math.ceil(count / len(pool))
    shuffled = [pool[torch.randperm(len(pool), generator=generator)] for _ in range(passes)]
    return torch.cat(shuffled)[:count]
