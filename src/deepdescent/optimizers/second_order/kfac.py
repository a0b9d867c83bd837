r"""K-FAC: natural-gradient steps with a Kronecker-factored Fisher, layer by layer.

Martens & Grosse, "Optimizing Neural Networks with Kronecker-factored Approximate
Curvature", ICML 2015. For a fully connected layer ``z = W̃ ã`` (ã = [a; 1]: the input with
the bias as an extra homogeneous coordinate, W̃ = [W  b]) and g = ∂L/∂z, the layer's block
of the Fisher is approximated by a Kronecker product (§3)::

    F ≈ E[ã ãᵀ] ⊗ E[g gᵀ] = A ⊗ G

so its inverse costs two small inverses, and the natural-gradient step is (§4)::

    Δ = (A ⊗ G)⁻¹ vec ∇W̃  =  vec(G⁻¹ ∇W̃ A⁻¹)          (torch's (out, in) layout)
    Δᵀ = A⁻¹ ∇W̃ᵀ G⁻¹                                    (Keras's (in, out) kernel)

One step, with η = ``lr``:

1. A and G are running averages, ``A ← ρA + (1 − ρ)Â`` (ρ = ``stat_decay``; the first
   estimate is taken as is), of ``Â = ãᵀã/N`` and ``Ĝ = N gᵀg`` over the N rows of the
   minibatch (g is the gradient of the *mean* loss, so N g is the per-sample gradient),
   every ``factor_update_freq`` steps. ``fisher`` chooses the g: ``"sampled"``, the
   paper's (§5), back-propagates the loss at targets drawn from the model's predictive
   distribution — one more forward and backward pass per recording step; ``"empirical"``
   reuses the gradients of the training loss at the observed targets — free, but the
   empirical Fisher is a poorer curvature (Kunstner et al. 2019); ``"auto"`` samples when
   the step is given ``model_outputs`` whose loss is a negative log-likelihood it can
   sample from (``fit`` gives them; mean squared error and cross-entropy on logits
   qualify) and is empirical otherwise (a plain PyTorch loop).
2. Factored Tikhonov damping (§6.3), every ``inverse_update_freq`` steps::

       (A + π√λ I)⁻¹,  (G + √λ/π I)⁻¹,   π = √((tr A / dim A) / (tr G / dim G))

3. Δ for each supported layer (deepdescent ``Dense`` and ``torch.nn.Linear``); any other
   parameter takes its plain gradient (an SGD step).
4. Optional KL clipping (Ba, Grosse & Martens 2017): the preconditioned steps are scaled by
   ``ν = min(1, √(κ / Σ η² Δᵀ∇)))``, κ = ``kl_clip``, bounding the step's predicted change
   of the model's output distribution.
5. ``b ← μ b + Δ;  θ ← θ − η b`` (torch.optim's momentum form, μ = ``momentum``).

How the statistics are collected: the optimizer declares ``layer_statistics`` (and
``autograd``) in its :class:`~deepdescent.optimizers.contract.TrainingNeeds`, so ``fit``
trains with autograd and, before the first step, calls :meth:`KFAC.prepare` with the
model's :class:`~deepdescent.layers.recording.LayerRecord`\ s (the layers the registry of
:mod:`deepdescent.layers.recording` knows: ``Dense`` and ``torch.nn.Linear``), then
:meth:`KFAC.release` after the last. ``prepare`` taps every layer whose weight this
optimizer holds: each forward pass hands the tap the layer's input a and its
pre-activation output z, on which a tensor hook then reads the gradient g. No method of a
layer is replaced. In a plain PyTorch loop::

    opt = KFAC(net.parameters())
    opt.prepare(deepdescent.layers.recording.recordable_layers(net))
    # ... the usual forward, backward, opt.step()

Warning:
    In a plain PyTorch loop without ``model_outputs`` G is the empirical Fisher,
    as in the K-FAC of Osawa et al. (2019) and Pauloski et al. (2020), not the paper's.
    Martens & Grosse also choose η and μ by a quadratic model and adapt λ by
    Levenberg–Marquardt; here they are hyperparameters. Neither Keras nor torch.optim has
    K-FAC: the defaults (η = 0.01, μ = 0.9, λ = 1e-3, κ = 1e-3) follow common practice,
    not a library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import ModelOutputs, TrainingNeeds
from deepdescent.utils._checks import check_argument, check_count

if TYPE_CHECKING:
    from deepdescent.layers.recording import LayerRecord

__all__ = ["KFAC", "damped_inverse"]

# Hyperparameters of the whole model, read from the first parameter group.
_SHARED = (
    "damping",
    "stat_decay",
    "factor_update_freq",
    "inverse_update_freq",
    "kl_clip",
    "fisher",
)
_FISHERS = ("auto", "sampled", "empirical")


class _Recorder:
    """Factor estimates Â, Ĝ of one layer ``z = a W + b`` from its latest training pass.

    ``layout`` is ``"in_out"`` for a Keras kernel (in, out), ``"out_in"`` for torch's; a
    ``bias`` the optimizer does not hold is left out (``None``)."""

    def __init__(
        self, layer: LayerRecord, bias: torch.Tensor | None, recording: Callable[[], bool]
    ) -> None:
        self.name = layer.name or type(layer.module).__name__
        self.weight, self.bias, self.layout = layer.weight, bias, layer.layout
        self.recording = recording
        self.inputs_factor: torch.Tensor | None = None
        self.gradients_factor: torch.Tensor | None = None
        self.handle = layer.tap(self.record)

    def record(self, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        """Â = ãᵀã / N now; Ĝ = N gᵀg when the backward pass reaches ``outputs``."""
        if not (self.recording() and torch.is_grad_enabled() and outputs.requires_grad):
            return
        a = inputs.detach().reshape(-1, inputs.shape[-1]).to(self.weight.dtype)
        if self.bias is not None:
            a = torch.cat([a, a.new_ones(len(a), 1)], dim=1)
        self.inputs_factor = a.T @ a / len(a)
        self.gradients_factor = None
        outputs.register_hook(self._record_gradient)

    def _record_gradient(self, grad: torch.Tensor) -> None:
        g = grad.detach().reshape(-1, grad.shape[-1]).to(self.weight.dtype)
        self.gradients_factor = (g.T @ g) * len(g)

    def take(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The pending (Â, Ĝ), cleared; ``None`` if a pass was not fully recorded."""
        pending = self.inputs_factor, self.gradients_factor
        self.inputs_factor = self.gradients_factor = None
        if pending[0] is None or pending[1] is None:
            return None
        return pending[0], pending[1]

    def detach(self) -> None:
        self.handle.remove()


def damped_inverse(factor: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``(M + shift·I)⁻¹`` of a symmetric positive semi-definite M, by eigendecomposition
    (eigenvalues below 0, rounding errors, are taken as 0)."""
    eigenvalues, vectors = torch.linalg.eigh(factor)
    return (vectors / (eigenvalues.clamp_min(0) + shift)) @ vectors.T


class KFAC(Optimizer):
    """K-FAC (Martens & Grosse 2015) for fully connected layers.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: η, a number or a schedule ``step -> η`` (``learning_rate`` is accepted as its
            Keras name). Default 0.01.
        momentum: μ in [0, 1), torch.optim's form.
        damping: λ >= 0, the Tikhonov damping split between the factors (0: none, for
            factors known to be invertible).
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm:
            see :class:`~deepdescent.optimizers.base.Optimizer`; clipping and coupled decay
            act on the gradient before it is preconditioned.
        stat_decay: ρ in [0, 1), of the factors' running averages.
        factor_update_freq: record the factors every this many steps.
        inverse_update_freq: recompute the damped inverses every this many steps.
        kl_clip: κ > 0 to clip the steps' predicted KL divergence, or ``None``.
        fisher: ``"auto"``, ``"sampled"`` or ``"empirical"``: the gradients G is made of.
        foreach, fused: accepted for the common signature (the per-layer algebra has one
            body).

    :meth:`prepare` (``fit`` calls it) makes the layers known; a parameter of no prepared
    layer takes the plain (SGD with momentum) step.
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float = 0.9,
        damping: float = 1e-3,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        stat_decay: float = 0.95,
        factor_update_freq: int = 1,
        inverse_update_freq: int = 10,
        kl_clip: float | None = 1e-3,
        fisher: str = "auto",
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("momentum", momentum, 0.0 <= momentum < 1.0, "0 <= momentum < 1")
        check_argument("damping", damping, damping >= 0, "damping >= 0")
        check_argument("stat_decay", stat_decay, 0.0 <= stat_decay < 1.0, "0 <= stat_decay < 1")
        check_count("factor_update_freq", factor_update_freq)
        check_count("inverse_update_freq", inverse_update_freq)
        check_argument("kl_clip", kl_clip, kl_clip is None or kl_clip > 0, "a number > 0 or None")
        check_argument("fisher", fisher, fisher in _FISHERS, "'auto', 'sampled' or 'empirical'")
        check_argument(
            "gradient_accumulation_steps",
            clipping.get("gradient_accumulation_steps", 1),
            clipping.get("gradient_accumulation_steps", 1) == 1,
            "1: the factors are recorded from the pass of each step",
        )
        defaults = {
            "lr": resolve_learning_rate(lr, learning_rate, default=0.01),
            "momentum": momentum,
            "damping": damping,
            "weight_decay": weight_decay,
            "stat_decay": stat_decay,
            "factor_update_freq": factor_update_freq,
            "inverse_update_freq": inverse_update_freq,
            "kl_clip": kl_clip,
            "fisher": fisher,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)
        self._recorders: list[_Recorder] = []
        self._sampling = False

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; only ``lr``, ``momentum`` and the weight decay may differ from the
        first group's (the factors' schedule and damping are one for the whole model)."""
        super().add_param_group(param_group)
        first, new = self.param_groups[0], self.param_groups[-1]
        for key in _SHARED:
            if new[key] != first[key]:
                self.param_groups.pop()
                raise ValueError(
                    f"Invalid {key}: {new[key]!r} in a parameter group (expected "
                    f"{first[key]!r} as in the first group: it is shared by all layers)"
                )

    # -- the contract with the training loop ---------------------------------------

    def needs(self) -> TrainingNeeds:
        """Autograd and the layers' statistics always; the step's model outputs for the
        sampled Fisher."""
        sampled = self._spec_defaults["fisher"] != "empirical"
        return TrainingNeeds(autograd=True, layer_statistics=True, model_outputs=sampled)

    def prepare(self, layers: Sequence[LayerRecord]) -> None:
        """Tap every layer of ``layers`` whose weight this optimizer holds (replacing the
        taps of an earlier ``prepare``)."""
        self._require_bound()
        self.release()
        held = {id(p) for group in self.param_groups for p in group["params"]}
        for layer in layers:
            if id(layer.weight) in held:
                bias = layer.bias if layer.bias is not None and id(layer.bias) in held else None
                self._recorders.append(_Recorder(layer, bias, self._recording))

    def release(self) -> None:
        """Remove the taps that :meth:`prepare` put on the layers."""
        for recorder in self._recorders:
            recorder.detach()
        self._recorders = []

    def _recording(self) -> bool:
        return self._sampling or self.iterations % self.param_groups[0]["factor_update_freq"] == 0

    def _sampled_pass(self, model_outputs: ModelOutputs | None) -> None:
        """Record the factors again from a pass whose backward starts at targets drawn from
        the model's predictive distribution (Martens & Grosse 2015, §5)."""
        fisher = self.param_groups[0]["fisher"]
        sampled_loss = model_outputs.sampled_loss if model_outputs is not None else None
        if fisher == "empirical" or not self._recorders:
            return
        if sampled_loss is None or model_outputs is None:
            if fisher == "sampled":
                raise ValueError(
                    "KFAC(fisher='sampled') needs step(..., model_outputs=ModelOutputs(...)) "
                    "with a sampled_loss: train through fit with a loss that is a negative "
                    "log-likelihood (mean squared error, cross-entropy on logits), or use "
                    "fisher='empirical'"
                )
            return
        self._sampling = True
        try:
            with torch.enable_grad():
                loss = sampled_loss(model_outputs.outputs_fn())
                weights = [r.weight for r in self._recorders]
                torch.autograd.grad(loss, weights, allow_unused=True)
        finally:
            self._sampling = False

    # -- the step --------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        *,
        model_outputs: ModelOutputs | None = None,
    ) -> torch.Tensor | None:
        """One K-FAC update; returns the closure's loss (the closure's pass, or the pass
        before ``step`` in a loop without closure, is where the factors are recorded;
        ``model_outputs`` of the same minibatch serve the sampled Fisher)."""
        self._require_bound()
        recording = self._recording()
        loss = self._evaluate(closure)
        if recording:
            self._sampled_pass(model_outputs)
        self._apply_schedule()
        work = [
            (g, p, self._apply_weight_decay(g, p, grads)) for g, p, grads in self._clipped_work()
        ]
        gradients = {
            p: grad for _, params, grads in work for p, grad in zip(params, grads, strict=True)
        }
        steps = dict(gradients)
        options = self.param_groups[0]
        preconditioned = []
        for recorder in self._recorders:
            if recorder.weight not in gradients:
                continue
            state = self._factors(recorder, recording)
            if self.iterations % options["inverse_update_freq"] == 0:
                self._invert(state, options["damping"])
            steps.update(self._precondition(recorder, state, gradients))
            preconditioned += [p for p in (recorder.weight, recorder.bias) if p in gradients]
        if options["kl_clip"] is not None and preconditioned:
            self._clip_kl(preconditioned, steps, gradients)
        for group, params, _ in work:
            if params:
                self._update_loop(group, params, [steps[p] for p in params])
        self._end_step()
        return loss

    def _factors(self, recorder: _Recorder, recording: bool) -> dict[str, Any]:
        """The layer's running A and G, updated with this step's estimates."""
        state = self.state[recorder.weight]
        pending = recorder.take() if recording else None
        if pending is None:
            if "A" not in state:
                raise RuntimeError(
                    f"KFAC has no statistics for layer {recorder.name!r}: its forward and "
                    "backward pass must run with autograd after prepare() (fit does both)"
                )
            return state
        estimate_a, estimate_g = pending
        if "A" not in state:
            state["A"], state["G"] = estimate_a, estimate_g
            return state
        decay = self.param_groups[0]["stat_decay"]
        state["A"].lerp_(estimate_a, 1.0 - decay)
        state["G"].lerp_(estimate_g, 1.0 - decay)
        return state

    @staticmethod
    def _invert(state: dict[str, Any], damping: float) -> None:
        """(A + π√λ I)⁻¹ and (G + √λ/π I)⁻¹ (§6.3)."""
        a, g = state["A"], state["G"]
        tiny = torch.finfo(a.dtype).tiny
        mean_a = (torch.trace(a) / len(a)).clamp_min(tiny)
        mean_g = (torch.trace(g) / len(g)).clamp_min(tiny)
        pi = torch.sqrt(mean_a / mean_g)
        gamma = damping**0.5
        state["A_inverse"] = damped_inverse(a, pi * gamma)
        state["G_inverse"] = damped_inverse(g, gamma / pi)

    @staticmethod
    def _precondition(
        recorder: _Recorder, state: dict[str, Any], gradients: dict[torch.Tensor, torch.Tensor]
    ) -> dict[torch.Tensor, torch.Tensor]:
        """G⁻¹ ∇W̃ A⁻¹ (torch's layout) or A⁻¹ ∇W̃ G⁻¹ (Keras's), split back into W and b."""
        weight, bias = recorder.weight, recorder.bias
        grad_w = gradients[weight]
        grad_b = gradients.get(bias) if bias is not None else None
        if bias is not None and grad_b is None:
            grad_b = torch.zeros_like(bias)
        a_inverse, g_inverse = state["A_inverse"], state["G_inverse"]
        if recorder.layout == "in_out":
            stacked = grad_w if grad_b is None else torch.cat([grad_w, grad_b[None, :]], 0)
            direction = a_inverse @ stacked @ g_inverse
            parts = {weight: direction[: len(grad_w)]}
            if bias is not None:
                parts[bias] = direction[-1]
        else:
            stacked = grad_w if grad_b is None else torch.cat([grad_w, grad_b[:, None]], 1)
            direction = g_inverse @ stacked @ a_inverse
            parts = {weight: direction[:, : grad_w.shape[1]]}
            if bias is not None:
                parts[bias] = direction[:, -1]
        return {p: d for p, d in parts.items() if p in gradients}

    def _clip_kl(
        self,
        params: list[torch.Tensor],
        steps: dict[torch.Tensor, torch.Tensor],
        gradients: dict[torch.Tensor, torch.Tensor],
    ) -> None:
        """Scale the preconditioned steps by ν = min(1, √(κ / Σ η² Δᵀ∇)), on the device."""
        rates = {p: group["lr"] for group in self.param_groups for p in group["params"]}
        predicted = torch.stack(
            [rates[p] ** 2 * torch.sum(steps[p] * gradients[p]) for p in params]
        )
        kl_clip = self.param_groups[0]["kl_clip"]
        nu = torch.sqrt(kl_clip / predicted.sum().clamp_min(torch.finfo(predicted.dtype).tiny))
        nu = nu.clamp(max=1.0)
        for param in params:
            steps[param] = steps[param] * nu

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        """θ ← θ − η b with b ← μ b + Δ, Δ the preconditioned gradient passed in."""
        lr, momentum = group["lr"], group["momentum"]
        for param, step in zip(params, grads, strict=True):
            if momentum != 0:
                state = self.state[param]
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = step.detach().clone()
                else:
                    buffer.mul_(momentum).add_(step)
                step = buffer
            param.add_(step, alpha=-lr)
