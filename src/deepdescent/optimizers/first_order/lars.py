r"""LARS: layer-wise adaptive rate scaling, momentum SGD for large batches.

You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks" (2017),
Algorithm 1. For every layer ``l`` (here: every parameter tensor) with weights ``w``::

    g  = ∇L(w)
    λˡ = η ‖w‖ / (‖g‖ + β ‖w‖)                 (local learning rate, eq. 6)
    v  ← m v + γ_t λˡ (g + β w)                (v starts at 0)
    w  ← w − v

γ_t is the global learning rate (the paper decays it as ``γ₀ (1 − t/T)²``: pass a
schedule as ``lr``), m the momentum, β the weight decay (``weight_decay``) and η < 1 the
trust coefficient (``trust_coefficient``), how far one step may move a layer relative to
its norm. The ratio is per layer, so a layer with small weights and large gradients no
longer takes the steps that diverge at batch sizes in the thousands.

Where ‖w‖ or the denominator is 0 (a layer initialised at zero, a zero gradient without
decay) the ratio is undefined; then λˡ = 1 and the layer takes a plain momentum step.

Warning:
    Neither torch.optim nor Keras has LARS, so the default ``lr`` is this module's own:
    1.0, with η = 0.001 as in the paper (one step moves a layer by about γη of its norm).
    As in the paper (and the book's Algorithm 8.2), ``v`` accumulates steps already
    scaled by γ_t; torch's SGD accumulates gradients and multiplies by the current rate.
    The two agree while γ is constant.

Common practice (SimCLR, BYOL) exempts biases and normalization scales from both the
trust ratio and the weight decay: ``exclude_bias_and_norm=True`` does so for every tensor
with fewer than two dimensions, and a parameter group with ``lars_adaptation=False``
turns off the trust ratio for that group (its ``weight_decay`` still applies).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from deepdescent.optimizers import handwritten
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.compiled import Run, norms
from deepdescent.utils._checks import check_argument

__all__ = ["LARS", "trust_ratio"]


def trust_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` where both are positive, else 1 (no adaptation).

    Shared by LARS and LAMB; the inputs are per-layer norms (0-d or stacked), and the
    choice happens on the device, with no host synchronisation.
    """
    usable = (numerator > 0) & (denominator > 0)
    return torch.where(usable, numerator / denominator, torch.ones_like(numerator))


class LARS(Optimizer):
    """LARS (You, Gitman & Ginsburg 2017, Algorithm 1): momentum SGD with a trust ratio
    per layer.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: the global learning rate γ, a number or a schedule ``step -> γ``
            (``learning_rate`` is accepted as its Keras name). Default 1.0.
        momentum: m in [0, 1).
        weight_decay: β, inside the local learning rate and the step, as the paper; with
            ``decoupled_weight_decay`` instead ``w ← w (1 − γβ)`` first and λˡ uses ‖g‖ only.
        trust_coefficient: η > 0 (default 0.001, the paper's).
        exclude_bias_and_norm: tensors with fewer than 2 dimensions get neither the trust
            ratio nor the weight decay.
        lars_adaptation: use the trust ratio (set ``False`` in a parameter group to exempt it).
        decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm, foreach, fused: see
            :class:`~deepdescent.optimizers.base.Optimizer`.

    Example:
        >>> import torch, deepdescent
        >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        >>> opt = deepdescent.optimizers.LARS([w], lr=1.0, momentum=0.0, trust_coefficient=0.1)
        >>> w.grad = torch.tensor([0.0, 10.0]); _ = opt.step(); w.tolist()  # λ = 0.1·5/10
        [3.0, 3.5]
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        *,
        trust_coefficient: float = 0.001,
        exclude_bias_and_norm: bool = False,
        lars_adaptation: bool = True,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("momentum", momentum, 0.0 <= momentum < 1.0, "0 <= momentum < 1")
        check_argument(
            "trust_coefficient", trust_coefficient, trust_coefficient > 0, "trust_coefficient > 0"
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=1.0),
            "momentum": momentum,
            "weight_decay": weight_decay,
            "trust_coefficient": trust_coefficient,
            "exclude_bias_and_norm": exclude_bias_and_norm,
            "lars_adaptation": lars_adaptation,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _apply_weight_decay(
        group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """LARS applies β itself (in λˡ and the step, and only to the layers it covers)."""
        return grads

    def _velocity(self, param: torch.Tensor) -> torch.Tensor:
        return self._init_state(param, "momentum_buffer", step=False)["momentum_buffer"]

    @staticmethod
    def _options(group: dict[str, Any], params: list[torch.Tensor]) -> dict[str, Any]:
        """What :func:`_layers` reads of the group (fixed for a compiled body)."""
        return {
            "excluded": [group["exclude_bias_and_norm"] and p.ndim < 2 for p in params],
            "adaptation": group["lars_adaptation"],
            "weight_decay": group["weight_decay"],
            "decoupled": group["decoupled_weight_decay"],
        }

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, momentum, eta = group["lr"], group["momentum"], group["trust_coefficient"]
        layers = _layers(params, grads, lr, **self._options(group, params))
        for _, layer_params, layer_grads, adapt, decay in layers:
            for param, grad in zip(layer_params, layer_grads, strict=True):
                step = grad.add(param, alpha=decay)  # g + βw, a new tensor
                if adapt:
                    weight_norm = torch.linalg.vector_norm(param)
                    grad_norm = torch.linalg.vector_norm(grad)
                    step.mul_(lr * trust_ratio(eta * weight_norm, grad_norm + decay * weight_norm))
                else:
                    step.mul_(lr)
                if momentum != 0:
                    step = self._velocity(param).mul_(momentum).add_(step)
                param.sub_(step)

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: Run,
    ) -> None:
        velocities = [self._velocity(p) for p in params] if group["momentum"] != 0 else []
        run(
            _lars_pass,
            (params, grads, velocities),
            {"lr": group["lr"]},
            {
                "momentum": group["momentum"],
                "eta": group["trust_coefficient"],
                **self._options(group, params),
            },
        )


def _layers(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    lr: Any,
    *,
    excluded: list[bool],
    adaptation: bool,
    weight_decay: float,
    decoupled: bool,
) -> Iterator[tuple[list[int], list[torch.Tensor], list[torch.Tensor], bool, float]]:
    """The adapted layers, then the excluded ones (biases and normalization scales under
    ``exclude_bias_and_norm``), each with its trust-ratio flag and the β of its step.
    Decoupled decay is applied here, so its β in the step is 0."""
    for skip in (False, True):
        chosen = [i for i, e in enumerate(excluded) if e == skip]
        if not chosen:
            continue
        layer_params = [params[i] for i in chosen]
        decay = 0.0 if skip else weight_decay
        if decay and decoupled:
            torch._foreach_mul_(layer_params, 1.0 - lr * decay)
            decay = 0.0
        yield chosen, layer_params, [grads[i] for i in chosen], adaptation and not skip, decay


def _lars_pass(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    velocities: list[torch.Tensor],
    *,
    lr: Any,
    momentum: float,
    eta: float,
    **layer_options: Any,
) -> None:
    """LARS's step over lists of tensors (``velocities`` empty without momentum)."""
    for chosen, layer_params, layer_grads, adapt, decay in _layers(
        params, grads, lr, **layer_options
    ):
        steps = list(torch._foreach_add(layer_grads, layer_params, alpha=decay))
        if adapt:
            weight_norms = torch.stack(norms(layer_params))
            grad_norms = torch.stack(norms(layer_grads))
            ratios = trust_ratio(eta * weight_norms, grad_norms + decay * weight_norms)
            torch._foreach_mul_(steps, (lr * ratios).unbind())
        else:
            torch._foreach_mul_(steps, lr)
        if momentum != 0:
            layer_velocities = [velocities[i] for i in chosen]
            torch._foreach_mul_(layer_velocities, momentum)
            torch._foreach_add_(layer_velocities, steps)
            steps = layer_velocities
        torch._foreach_sub_(layer_params, steps)


def _lars_by_hand(
    module: Any, tensors: Any, dynamic: Mapping[str, Any], static: Mapping[str, Any]
) -> None:
    """:func:`_lars_pass` by the hand-written CPU body: per tensor, the two norms in one
    pass, then the decoupled decay, velocity and move in a second. Each tensor's β of
    g + βw, its factor 1 − γβ under decoupled decay, and its trust-ratio flag are those
    of :func:`_layers`."""
    lr = float(dynamic["lr"])
    decay, decoupled = static["weight_decay"], static["decoupled"]
    decays, shrinks = [], []
    for excluded in static["excluded"]:
        own = 0.0 if excluded else decay
        decoupled_here = bool(own) and decoupled
        decays.append(0.0 if decoupled_here else own)
        shrinks.append(1.0 - lr * own if decoupled_here else 1.0)
    adapts = [static["adaptation"] and not excluded for excluded in static["excluded"]]
    module.lars(*tensors, lr, static["momentum"], static["eta"], decays, shrinks, adapts)


handwritten.register(_lars_pass, _lars_by_hand)
