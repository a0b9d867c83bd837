"""Numerical faults: a non-finite value never reaches the weights silently.

Before step one, ``fit`` checks the data (:func:`check_finite`): NaN or ±inf in ``x``,
``y`` or the validation data is a ``ValueError`` that names the array, the first bad
index and the fix.

During training, :class:`StepGuard` looks at each step's first evaluation — the loss and
the gradient norm — before the optimizer sees it: a step whose loss or gradient is not
finite is skipped (never applied) and counted in the epoch's logs as ``skipped_steps``
(from the run's first skipped step on: a run that skips none has Keras's logs).
After ``patience`` consecutive skipped steps (:data:`DEFAULT_PATIENCE`, 5) the guard puts
back the last good weights and optimizer state it kept, stops training, and ``fit``
raises :class:`NonFiniteError` (or warns, with ``nonfinite="warn"``) naming the step, the
loss, the gradient norm and the learning rate. The kept copy is taken at a step whose loss
and gradient were finite, before it was applied, every :data:`KEEP_EVERY` good steps, so
a run that diverged (a learning rate too large) is rolled back to weights that still gave
finite values.

Every optimizer obeys it, the second-order ones included: the guard runs before
``step``, and the optimizer's own first evaluation of the closure is the one the guard
looked at.

Cost: one multi-tensor norm and a read of a few scalars per step (on a CPU no pipeline
waits for it; on a GPU it is a host synchronisation per step), and a copy of the weights
and optimizer state every :data:`KEEP_EVERY` good steps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch

from deepdescent.optimizers import Optimizer
from deepdescent.utils._checks import check_argument, check_count

__all__ = [
    "DEFAULT_PATIENCE",
    "KEEP_EVERY",
    "NonFiniteError",
    "NonFinitePolicy",
    "StepGuard",
    "check_finite",
    "nonfinite_policy",
]

T = TypeVar("T")

DEFAULT_PATIENCE = 5
KEEP_EVERY = 50
_ACTIONS = ("raise", "warn")


class NonFiniteError(RuntimeError):
    """Training stopped because its loss or gradient stayed non-finite.

    Attributes:
        step: the run's step (from 1) of the last skipped evaluation.
        loss: its loss; ``gradient_norm``: its gradient's Euclidean norm;
        learning_rate: the learning rate at that step.
    """

    def __init__(
        self, message: str, step: int, loss: float, gradient_norm: float, learning_rate: float
    ) -> None:
        super().__init__(message)
        self.step, self.loss = step, loss
        self.gradient_norm, self.learning_rate = gradient_norm, learning_rate


@dataclass(frozen=True)
class NonFinitePolicy:
    """What ``fit`` does about non-finite steps (``fit(nonfinite=...)``).

    Attributes:
        action: ``"raise"`` (:class:`NonFiniteError` once training has ended, the default)
            or ``"warn"`` (a warning, and ``fit`` returns).
        patience: consecutive skipped steps that stop training.
        keep_every: good steps between two refreshes of the kept copy.
    """

    action: str = "raise"
    patience: int = DEFAULT_PATIENCE
    keep_every: int = KEEP_EVERY

    def __post_init__(self) -> None:
        check_argument("action", self.action, self.action in _ACTIONS, "'raise' or 'warn'")
        check_count("patience", self.patience)
        check_count("keep_every", self.keep_every)


def nonfinite_policy(value: Any) -> NonFinitePolicy:
    """``fit``'s ``nonfinite``: ``"raise"``, ``"warn"`` or a :class:`NonFinitePolicy`."""
    if isinstance(value, NonFinitePolicy):
        return value
    check_argument("nonfinite", value, value in _ACTIONS, "'raise', 'warn' or a NonFinitePolicy")
    return NonFinitePolicy(action=value)


def check_finite(tensor: torch.Tensor, argument: str) -> None:
    """Raise ``ValueError`` naming ``argument`` and its first NaN or ±inf entry, if any."""
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return
    low, high = torch.aminmax(tensor)
    if math.isfinite(float(low)) and math.isfinite(float(high)):
        return
    index = tuple(int(i) for i in (~torch.isfinite(tensor)).nonzero()[0])
    value = float(tensor[index])
    raise ValueError(
        f"{argument} holds {value} at index {index} (sample {index[0]}): a non-finite value "
        f"makes the loss and then every weight NaN. Remove or repair those samples first, "
        f"e.g. keep = np.isfinite({argument}).reshape(len({argument}), -1).all(axis=1)"
    )


def _learning_rate(optimizer: torch.optim.Optimizer) -> float:
    if isinstance(optimizer, Optimizer):
        return optimizer.learning_rate
    return float(optimizer.param_groups[0]["lr"])


def _optimizer_snapshot(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A copy of the optimizer's whole state. A plain torch.optim optimizer is copied
    from its ``state`` and groups: its ``state_dict`` would import torch._dynamo (1.5 s)."""
    if isinstance(optimizer, Optimizer):
        return copy.deepcopy(optimizer.state_dict())
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return {
        "state": {i: copy.deepcopy(optimizer.state[p]) for i, p in enumerate(params)},
        "groups": [
            copy.deepcopy({k: v for k, v in group.items() if k != "params"})
            for group in optimizer.param_groups
        ],
    }


def _restore_optimizer(optimizer: torch.optim.Optimizer, snapshot: dict[str, Any]) -> None:
    if isinstance(optimizer, Optimizer):
        optimizer.load_state_dict(copy.deepcopy(snapshot))
        return
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, param in enumerate(params):
        optimizer.state[param] = copy.deepcopy(snapshot["state"][index])
    for group, options in zip(optimizer.param_groups, snapshot["groups"], strict=True):
        group.update(copy.deepcopy(options))


class StepGuard:
    """Admits a step only when its loss and gradient are finite (see the module docstring).

    Args:
        model: the model (its weights and buffers are kept and restored).
        optimizer: the optimizer (its state is kept and restored).
        policy: patience, action and how often the good state is kept.
    """

    def __init__(
        self, model: Any, optimizer: torch.optim.Optimizer, policy: NonFinitePolicy
    ) -> None:
        self.model, self.optimizer, self.policy = model, optimizer, policy
        self.step = 0  # evaluations seen in the run
        self.consecutive = 0  # skipped in a row
        self.skipped_in_epoch = self.admitted_in_epoch = 0
        self.skipped_in_run = 0
        self.tripped = False
        self.applied = False  # a non-finite step was applied by the model's own train_step
        self.last: tuple[float, float, float] | None = None  # loss, gradient norm, rate
        self._kept: tuple[dict[str, torch.Tensor], dict[str, Any], int] | None = None
        self._good_since_kept = 0
        #: ``agree(ok)`` → whether every process found its step finite (data-parallel
        #: runs set it, so that all processes skip the same steps).
        self.agree: Callable[[bool], bool] | None = None

    def start_epoch(self) -> None:
        self.skipped_in_epoch = self.admitted_in_epoch = 0

    def admit(self, cost: torch.Tensor, gradients: bool = True) -> bool:
        """Whether to apply the step whose first evaluation gave ``cost`` and left its
        gradient in the parameters' ``.grad``; counts it either way. ``gradients=False``
        looks at the loss alone (under loss scaling, an overflowing gradient is the
        scaler's to skip)."""
        self.step += 1
        grads = [
            p.grad
            for group in self.optimizer.param_groups
            for p in group["params"]
            if p.grad is not None and gradients
        ]
        norms = [float(n) for n in torch._foreach_norm([cost.detach().reshape(()), *grads])]
        grad_norms = norms[1:]
        finite = all(math.isfinite(n) for n in norms)
        if self.agree is not None:
            finite = self.agree(finite)
        if finite:
            self.consecutive = 0
            self.admitted_in_epoch += 1
            self._keep_if_due()
            return True
        self.consecutive += 1
        self.skipped_in_epoch += 1
        self.skipped_in_run += 1
        self.last = (
            float(cost.detach()),
            math.sqrt(math.fsum(n * n for n in grad_norms)),
            _learning_rate(self.optimizer),
        )
        if self.consecutive >= self.policy.patience:
            self._trip()
        return False

    def watch_applied(self, take_step: Callable[[], T], loss_of: Callable[[T], float | None]) -> T:
        """Take a step that applies itself (a model's own ``train_step``) and watch the
        loss ``loss_of`` reads from its result: such a step cannot be skipped, but the good
        state is kept before it (when due) and counts as good once its loss — computed at
        those weights — is finite; after ``patience`` non-finite losses in a row the last
        good state is put back and training stops, as for skipped steps."""
        due = self._kept is None or self._good_since_kept >= self.policy.keep_every
        candidate = self._snapshot() if due else None
        result = take_step()
        loss = loss_of(result)
        self.step += 1
        finite = loss is None or math.isfinite(loss)
        if self.agree is not None:
            finite = self.agree(finite)
        if finite:
            self.consecutive = 0
            self.admitted_in_epoch += 1
            if candidate is not None:
                self._kept = (*candidate, self.step)
                self._good_since_kept = 1
            else:
                self._good_since_kept += 1
            return result
        self.consecutive += 1
        self.applied = True
        self.last = (float(cast(float, loss)), math.nan, _learning_rate(self.optimizer))
        if self.consecutive >= self.policy.patience:
            self._trip()
        return result

    def _snapshot(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return weights, _optimizer_snapshot(self.optimizer)

    def _keep_if_due(self) -> None:
        if self._kept is not None and self._good_since_kept < self.policy.keep_every:
            self._good_since_kept += 1
            return
        self._kept = (*self._snapshot(), self.step)
        self._good_since_kept = 1

    def _trip(self) -> None:
        self.tripped = True
        self.model.stop_training = True
        if self._kept is not None:
            weights, optimizer_state, _ = self._kept
            self.model.load_state_dict(weights)
            _restore_optimizer(self.optimizer, optimizer_state)

    def error(self) -> NonFiniteError:
        """What went wrong, in words, once the guard has stopped training."""
        loss, norm, rate = self.last or (math.nan, math.nan, math.nan)
        if self._kept is None:
            restored = "no step had been applied yet, so the weights are the initial ones"
        else:
            restored = (
                f"the weights and optimizer state of step {self._kept[2]} (the last good "
                "ones kept) are restored"
            )
        applied = (
            "the model's own train_step applied them"
            if self.applied
            else "none of them was applied"
        )
        message = (
            f"Training stopped at step {self.step}: {self.consecutive} steps in a row had a "
            f"non-finite loss or gradient (last: loss {loss}, gradient norm {norm}, "
            f"learning rate {rate}); {applied}, and {restored}. Try a "
            "smaller learning rate, gradient clipping (clipnorm=1.0 or global_clipnorm=1.0), "
            "or look for extreme values in the data."
        )
        return NonFiniteError(message, self.step, loss, norm, rate)

    def state_dict(self) -> dict[str, Any]:
        """The counters (not the kept copy, which a resumed run takes afresh)."""
        return {
            "step": self.step,
            "consecutive": self.consecutive,
            "skipped_in_epoch": self.skipped_in_epoch,
            "admitted_in_epoch": self.admitted_in_epoch,
            "skipped_in_run": self.skipped_in_run,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.consecutive = int(state["step"]), int(state["consecutive"])
        self.skipped_in_epoch = int(state["skipped_in_epoch"])
        self.admitted_in_epoch = int(state["admitted_in_epoch"])
        # A backup written before the count was kept: its epoch's count is all there is.
        self.skipped_in_run = int(state.get("skipped_in_run", self.skipped_in_epoch))
