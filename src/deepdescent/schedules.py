"""Learning-rate schedules: ε_k as a function of k, the number of updates done so far.

A schedule is a callable ``schedule(k) -> float`` evaluated on the host in plain Python
(no tensor, no device sync), so an optimizer can call it at every step. Pass one as an
optimizer's ``learning_rate`` (it is read before each update with ``k = iterations``), or
wrap one in :class:`~deepdescent.callbacks.LearningRateScheduler` to change the rate per
epoch instead.

The book's schedule is :class:`LinearDecay` (Goodfellow et al., *Deep Learning*, §8.3.1,
eq. 8.14). The others follow Keras 3's ``keras.optimizers.schedules`` (same names, same
arguments, same math), plus :class:`StepDecay` (torch's ``StepLR``) and
:class:`LinearWarmup`, which puts a linear warm-up (Goyal et al., 2017) in front of any
schedule.

Warning:
    torch's ``lr_scheduler`` classes count *epochs* (or whatever ``scheduler.step()`` is
    called for) and mutate the optimizer; these count *updates* and are pure functions.
    With one scheduler step per update they agree: ``StepDecay`` ≡ ``StepLR``,
    ``ExponentialDecay(decay_steps=1)`` ≡ ``ExponentialLR``, ``CosineDecay`` ≡
    ``CosineAnnealingLR`` over its first half period, ``LinearDecay`` ≡ ``LinearLR``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deepdescent.utils._checks import (
    check_argument,
    check_fraction,
    check_non_negative,
    check_positive,
    is_number,
)
from deepdescent.utils._config import deserialize as _deserialize
from deepdescent.utils._config import serialize as _serialize
from deepdescent.utils._lookup import lookup

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "LinearDecay",
    "LinearWarmup",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "StepDecay",
    "deserialize",
    "get",
    "serialize",
]


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate after ``step`` updates.

    Subclasses implement :meth:`_value` (``step`` already checked to be a number >= 0)
    and :meth:`get_config`, whose dict rebuilds the schedule with ``cls(**config)``.
    """

    def __call__(self, step: int) -> float:
        """The learning rate ε_k for ``k = step`` updates done so far (k = 0 first)."""
        if not is_number(step) or step < 0:
            raise ValueError(f"Invalid step: {step!r} (expected a number >= 0)")
        return float(self._value(step))

    def _value(self, step: float) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-safe."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        """Rebuild a schedule from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ε_0 to ε_end over τ steps (Keras's ``PolynomialDecay``).

    .. math::
        ε_k = (ε_0 - ε_{end}) (1 - k/τ)^p + ε_{end},\\quad k \\leftarrow \\min(k, τ)

    With ``cycle=True``, τ is replaced by the first multiple of τ that is >= k (τ itself
    at k = 0), so the decay restarts from ε_0 every τ steps.

    Args:
        initial_learning_rate: ε_0.
        decay_steps: τ > 0.
        end_learning_rate: ε_end, reached at k = τ.
        power: p > 0; ``power=1`` is the book's linear schedule (:class:`LinearDecay`).
        cycle: restart the decay every τ steps instead of staying at ε_end.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
    ) -> None:
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.end_learning_rate = check_non_negative("end_learning_rate", end_learning_rate)
        self.power = check_positive("power", power)
        self.cycle = bool(cycle)

    def _value(self, step: float) -> float:
        horizon = self.decay_steps
        if self.cycle:
            horizon *= max(1.0, math.ceil(step / self.decay_steps))
        else:
            step = min(step, horizon)
        remaining = (1.0 - step / horizon) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * remaining + (
            self.end_learning_rate
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
        }


class LinearDecay(PolynomialDecay):
    """The book's schedule: decay linearly until step τ, then hold (eq. 8.14).

    .. math::
        ε_k = (1 - α) ε_0 + α ε_τ,\\quad α = k/τ \\text{ for } k \\le τ;
        \\qquad ε_k = ε_τ \\text{ for } k > τ

    Goodfellow, Bengio & Courville, *Deep Learning*, §8.3.1. The book's rule of thumb is
    ε_τ ≈ 1% of ε_0 and τ a few hundred passes through the training set; this is
    :class:`PolynomialDecay` with ``power=1`` and ``cycle=False``.

    Args:
        initial_learning_rate: ε_0.
        decay_steps: τ > 0, in updates.
        end_learning_rate: ε_τ; ``None`` takes the book's 1% of ε_0.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float | None = None,
    ) -> None:
        if end_learning_rate is None:
            end_learning_rate = 0.01 * check_non_negative(
                "initial_learning_rate", initial_learning_rate
            )
        super().__init__(initial_learning_rate, decay_steps, end_learning_rate)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
        }


class ExponentialDecay(LearningRateSchedule):
    """Exponential decay (Keras's ``ExponentialDecay``).

    .. math::
        ε_k = ε_0 \\, r^{k/τ} \\quad (\\text{or } r^{\\lfloor k/τ \\rfloor} \\text{ with staircase})

    With ``decay_steps=1`` this is torch's ``ExponentialLR(gamma=r)``.

    Args:
        initial_learning_rate: ε_0.
        decay_steps: τ > 0.
        decay_rate: r >= 0, the factor applied every τ steps.
        staircase: decay in whole steps of τ.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.decay_rate = check_non_negative("decay_rate", decay_rate)
        self.staircase = bool(staircase)

    def _value(self, step: float) -> float:
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate**exponent

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class StepDecay(LearningRateSchedule):
    """Multiply the rate by γ every ``step_size`` steps (torch's ``StepLR``).

    .. math::
        ε_k = ε_0 \\, γ^{\\lfloor k / s \\rfloor}

    Args:
        initial_learning_rate: ε_0.
        step_size: s > 0.
        gamma: γ >= 0.
    """

    def __init__(self, initial_learning_rate: float, step_size: float, gamma: float = 0.1) -> None:
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.step_size = check_positive("step_size", step_size)
        self.gamma = check_non_negative("gamma", gamma)

    def _value(self, step: float) -> float:
        return self.initial_learning_rate * self.gamma ** math.floor(step / self.step_size)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """Constant pieces between boundaries (Keras's ``PiecewiseConstantDecay``).

    ε_k = ``values[0]`` for k <= ``boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1]`` < k <= ``boundaries[i]``, and ``values[-1]`` after the last boundary.

    Args:
        boundaries: strictly increasing step numbers.
        values: learning rates, one more than ``boundaries``.
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"Invalid values: {values!r} has length {len(values)} (expected "
                f"len(boundaries) + 1 = {len(boundaries) + 1} for boundaries={boundaries!r})"
            )
        for name, numbers in (("boundaries", boundaries), ("values", values)):
            check_argument(
                name, numbers, all(is_number(v) and v >= 0 for v in numbers), "numbers >= 0"
            )
        increasing = all(a < b for a, b in itertools.pairwise(boundaries))
        check_argument("boundaries", boundaries, increasing, "a strictly increasing list")
        self.boundaries = boundaries
        self.values = [float(v) for v in values]

    def _value(self, step: float) -> float:
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class InverseTimeDecay(LearningRateSchedule):
    """Inverse-time ("1/t") decay (Keras's ``InverseTimeDecay``).

    .. math::
        ε_k = \\frac{ε_0}{1 + r \\, k/τ} \\quad (k/τ \\text{ floored with staircase})

    Args:
        initial_learning_rate: ε_0.
        decay_steps: τ > 0.
        decay_rate: r >= 0.
        staircase: decay in whole steps of τ.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.decay_rate = check_non_negative("decay_rate", decay_rate)
        self.staircase = bool(staircase)

    def _value(self, step: float) -> float:
        progress = step / self.decay_steps
        if self.staircase:
            progress = math.floor(progress)
        return self.initial_learning_rate / (1.0 + self.decay_rate * progress)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


def _cosine(fraction: float, alpha: float) -> float:
    """The cosine multiplier (1 - α)·½(1 + cos πf) + α, from 1 at f = 0 to α at f = 1."""
    return (1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warm-up (Keras's ``CosineDecay``).

    Without warm-up (``warmup_target=None``):

    .. math::
        ε_k = ε_0 \\left[(1 - α)\\tfrac12\\left(1 + \\cos\\tfrac{π \\min(k, τ)}{τ}\\right)
        + α\\right]

    With warm-up, ε rises linearly from ε_0 to ``warmup_target`` over the first W steps,
    then the same cosine runs from ``warmup_target`` over τ more steps (so it ends at
    ``α · warmup_target`` at step W + τ). Loshchilov & Hutter (2017), SGDR; Goyal et al.
    (2017) for the warm-up. Over k <= τ this is torch's ``CosineAnnealingLR`` with
    ``T_max=τ`` and ``eta_min=α ε_0``.

    Args:
        initial_learning_rate: ε_0 (the warm-up's start when there is one).
        decay_steps: τ > 0.
        alpha: the final rate as a fraction of the decay's starting rate, in [0, 1].
        warmup_target: the rate reached at the end of the warm-up; ``None`` for no warm-up.
        warmup_steps: W >= 0; needs ``warmup_target``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.alpha = check_fraction("alpha", alpha)
        self.warmup_steps = check_non_negative("warmup_steps", warmup_steps)
        if warmup_target is None:
            check_argument(
                "warmup_steps", warmup_steps, warmup_steps == 0, "0 when warmup_target=None"
            )
            self.warmup_target = None
        else:
            self.warmup_target = check_non_negative("warmup_target", warmup_target)

    def _value(self, step: float) -> float:
        if self.warmup_target is None:
            return self.initial_learning_rate * _cosine(
                min(step, self.decay_steps) / self.decay_steps, self.alpha
            )
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return self.initial_learning_rate + fraction * (
                self.warmup_target - self.initial_learning_rate
            )
        decayed = min(step - self.warmup_steps, self.decay_steps)
        return self.warmup_target * _cosine(decayed / self.decay_steps, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts, SGDR (Keras's ``CosineDecayRestarts``).

    Period i lasts T_i = T_0 · t_mul^i steps and starts at m_mul^i · ε_0; within it, with
    f the fraction of the period done,

    .. math::
        ε_k = ε_0 \\left[(1 - α)\\, m^i \\tfrac12 (1 + \\cos π f) + α\\right]

    Loshchilov & Hutter (2017), *SGDR: Stochastic Gradient Descent with Warm Restarts*.

    Args:
        initial_learning_rate: ε_0.
        first_decay_steps: T_0 > 0.
        t_mul: growth of the period, >= 1.
        m_mul: factor on the rate at each restart, >= 0.
        alpha: the floor as a fraction of ε_0, in [0, 1].
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
    ) -> None:
        self.initial_learning_rate = check_non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.first_decay_steps = check_positive("first_decay_steps", first_decay_steps)
        # t_mul < 1 makes the periods sum to a finite horizon past which ε is undefined.
        check_argument("t_mul", t_mul, is_number(t_mul) and t_mul >= 1, "a finite number >= 1")
        self.t_mul = float(t_mul)
        self.m_mul = check_non_negative("m_mul", m_mul)
        self.alpha = check_fraction("alpha", alpha)

    def _period(self, step: float) -> tuple[int, float]:
        """(i, f): the index of the period holding ``step`` and the fraction of it done."""
        if self.t_mul == 1.0:
            restarts = math.floor(step / self.first_decay_steps)
            return restarts, step / self.first_decay_steps - restarts
        start, length, restarts = 0.0, self.first_decay_steps, 0
        while step >= start + length:
            start, length, restarts = start + length, length * self.t_mul, restarts + 1
        return restarts, (step - start) / length

    def _value(self, step: float) -> float:
        restarts, fraction = self._period(step)
        cosine = self.m_mul**restarts * 0.5 * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
        }


class LinearWarmup(LearningRateSchedule):
    """A linear warm-up of W steps in front of any schedule (or constant rate).

    .. math::
        ε_k = ε_{init} + \\tfrac{k}{W}\\,(s(0) - ε_{init}) \\text{ for } k < W;
        \\qquad ε_k = s(k - W) \\text{ after}

    The wrapped schedule s starts counting when the warm-up ends, as Keras's
    ``CosineDecay(warmup_target=..., warmup_steps=...)`` does, so
    ``LinearWarmup(CosineDecay(ε, τ), W)`` equals
    ``CosineDecay(0.0, τ, warmup_target=ε, warmup_steps=W)``. Goyal et al. (2017).

    Args:
        schedule: a constant learning rate, a :class:`LearningRateSchedule` (or its
            serialized dict), or any callable ``step -> float`` (not serializable).
        warmup_steps: W >= 0.
        initial: ε_init, the rate at step 0.
    """

    def __init__(
        self,
        schedule: float | LearningRateSchedule | Callable[[int], float] | Mapping[str, Any],
        warmup_steps: float,
        initial: float = 0.0,
    ) -> None:
        self.schedule: float | Callable[..., float]
        if isinstance(schedule, Mapping):
            self.schedule = deserialize(schedule)
        elif callable(schedule):
            self.schedule = schedule
        else:
            self.schedule = check_non_negative("schedule", schedule)
        self.warmup_steps = check_non_negative("warmup_steps", warmup_steps)
        self.initial = check_non_negative("initial", initial)

    def _after(self, step: float) -> float:
        if callable(self.schedule):
            return float(self.schedule(step))
        return self.schedule

    def _value(self, step: float) -> float:
        if step >= self.warmup_steps:
            return self._after(step - self.warmup_steps)
        return self.initial + step / self.warmup_steps * (self._after(0) - self.initial)

    def get_config(self) -> dict[str, Any]:
        if isinstance(self.schedule, LearningRateSchedule):
            schedule: float | dict[str, Any] = serialize(self.schedule)
        elif callable(self.schedule):
            raise TypeError(
                f"LinearWarmup cannot serialize schedule={self.schedule!r}: only numbers and "
                "LearningRateSchedule instances have a config"
            )
        else:
            schedule = self.schedule
        return {"schedule": schedule, "warmup_steps": self.warmup_steps, "initial": self.initial}


_SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (
        CosineDecay,
        CosineDecayRestarts,
        ExponentialDecay,
        InverseTimeDecay,
        LinearDecay,
        LinearWarmup,
        PiecewiseConstantDecay,
        PolynomialDecay,
        StepDecay,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a schedule (JSON-safe)."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            f"Invalid schedule: {schedule!r} (expected a LearningRateSchedule; plain "
            "functions have no config)"
        )
    return _serialize(schedule)


def deserialize(config: Mapping[str, Any]) -> LearningRateSchedule:
    """Rebuild a schedule from :func:`serialize`'s output (only this module's classes)."""
    return _deserialize("learning-rate schedule", config, _SCHEDULES)


def get(
    identifier: LearningRateSchedule | Callable[[int], float] | Mapping[str, Any] | str | None,
) -> LearningRateSchedule | Callable[[int], float] | None:
    """Resolve ``identifier`` to a schedule.

    ``None`` → ``None`` (no schedule: the optimizer keeps a constant rate); a schedule or
    any callable ``step -> float`` → itself; a dict → :func:`deserialize`. Every schedule
    needs arguments, so a bare name is refused with the config form to use instead.
    """
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = lookup("learning-rate schedule", identifier, _SCHEDULES)
        raise ValueError(
            f"Invalid schedule identifier {identifier!r}: {cls.__name__} needs arguments; "
            f"pass {cls.__name__}(...) or {{'class_name': '{cls.__name__}', 'config': {{...}}}}"
        )
    raise TypeError(
        f"Invalid schedule identifier: {identifier!r} (expected None, a LearningRateSchedule, "
        f"a callable step -> float or a config dict, got {type(identifier).__name__})"
    )
