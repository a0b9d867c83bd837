r"""Shampoo: full-matrix AdaGrad made affordable with one preconditioner per tensor axis.

Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018.
Algorithm 1, for a matrix parameter W ∈ ℝ^{m×n} with gradient G_t::

    L₀ = εI_m,  R₀ = εI_n
    L_t = L_{t−1} + G_t G_tᵀ
    R_t = R_{t−1} + G_tᵀ G_t
    W_{t+1} = W_t − η L_t^{−1/4} G_t R_t^{−1/4}

Algorithm 2, for an order-k tensor: one statistic per axis i, ``Hⁱ_t = Hⁱ_{t−1} + G_(i) G_(i)ᵀ``
(G_(i) the mode-i unfolding, Hⁱ₀ = εI), and the step ``G ×₁ (H¹)^{−1/2k} ×₂ … ×_k (H^k)^{−1/2k}``;
k = 2 is Algorithm 1. Vectors (biases) and scalars take the diagonal form
``h ← h + g ⊙ g;  Δ = h^{−1/2} ⊙ g`` (h₀ = ε), i.e. diagonal AdaGrad.

What practice adds (Anil et al. 2020, "Scalable Second Order Optimization for Deep
Learning"), each a flag:

* ``precondition_frequency`` n: the inverse roots come from an eigendecomposition (in
  float64, eigenvalues floored at ε) every n steps and are reused in between
  (n = 1 is the paper's algorithm).
* ``grafting`` (Agarwal et al. 2020, "Disentangling Adaptive Gradient Methods from Learning
  Rates"): per tensor, Shampoo gives the direction and another method the length,
  ``Δ ← ‖Δ_graft‖ / ‖Δ‖ · Δ`` with ``Δ_graft = g / (√(Σ g²) + δ)`` (``"adagrad"``) or
  ``Δ_graft = g`` (``"sgd"``); ``None`` keeps the paper's raw step.
* axes longer than ``max_preconditioner_dim`` are not preconditioned (identity on that
  axis); a tensor with no preconditioned axis takes the diagonal form.
* ``momentum`` μ on the final step, in torch.optim's form ``b ← μ b + Δ;  W ← W − η b``.

Warning:
    Neither Keras nor torch.optim has Shampoo, so there is no default to follow: ``lr``
    defaults to 0.01, sized for the default AdaGrad grafting (the step then has AdaGrad's
    length). Implementations differ on ε: the paper puts εI in the initial statistics,
    others add εI when taking the root — the same matrix; some scale ε by the largest
    eigenvalue, which this does not.
"""

from __future__ import annotations

from typing import Any

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.utils._checks import check_argument, check_count

__all__ = ["Shampoo", "inverse_root"]

_GRAFTINGS = ("adagrad", "sgd", None)


def inverse_root(statistic: torch.Tensor, exponent: float, floor: float) -> torch.Tensor:
    """``H^{−1/exponent}`` of a symmetric positive semi-definite H, from its
    eigendecomposition in float64 (eigenvalues floored at ``floor``), in H's dtype."""
    eigenvalues, vectors = torch.linalg.eigh(statistic.to(torch.float64))
    powers = eigenvalues.clamp_min(floor).pow(-1.0 / exponent)
    return ((vectors * powers) @ vectors.T).to(statistic.dtype)


class Shampoo(Optimizer):
    """Shampoo (Gupta et al. 2018, Algorithms 1 and 2), with grafting and periodic roots.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the learning rate η, a number or a schedule ``step -> η`` (``learning_rate`` is
            accepted as its Keras name). Default 0.01 (see the warning in the module).
        momentum: μ in [0, 1) on the final step (0: none, as in the paper).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm:
            see :class:`~deepdescent.optimizers.base.Optimizer`.
        eps: ε > 0, the initial statistics εI (and the floor of their eigenvalues).
        precondition_frequency: recompute the inverse roots every this many steps.
        grafting: ``"adagrad"`` (default), ``"sgd"`` or ``None``: whose step length to use.
        grafting_eps: δ of the AdaGrad grafting.
        max_preconditioner_dim: longest axis that gets a preconditioner (its statistic is
            a d×d matrix).
        foreach, fused: accepted for the common signature; the update is matrix algebra
            per tensor, so there is only the per-tensor body.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> opt = deepdescent.optimizers.Shampoo([w], lr=0.1, grafting="sgd")
        >>> (w**2).sum().backward(); _ = opt.step()
        >>> bool(w.norm() < torch.tensor(30.0).sqrt())
        True
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        eps: float = 1e-6,
        precondition_frequency: int = 20,
        grafting: str | None = "adagrad",
        grafting_eps: float = 1e-7,
        max_preconditioner_dim: int = 4096,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("momentum", momentum, 0.0 <= momentum < 1.0, "0 <= momentum < 1")
        check_argument("eps", eps, eps > 0, "eps > 0")
        check_count("precondition_frequency", precondition_frequency)
        check_argument("grafting", grafting, grafting in _GRAFTINGS, "'adagrad', 'sgd' or None")
        check_argument("grafting_eps", grafting_eps, grafting_eps > 0, "grafting_eps > 0")
        check_count("max_preconditioner_dim", max_preconditioner_dim)
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.01),
            "momentum": momentum,
            "weight_decay": weight_decay,
            "eps": eps,
            "precondition_frequency": precondition_frequency,
            "grafting": grafting,
            "grafting_eps": grafting_eps,
            "max_preconditioner_dim": max_preconditioner_dim,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _preconditioned_axes(param: torch.Tensor, group: dict[str, Any]) -> list[int]:
        if param.dim() < 2:
            return []
        return [i for i, size in enumerate(param.shape) if size <= group["max_preconditioner_dim"]]

    def _initial_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0}
        axes = self._preconditioned_axes(param, group)
        if not axes:
            state["diagonal"] = torch.full_like(param, group["eps"])
        for axis in axes:
            size = param.shape[axis]
            eye = torch.eye(size, dtype=param.dtype, device=param.device)
            state[f"statistic_{axis}"] = eye * group["eps"]
            state[f"inverse_root_{axis}"] = eye
        if group["grafting"] == "adagrad":
            state["graft_sum"] = torch.zeros_like(param)
        return state

    def _direction(
        self, state: dict[str, Any], grad: torch.Tensor, group: dict[str, Any]
    ) -> torch.Tensor:
        """Shampoo's preconditioned gradient: Algorithm 2's mode products (Algorithm 1's
        L^{−1/4} G R^{−1/4} for a matrix), or the diagonal form."""
        if "diagonal" in state:
            diagonal = state["diagonal"].addcmul_(grad, grad)
            return grad / diagonal.sqrt()
        order = grad.dim()
        refresh = (state["step"] - 1) % group["precondition_frequency"] == 0
        direction = grad
        # Contracting axis 0 with a symmetric root and appending the result as the last
        # axis, k times, applies every mode product and brings the axes back in order.
        for axis in range(order):
            if f"statistic_{axis}" not in state:
                direction = direction.movedim(0, -1)
                continue
            others = [i for i in range(order) if i != axis]
            statistic = state[f"statistic_{axis}"]
            statistic.add_(torch.tensordot(grad, grad, dims=(others, others)))
            if refresh:
                state[f"inverse_root_{axis}"] = inverse_root(statistic, 2 * order, group["eps"])
            direction = torch.tensordot(direction, state[f"inverse_root_{axis}"], dims=([0], [0]))
        return direction

    @staticmethod
    def _graft(
        state: dict[str, Any], grad: torch.Tensor, direction: torch.Tensor, group: dict[str, Any]
    ) -> torch.Tensor:
        """Δ ← ‖Δ_graft‖ / ‖Δ‖ · Δ (a zero Δ stays zero)."""
        if group["grafting"] is None:
            return direction
        if group["grafting"] == "adagrad":
            total = state["graft_sum"].addcmul_(grad, grad)
            reference = grad / total.sqrt().add_(group["grafting_eps"])
        else:
            reference = grad
        tiny = torch.finfo(direction.dtype).tiny
        scale = torch.linalg.vector_norm(reference) / torch.linalg.vector_norm(direction).clamp_min(
            tiny
        )
        return direction * scale

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, momentum = group["lr"], group["momentum"]
        for param, grad in zip(params, grads, strict=True):
            state = self.state[param]
            if not state:
                state.update(self._initial_state(param, group))
            state["step"] += 1
            step = self._graft(state, grad, self._direction(state, grad, group), group)
            if momentum != 0:
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = step.clone()
                else:
                    buffer.mul_(momentum).add_(step)
                step = buffer
            param.add_(step, alpha=-lr)
