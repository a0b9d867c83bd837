r"""Lookahead: k fast steps of any optimizer, then one step of the slow weights.

Zhang, Lucas, Hinton & Ba (2019), *Lookahead Optimizer: k steps forward, 1 step back*,
Algorithm 1. With φ the slow weights, θ the fast weights (the parameters), A the inner
optimizer, k the synchronization period and α the slow weights' step size::

    for t = 1, 2, ...
        θ_{t,0} ← φ_{t−1}
        for i = 1, ..., k:   θ_{t,i} ← θ_{t,i−1} + A(L, θ_{t,i−1}, d)
        φ_t ← φ_{t−1} + α (θ_{t,k} − φ_{t−1})

Each ``step()`` is one step of A; every k-th update also moves φ and sets θ ← φ, so the
parameters after update ``n·k`` are φ_n. A's own state (momentum, Adam's moments) carries
on across the synchronizations, as in the paper (some implementations reset it; this one
does not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch

from deepdescent.optimizers.base import Optimizer
from deepdescent.optimizers.contract import ModelOutputs
from deepdescent.optimizers.wrappers.base import OptimizerWrapper
from deepdescent.utils._checks import check_argument, is_real

__all__ = ["Lookahead"]


class Lookahead(OptimizerWrapper):
    """Lookahead around any optimizer (Zhang et al. 2019, Algorithm 1).

    Args:
        base_optimizer: the inner optimizer A: any ``torch.optim.Optimizer`` (bound), an
            unbound deepdescent optimizer (``compile`` binds it), or a name/config.
        k: the synchronization period, an int >= 1 (the paper's default 5).
        alpha: the slow weights' step size α in (0, 1] (the paper's default 0.5); α = 1
            is the inner optimizer alone.

    The learning rate is the inner optimizer's (``learning_rate`` reads and sets it). A
    parameter gets slow weights at the first cycle that starts with a gradient for it;
    the state dict holds them as ``"lookahead.slow_weights"``. ``iterations`` counts
    updates of the inner optimizer (with its ``gradient_accumulation_steps``, a step that
    only accumulates is not one).

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = deepdescent.optimizers.Lookahead(torch.optim.SGD([w], lr=0.1), k=2)
        >>> for _ in range(2):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
        >>> round(w.item(), 6)  # fast: 1 → 0.8 → 0.64; slow: 1 + 0.5 (0.64 − 1)
        0.82
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer | str | dict[str, Any],
        k: int = 5,
        alpha: float = 0.5,
    ) -> None:
        ok = isinstance(k, int) and not isinstance(k, bool) and k >= 1
        check_argument("k", k, ok, "an int >= 1")
        ok = is_real(alpha) and 0 < alpha <= 1
        check_argument("alpha", alpha, ok, "0 < alpha <= 1")
        self.k, self.alpha = k, float(alpha)
        super().__init__(base_optimizer)

    def _options(self) -> dict[str, Any]:
        return {"k": self.k, "alpha": self.alpha}

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        *,
        model_outputs: ModelOutputs | None = None,
    ) -> torch.Tensor | None:
        """One step of the inner optimizer (handed ``model_outputs`` when given); every
        k-th update, the slow weights' step."""
        self._check_bound()
        base = self.base_optimizer
        joined = self._snapshot() if self.iterations % self.k == 0 else []
        updates_before = base.iterations if isinstance(base, Optimizer) else 0
        if model_outputs is None:
            loss = base.step(cast(Any, closure))
        else:
            loss = cast(Any, base).step(closure, model_outputs=model_outputs)
        for param in joined:
            if param.grad is None:  # idle: nothing to average, keep no state
                del self.state[param]
        if isinstance(base, Optimizer) and base.iterations == updates_before:
            return loss  # the base only accumulated gradients
        self.iterations += 1
        if self.iterations % self.k == 0:
            self._synchronize()
        return loss

    def _snapshot(self) -> list[torch.Tensor]:
        """φ ← θ for the parameters that have no slow weights yet; returns them."""
        joined = [p for g in self.param_groups for p in g["params"] if p not in self.state]
        for param in joined:
            self.state[param]["slow_weights"] = param.detach().clone()
        return joined

    def _synchronize(self) -> None:
        """φ ← φ + α(θ − φ);  θ ← φ, one pass over each group (compiled for large ones)."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p in self.state]
            if params:
                slow = [self.state[p]["slow_weights"] for p in params]
                run = self._pass_run(group, params)
                run(_synchronization, (params, slow), {}, {"alpha": self.alpha})


def _synchronization(params: list[torch.Tensor], slow: list[torch.Tensor], *, alpha: float) -> None:
    """Lookahead's slow step over lists of tensors: φ ← φ + α(θ − φ);  θ ← φ."""
    torch._foreach_lerp_(slow, params, alpha)
    torch._foreach_copy_(params, slow)
