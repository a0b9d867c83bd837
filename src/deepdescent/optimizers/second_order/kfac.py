r"""K-FAC: natural-gradient steps with a Kronecker-factored Fisher, layer by layer, with the
step size, momentum and damping chosen by the quadratic model as Martens & Grosse do.

Martens & Grosse, "Optimizing Neural Networks with Kronecker-factored Approximate
Curvature", ICML 2015 (M&G). For a fully connected layer ``z = W̃ ã`` (ã = [a; 1]: the
input with the bias as an extra homogeneous coordinate, W̃ = [W  b]) and g = ∂L/∂z, the
layer's block of the Fisher is approximated by a Kronecker product (§3)::

    F ≈ E[ã ãᵀ] ⊗ E[g gᵀ] = A ⊗ G

so its inverse costs two small inverses, and the proposal is (§4, torch's (out, in) layout;
for Keras's (in, out) kernel, ``A⁻¹ ∇W̃ᵀ G⁻¹``)::

    Δ = −(A ⊗ G + damping)⁻¹ vec ∇h  =  −vec((G + (γ/π) I)⁻¹ ∇W̃ (A + πγ I)⁻¹)

One step k on a minibatch S (``adaptive=True``, the default, M&G's Algorithm 2):

1. **Statistics** (§5), every ``factor_update_freq`` steps: ``A ← εA + (1 − ε)Â``,
   ``G ← εG + (1 − ε)Ĝ`` with ``ε = min(1 − 1/k', stat_decay)`` (k' the number of
   recordings so far: a plain mean until the exponential average takes over) and
   ``Â = ãᵀã/N``, ``Ĝ = N gᵀg`` over N examples. ``fisher`` chooses the g: ``"sampled"``,
   the paper's, back-propagates the loss at targets drawn from the model's predictive
   distribution, on the first τ₁ = ``statistics_fraction`` (1/8, M&G's) of the minibatch —
   one more pass on an eighth of it, or none with ``adaptive`` when those examples lead
   the quadratic model's (step 4): the backward pass that builds its Gauss–Newton products
   back-propagates a vector u on which they do not depend, so it carries the sampled
   loss's gradient; ``"empirical"`` reuses the gradients of the training
   loss at the observed targets — free, but the empirical Fisher is a poorer curvature
   (Kunstner et al. 2019); ``"auto"`` samples when the step is given ``model_outputs``
   whose loss is a negative log-likelihood it can sample from (``fit`` gives them; mean
   squared error and cross-entropy on logits qualify) and is empirical otherwise.
2. **Inverses with factored Tikhonov damping** (§6.3): ``(A + πγ I)⁻¹`` and
   ``(G + γ/π I)⁻¹`` with ``π = √((tr A / dim A) / (tr G / dim G))`` and the damping
   strength γ of step 5. The factors the inverses are taken of are refreshed every
   T₃ = ``inverse_update_freq`` steps (20, M&G's) and at the first three; in between, when
   γ changes, the damped inverses are rebuilt from the factors of the last refresh. The
   inverses are Cholesky's (an eigendecomposition where rounding defeats it): M&G (§8)
   keep eigendecompositions so that a new γ costs one matrix product, but on one CPU
   thread an eigendecomposition of a 1000 × 1000 factor takes about three Cholesky
   inverses, and γ changes only every T₂ steps.
3. **The proposal** Δ for every layer the optimizer taps (``prepare``); any other
   parameter takes ``−∇h`` (a first-order step, reported once by a warning). The
   gradient of a pass over N examples is ``∇W̃ = gᵀã``, so ``G⁻¹∇W̃A⁻¹ = (gG⁻¹)ᵀ(ãA⁻¹)``:
   N(out² + in² + out·in) multiply-adds instead of out·in·(out + in), taken where fewer
   (at batch 250 it halves the cost for the autoencoder's 1000-wide layers), from the
   gradient pass's rows, when the gradient is theirs (checked; see
   :func:`_per_example_applies`).
4. **Step size and momentum from the exact quadratic model** (§7): with δ₀ the previous
   update, α and μ minimize ``M(δ) = ½ δᵀ(F + (λ + η) I)δ + ∇hᵀδ`` over
   ``δ = αΔ + μδ₀``, F the exact Fisher (the Gauss–Newton matrix ``Jᵀ H_L J`` of the
   model's loss at the minibatch's targets, which is the Fisher for a loss that is the
   negative log-likelihood of its outputs; plus the Hessian of the model's penalty), on
   τ₂ = ``curvature_fraction`` (1/4) of the minibatch, but at least
   ``min_curvature_examples`` (128) of its examples (consecutive sub-batches of that size in
   turn) — a 2 × 2 linear system::

       [ΔᵀCΔ   ΔᵀCδ₀ ] [α]     [∇hᵀΔ ]
       [δ₀ᵀCΔ  δ₀ᵀCδ₀] [μ] = − [∇hᵀδ₀],    C = F + (λ + η) I

   (one dimension, μ = 0, at the first step). ``θ ← θ + η_lr δ`` with η_lr = ``lr`` (1).
5. **The factored damping γ, greedily** (§6.6): γ starts at ``√(λ₀ + η)`` (η the
   coupled ``weight_decay``); every T₂ = ``gamma_update_freq`` steps (20) proposals are
   also made with ω₂γ and γ/ω₂ (ω₂ = √(19/20)^T₂), each gets its own α and μ, and the
   one whose model minimum M(δ*) is lowest is the step and sets γ. The γ tried are
   applied by Cholesky solves; only the chosen one's inverses are made explicit.
6. **Levenberg–Marquardt damping** (§6.5), every T₁ = ``damping_update_freq`` steps (5):
   the reduction ratio ``ρ = (h(θ + δ) − h(θ)) / (M(δ) − M(0))`` of the model *without*
   λ (one more forward pass on S) sets ``λ ← ω₁λ`` if ρ > 3/4 and ``λ ← λ/ω₁`` if
   ρ < 1/4, ω₁ = (19/20)^T₁. Two safeguards of Levenberg–Marquardt and trust-region
   methods (Moré 1978; Nocedal & Wright, *Numerical Optimization*, Algorithm 4.1) that M&G
   do not have: ρ is also measured at the first step and at every step after a measured
   ρ < 1/4, until one is not; and a measured try that raised h (or made it non-finite)
   is undone, ``λ ← 4λ``, and α, μ are solved again from the same 2-D model with the new
   λ (no new curvature products: one forward pass per try), up to four tries, after which
   θ and δ₀ stay as they were. Where λ dominates the model the step shrinks as about
   1/λ, so each retry about quarters it, as the trust radius is quartered after a poor
   step. Why: on a small ReLU CNN the first step from λ₀ = 1e-3 raised h (2.3 → 5.5 on
   its minibatch); the Gauss–Newton model of the saturated softmax then under-estimated
   the curvature along δ₀ ninefold or more (μ = −5.6, then −220), and h reached 1e10
   before step T₁ measured ρ. Where the model predicts well this measures ρ at one step in
   about T₁ as before (the deep autoencoder: 81 of its first 400 steps instead of 80).

With ``adaptive=False`` steps 4–6 are replaced by fixed hyperparameters (the K-FAC of
Ba, Grosse & Martens 2017 and of Osawa et al. 2019): λ = ``damping`` stays and
γ = √(λ + η), the step is
``b ← μ b + Δ;  θ ← θ + η b`` with η = ``lr`` (0.01), μ = ``momentum`` (0.9), and
optionally KL clipping scales Δ by ``ν = min(1, √(κ / Σ η² Δᵀ∇h))``, κ = ``kl_clip``.

How the statistics are collected: the optimizer declares ``layer_statistics`` (and
``autograd``) in its :class:`~deepdescent.optimizers.contract.TrainingNeeds`, so ``fit``
trains with autograd and, before the first step, calls :meth:`KFAC.prepare` with the
model's :class:`~deepdescent.layers.recording.LayerRecord`\ s (the layers the registry of
:mod:`deepdescent.layers.recording` knows: ``Dense``, ``torch.nn.Linear`` and the
convolutions with one group), then :meth:`KFAC.release` after the last. A convolution's
factors are KFC's (Grosse & Martens 2016: A from the patches the kernel meets, summed over
the |T| output locations, G from the output derivatives averaged over them; see
:mod:`~deepdescent.optimizers.second_order.kfc`), and its proposal is reshaped back to the
kernel. In a plain PyTorch loop::

    opt = KFAC(net.parameters(), adaptive=False)
    opt.prepare(deepdescent.layers.recording.recordable_layers(net))
    # ... the usual forward, backward, opt.step()

(``adaptive=True`` needs ``step(closure, model_outputs=ModelOutputs(...))`` there.)

Warning:
    Not built from M&G: the block-tridiagonal inverse (§4.3), the growing minibatch
    schedule and the iterate averaging of their experiments (§13).
    Their λ₀ = 150 is for a loss summed over the outputs; deepdescent's losses average
    over them (Keras's convention), which divides F by the number of outputs, hence the
    smaller default λ₀ here. Neither Keras nor torch.optim has K-FAC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from deepdescent.autodiff import GaussNewton, dot, hessian_vector_product
from deepdescent.optimizers.base import LearningRate, Optimizer, Params, resolve_learning_rate
from deepdescent.optimizers.contract import ModelOutputs, TrainingNeeds
from deepdescent.optimizers.second_order.layer_taps import LayerTap, tap_layers, warn_untapped
from deepdescent.utils._checks import check_argument, check_count, is_number

if TYPE_CHECKING:
    from deepdescent.layers.recording import LayerRecord

__all__ = ["KFAC", "damped_inverse"]

# Hyperparameters of the whole model, read from the first parameter group.
_SHARED = (
    "damping",
    "adaptive",
    "stat_decay",
    "factor_update_freq",
    "inverse_update_freq",
    "damping_update_freq",
    "gamma_update_freq",
    "statistics_fraction",
    "curvature_fraction",
    "min_curvature_examples",
    "kl_clip",
    "fisher",
)
_FISHERS = ("auto", "sampled", "empirical")
# M&G §6.5: ω₁ = (19/20)^T₁; λ is not lowered below a floor so that the damped factors stay
# invertible when the model keeps predicting well (tensorflow/kfac keeps 1e-8 too).
_OMEGA_BASE, _MIN_DAMPING, _MIN_GAMMA = 19.0 / 20.0, 1e-8, 1e-8
_GOOD_RATIO, _POOR_RATIO = 0.75, 0.25
# Step 6's safeguard: λ's factor after a try that raised h (where λ dominates the model
# the step shrinks as about 1/λ: a quarter, as Nocedal & Wright's Algorithm 4.1 quarters
# the trust radius), and the tries after the first, each a forward pass.
_REJECTION_FACTOR, _RETRIES = 4.0, 3
# How closely the gradient must equal the gradient pass's gᵀã (float32 sums in another
# order) for the per-example product of step 3 to stand for it.
_PASS_MATCH = 1e-4
# The damped inverses a layer's state holds.
_INVERSES = ("A_inverse", "G_inverse")
# The defaults of the two modes (see the module docstring).
_ADAPTIVE_LR, _FIXED_LR, _FIXED_MOMENTUM = 1.0, 0.01, 0.9


def damped_inverse(factor: torch.Tensor, shift: torch.Tensor | float) -> torch.Tensor:
    """``(M + shift·I)⁻¹`` of a symmetric positive semi-definite M, by eigendecomposition
    (eigenvalues below 0, rounding errors, are taken as 0)."""
    eigenvalues, vectors = torch.linalg.eigh(factor)
    return _inverse_from(eigenvalues, vectors, shift)


def _inverse_from(
    eigenvalues: torch.Tensor, vectors: torch.Tensor, shift: torch.Tensor | float
) -> torch.Tensor:
    return (vectors / (eigenvalues.clamp_min(0) + shift)) @ vectors.T


class KFAC(Optimizer):
    """K-FAC (Martens & Grosse 2015) for fully connected layers, KFC (Grosse & Martens
    2016) for convolutions.

    Args:
        params: parameters or groups; omit for a Keras-style specification.
        lr: a number or a schedule (``learning_rate`` is accepted as its Keras name):
            with ``adaptive`` the fraction of the model's step δ taken (1), else η of the
            fixed step (0.01).
        momentum: μ in [0, 1) of the fixed step (0.9); with ``adaptive`` μ is chosen by
            the quadratic model, so giving it is an error.
        damping: λ >= 0 (1e-3): with ``adaptive`` its starting value λ₀, adapted by
            Levenberg–Marquardt (step 6, which undoes a step that raised the loss and
            retries it with 4λ, so a λ₀ too small for the network costs a few forward
            passes, not the run); else fixed (0: none, for factors known to be
            invertible). 1e-3 suits the deep autoencoder (1e-2 trains it more slowly) and
            trains a small ReLU CNN on Fashion-MNIST as well as 1e-2 does. Martens &
            Grosse start at λ₀ = 150.
        weight_decay, decoupled_weight_decay, clipvalue, clipnorm, global_clipnorm:
            see :class:`~deepdescent.optimizers.base.Optimizer`; clipping and coupled decay
            act on the gradient before it is preconditioned, and coupled decay η joins
            the damping (γ = √(λ + η)) and the quadratic model.
        adaptive: choose α, μ and λ by the quadratic model (M&G §6.5, §7; needs
            ``model_outputs``, which ``fit`` gives), or take the fixed step.
        stat_decay: the largest ε in [0, 1) of the factors' running averages (0.95).
        factor_update_freq: record the factors every this many steps (1).
        inverse_update_freq: T₃, refresh the factors the inverses are taken of every this many
            steps (20).
        damping_update_freq: T₁, adapt λ every this many steps (5), and at the steps
            that step 6 watches.
        gamma_update_freq: T₂, adapt γ every this many steps (20).
        statistics_fraction: τ₁ in (0, 1], the part of the minibatch the sampled pass
            runs on (1/8).
        curvature_fraction: τ₂ in (0, 1], the part of the minibatch the exact Fisher of
            the quadratic model is taken on (1/4, M&G's, whose minibatches hold
            thousands).
        min_curvature_examples: the fewest examples that Fisher is taken on (128; the
            whole minibatch when it is smaller). α = −∇hᵀΔ / ΔᵀCΔ divides by an estimate,
            which the noise of a few dozen examples biases upwards (Jensen): 784-32-10 on
            Fashion-MNIST at batch 128, 2 epochs, seeds 0 and 1, reaches test accuracy
            0.74 and 0.15 with a quarter of the batch, 32 examples, 0.73 and 0.52 with 64,
            0.81 and 0.83 with all 128.
        kl_clip: κ > 0 to clip the fixed steps' predicted KL divergence, or ``None``.
        fisher: ``"auto"``, ``"sampled"`` or ``"empirical"``: the gradients G is made of.
        foreach, fused: accepted for the common signature (the per-layer algebra has one
            body).

    :meth:`prepare` (``fit`` calls it) makes the layers known. The optimizer's numbers
    live in the state of the first parameter: ``damping`` (λ), and with ``adaptive``
    ``gamma``, ``alpha``, ``mu``, the last measured ``reduction_ratio`` and, once a try
    has been undone, ``rejected_steps`` (the count of tries undone).
    """

    def __init__(
        self,
        params: Params | None = None,
        lr: LearningRate | None = None,
        momentum: float | None = None,
        damping: float = 1e-3,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        adaptive: bool = True,
        stat_decay: float = 0.95,
        factor_update_freq: int = 1,
        inverse_update_freq: int = 20,
        damping_update_freq: int = 5,
        gamma_update_freq: int = 20,
        statistics_fraction: float = 0.125,
        curvature_fraction: float = 0.25,
        min_curvature_examples: int = 128,
        kl_clip: float | None = None,
        fisher: str = "auto",
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        **clipping: Any,
    ) -> None:
        check_argument("adaptive", adaptive, isinstance(adaptive, bool), "True or False")
        if adaptive:
            check_argument(
                "momentum",
                momentum,
                momentum is None,
                "None: adaptive K-FAC chooses μ itself "
                "(M&G §7); pass adaptive=False for a fixed momentum",
            )
            check_argument(
                "kl_clip",
                kl_clip,
                kl_clip is None,
                "None: KL clipping is for the fixed "
                "step (adaptive=False); the adaptive step is sized by the quadratic model",
            )
        momentum = _FIXED_MOMENTUM if momentum is None else momentum
        check_argument(
            "momentum", momentum, is_number(momentum) and 0.0 <= momentum < 1.0, "0 <= momentum < 1"
        )
        check_argument("damping", damping, is_number(damping) and damping >= 0, "damping >= 0")
        check_argument("damping", damping, damping > 0 or not adaptive, "damping > 0 when adaptive")
        check_argument("stat_decay", stat_decay, 0.0 <= stat_decay < 1.0, "0 <= stat_decay < 1")
        check_count("factor_update_freq", factor_update_freq)
        check_count("inverse_update_freq", inverse_update_freq)
        check_count("damping_update_freq", damping_update_freq)
        check_count("gamma_update_freq", gamma_update_freq)
        check_count("min_curvature_examples", min_curvature_examples)
        for name, value in (
            ("statistics_fraction", statistics_fraction),
            ("curvature_fraction", curvature_fraction),
        ):
            check_argument(name, value, is_number(value) and 0 < value <= 1, "a number in (0, 1]")
        check_argument("kl_clip", kl_clip, kl_clip is None or kl_clip > 0, "a number > 0 or None")
        check_argument("fisher", fisher, fisher in _FISHERS, "'auto', 'sampled' or 'empirical'")
        check_argument(
            "gradient_accumulation_steps",
            clipping.get("gradient_accumulation_steps", 1),
            clipping.get("gradient_accumulation_steps", 1) == 1,
            "1: the factors are recorded from the pass of each step",
        )
        defaults = {
            "lr": resolve_learning_rate(
                lr, learning_rate, default=_ADAPTIVE_LR if adaptive else _FIXED_LR
            ),
            **({} if adaptive else {"momentum": momentum}),
            "damping": damping,
            "weight_decay": weight_decay,
            "adaptive": adaptive,
            "stat_decay": stat_decay,
            "factor_update_freq": factor_update_freq,
            "inverse_update_freq": inverse_update_freq,
            "damping_update_freq": damping_update_freq,
            "gamma_update_freq": gamma_update_freq,
            "statistics_fraction": statistics_fraction,
            "curvature_fraction": curvature_fraction,
            "min_curvature_examples": min_curvature_examples,
            "kl_clip": kl_clip,
            "fisher": fisher,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults, **clipping)
        self._taps: list[LayerTap] = []
        # The damped inverses (Cholesky factors) of the γ tried on a T₂ step, until γ is
        # chosen.
        self._trials: dict[LayerTap, dict[float, dict[str, _ShiftedInverse]]] = {}
        # None: the rule between steps (record a training pass on recording steps, for
        # a loop that runs its pass before step()); True/False inside step().
        self._tapping: bool | None = None

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; only ``lr``, ``momentum`` and the weight decay may differ from the
        first group's (the factors' schedule and damping are one for the whole model),
        and with ``adaptive`` not ``lr`` either (one step for the whole model)."""
        super().add_param_group(param_group)
        first, new = self.param_groups[0], self.param_groups[-1]
        shared = _SHARED + (("lr",) if first["adaptive"] else ())
        for key in shared:
            if new[key] != first[key]:
                self.param_groups.pop()
                raise ValueError(
                    f"Invalid {key}: {new[key]!r} in a parameter group (expected "
                    f"{first[key]!r} as in the first group: it is shared by all layers)"
                )

    # -- the contract with the training loop ---------------------------------------

    def needs(self) -> TrainingNeeds:
        """Autograd and the layers' statistics always; the step's model outputs for the
        quadratic model and for the sampled Fisher."""
        options = self._spec_defaults
        outputs = options["adaptive"] or options["fisher"] != "empirical"
        return TrainingNeeds(autograd=True, layer_statistics=True, model_outputs=outputs)

    def prepare(self, layers: Sequence[LayerRecord]) -> None:
        """Tap every layer of ``layers`` whose weight this optimizer holds (replacing the
        taps of an earlier ``prepare``); warn once about parameters no tap covers."""
        self._require_bound()
        self.release()
        held = [p for group in self.param_groups for p in group["params"]]
        self._taps = tap_layers(layers, held, self._tap_active)
        warn_untapped("KFAC", self._taps, self.param_groups, "they take gradient steps")

    def release(self) -> None:
        """Remove the taps that :meth:`prepare` put on the layers."""
        for tap in self._taps:
            tap.detach()
        self._taps = []

    def _tap_active(self) -> bool:
        if self._tapping is not None:
            return self._tapping
        options = self.param_groups[0]
        return options["fisher"] != "sampled" and self._recording_step()

    def _recording_step(self) -> bool:
        return self.iterations % self.param_groups[0]["factor_update_freq"] == 0

    def _gradient_is_factored(self) -> bool:
        """Whether the gradient pass is recorded for the per-example products of step 3:
        with taps, and without element-wise clipping (which could leave the check of
        :func:`_per_example_applies` untouched while changing other elements)."""
        return bool(self._taps) and self.clipvalue is None

    def _sampling(self, model_outputs: ModelOutputs | None) -> bool:
        """Whether this step's statistics come from a sampled pass (§5)."""
        fisher = self.param_groups[0]["fisher"]
        can = model_outputs is not None and model_outputs.sampled_loss is not None
        if fisher == "sampled" and not can:
            raise ValueError(
                "KFAC(fisher='sampled') needs step(..., model_outputs=ModelOutputs(...)) "
                "with a sampled_loss: train through fit with a loss that is a negative "
                "log-likelihood (mean squared error, cross-entropy on logits), or use "
                "fisher='empirical'"
            )
        return fisher != "empirical" and can and bool(self._taps)

    def _sampled_pass(self, model_outputs: ModelOutputs) -> GaussNewton | None:
        """Record the factors from a pass on the first τ₁ of the minibatch whose backward
        starts at targets drawn from the model's predictive distribution (M&G §5).

        With ``adaptive``, when those examples lead the quadratic model's, that pass is the
        backward pass that builds the model's Gauss–Newton operator (step 4), which is
        returned: the u it back-propagates (zero otherwise; the products do not depend on
        it) is the sampled loss's gradient on those examples, so the statistics cost no
        forward and backward pass of their own."""
        fraction = self.param_groups[0]["statistics_fraction"]
        examples, part = model_outputs.chunk_rows(fraction), model_outputs.chunk(fraction)
        sampled_loss = part.sampled_loss
        assert sampled_loss is not None  # _sampling checked it
        shared = self._shared_examples(model_outputs, examples)
        operator, recorded = None, False
        self._tapping = True
        try:
            with torch.enable_grad():
                if shared is not None:
                    operator = self._gauss_newton_sampling(model_outputs, shared, sampled_loss)
                    recorded = self._keep_examples(shared, len(operator.outputs))
                if not recorded:
                    loss = sampled_loss(part.outputs_fn())
                    torch.autograd.grad(loss, [t.weight for t in self._taps], allow_unused=True)
        finally:
            self._tapping = False
        return operator

    def _shared_examples(self, model_outputs: ModelOutputs, examples: slice | None) -> slice | None:
        """The leading examples of the quadratic model's sub-batch that are the sampled
        pass's ``examples`` (``None``: all of the minibatch), or ``None`` when they are not
        among them or the parameters move in between (decoupled weight decay)."""
        if not self.param_groups[0]["adaptive"] or any(
            g["decoupled_weight_decay"] and g["weight_decay"] for g in self.param_groups
        ):
            return None
        curvature = self._curvature_rows(model_outputs)
        if examples is None:
            return slice(None) if curvature is None else None
        if curvature is None or (curvature.start == 0 and examples.stop <= curvature.stop):
            return slice(0, examples.stop)
        return None

    def _gauss_newton_sampling(
        self,
        model_outputs: ModelOutputs,
        shared: slice,
        sampled_loss: Callable[[torch.Tensor], torch.Tensor],
    ) -> GaussNewton:
        """The quadratic model's operator, its build's u the gradient of the sampled loss
        on the ``shared`` examples of the outputs (zero on the others)."""

        def sampled_gradient(outputs: torch.Tensor) -> torch.Tensor:
            head = outputs[shared].requires_grad_()
            (gradient,) = torch.autograd.grad(sampled_loss(head), head)
            probe = torch.zeros_like(outputs)
            probe[shared] = gradient
            return probe

        part = self._curvature_part(model_outputs)
        params = [p for group in self.param_groups for p in self._params_with_grads(group)[0]]
        return GaussNewton(part.outputs_fn, part.loss_of_outputs, params, probe=sampled_gradient)

    def _keep_examples(self, shared: slice, examples: int) -> bool:
        """Cut the taps' records of the operator's pass to the ``shared`` examples; where a
        layer's leading axis is not the examples', drop them all (the caller runs the
        sampled pass on its own)."""
        if shared == slice(None):
            return True
        if all(tap.keep_examples(shared, examples) for tap in self._taps):
            return True
        for tap in self._taps:
            tap.take()
        return False

    # -- the step --------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        *,
        model_outputs: ModelOutputs | None = None,
    ) -> torch.Tensor | None:
        """One K-FAC update; returns the closure's loss (the closure's pass, or the pass
        before ``step`` in a loop without closure, is where the empirical factors are
        recorded; ``model_outputs`` of the same minibatch serve the sampled Fisher and the
        quadratic model)."""
        self._require_bound()
        options = self.param_groups[0]
        if options["adaptive"] and model_outputs is None:
            raise ValueError(
                "KFAC(adaptive=True) chooses its step from the exact quadratic model, "
                "which needs step(closure, model_outputs=ModelOutputs(...)): train through "
                "fit (which passes them), pass them in your loop, or use adaptive=False"
            )
        recording = self._recording_step()
        sampling = recording and self._sampling(model_outputs)
        factored = closure is not None and self._gradient_is_factored()
        self._tapping = (recording and not sampling) or factored
        try:
            loss = self._evaluate(closure)
            # The gradient pass's (ã, g), for the per-example products of step 3; left
            # pending when they are also this step's statistics.
            keep = recording and not sampling
            passes = (
                {t: _as_rows(t.pending() if keep else t.take()) for t in self._taps}
                if factored
                else {}
            )
            gauss_newton = None
            if sampling:
                assert model_outputs is not None
                gauss_newton = self._sampled_pass(model_outputs)
            self._tapping = False
            self._apply_schedule()
            work = [(g, p, self._apply_weight_decay(g, p, gs)) for g, p, gs in self._clipped_work()]
            gradients = {p: grad for _, ps, gs in work for p, grad in zip(ps, gs, strict=True)}
            gammas = self._gammas()
            proposals = self._proposals(gradients, recording, gammas, passes)
            if options["adaptive"]:
                assert model_outputs is not None
                self._adaptive_step(
                    work, gradients, gammas, proposals, loss, model_outputs, gauss_newton
                )
            else:
                self._fixed_step(work, gradients, proposals[0])
        finally:
            self._tapping = None
        self._end_step()
        return loss

    def _home(self) -> dict[str, Any]:
        return self.state[self.param_groups[0]["params"][0]]

    def _gammas(self) -> list[float]:
        """The factored damping strengths γ to try this step: the current one, and on every
        T₂-th step of the adaptive method also ω₂γ and γ/ω₂ (M&G §6.6). Without
        ``adaptive``, γ = √(λ + η) for the fixed λ."""
        home, options = self._home(), self.param_groups[0]
        damping = home.setdefault("damping", float(options["damping"]))
        decay = float(options["weight_decay"])
        if not options["adaptive"]:
            return [math.sqrt(damping + decay)]
        gamma = home.setdefault("gamma", math.sqrt(damping + decay))
        period = options["gamma_update_freq"]
        if self.iterations == 0 or self.iterations % period:
            return [gamma]
        omega = math.sqrt(_OMEGA_BASE) ** period
        return [gamma, max(gamma * omega, _MIN_GAMMA), gamma / omega]

    def _proposals(
        self,
        gradients: dict[torch.Tensor, torch.Tensor],
        recording: bool,
        gammas: list[float],
        passes: dict[LayerTap, tuple[torch.Tensor, torch.Tensor] | None],
    ) -> list[dict[torch.Tensor, torch.Tensor]]:
        """For each γ of ``gammas``: −F̆(γ)⁻¹∇h for the tapped layers' parameters and −∇h
        for the others (steps 1–3). The first γ uses the layers' damped inverses (rebuilt
        when γ changed); the others new ones, kept until γ is chosen."""
        refresh = (
            self.iterations < 3
            or self.iterations % self.param_groups[0]["inverse_update_freq"] == 0
        )
        # −∇h for the parameters no tap preconditions (the taps fill in the others).
        covered = {p for t in self._taps if t.weight in gradients for p in (t.weight, t.bias)}
        proposals = [{p: -g for p, g in gradients.items() if p not in covered} for _ in gammas]
        for tap in self._taps:
            if tap.weight not in gradients:
                continue
            state = self._factors(tap, recording)
            if refresh or "A_refreshed" not in state:
                self._refresh(state)
            # On a T₂ step the current γ's inverses, if they must be made anew, are tried
            # like the others: only the chosen γ's are made explicit.
            current = state.get("inverse_gamma") == gammas[0]
            if not current and len(gammas) == 1:
                self._damp(state, gammas[0])
                current = True
            trials = {
                gamma: _trial_inverses(state, gamma)
                for gamma in (gammas[1:] if current else gammas)
            }
            inverses = [{key: _ShiftedInverse(state[key]) for key in _INVERSES}] if current else []
            stacked, gradient_pass = tap.stack(gradients), passes.get(tap)
            directions = [
                self._proposal(tap, tried, stacked, gradient_pass)
                for tried in inverses + list(trials.values())
            ]
            self._trials[tap] = trials
            for proposal, direction in zip(proposals, directions, strict=True):
                proposal.update({p: d for p, d in tap.split(direction).items() if p in gradients})
        return proposals

    def _factors(self, tap: LayerTap, recording: bool) -> dict[str, Any]:
        """The layer's running A and G, updated with this step's estimates (step 1)."""
        state = self.state[tap.weight]
        count = state.get("factor_updates", 0) + 1
        if "A" in state:
            decay = min(1.0 - 1.0 / count, self.param_groups[0]["stat_decay"])
            if recording and tap.average_kronecker_factors((state["A"], state["G"]), 1 - decay):
                state["factor_updates"] = count
            return state
        estimates = tap.kronecker_factors() if recording else None
        if estimates is None:
            raise RuntimeError(
                f"KFAC has no statistics for layer {tap.name!r}: its forward and "
                "backward pass must run with autograd after prepare() (fit does both)"
            )
        state["A"], state["G"] = estimates
        state["factor_updates"] = count
        return state

    @staticmethod
    def _refresh(state: dict[str, Any]) -> None:
        """The factors the inverses are taken of until the next refresh, and π (§6.3)
        from their traces (tr A / dim A is the mean eigenvalue)."""
        for key in ("A", "G"):
            state[f"{key}_refreshed"] = state[key].clone()
        tiny = torch.finfo(state["A"].dtype).tiny
        mean_a = (torch.trace(state["A"]) / len(state["A"])).clamp_min(tiny)
        mean_g = (torch.trace(state["G"]) / len(state["G"])).clamp_min(tiny)
        state["pi"] = torch.sqrt(mean_a / mean_g)
        state.pop("inverse_gamma", None)

    @staticmethod
    def _damp(state: dict[str, Any], gamma: float) -> None:
        """(A + πγ I)⁻¹ and (G + γ/π I)⁻¹ of the refreshed factors (§6.3)."""
        state.update(_damped_inverses(state, gamma))
        state["inverse_gamma"] = gamma

    @staticmethod
    def _proposal(
        tap: LayerTap,
        inverses: dict[str, _ShiftedInverse],
        stacked: torch.Tensor,
        gradient_pass: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Δ = −G⁻¹ ∇W̃ A⁻¹ (torch's layout) or −A⁻¹ ∇W̃ G⁻¹ (Keras's), over (ã, g)
        coordinates; from the gradient pass's N rows when that is cheaper and ∇W̃ is
        theirs (the sign then goes on the N rows of g G⁻¹, not on the whole matrix)."""
        a_inverse, g_inverse = inverses["A_inverse"], inverses["G_inverse"]
        if gradient_pass is not None and _per_example_applies(tap, stacked, gradient_pass):
            a, g = gradient_pass
            inputs, outputs = a_inverse.right(a), g_inverse.right(g).neg_()
            return inputs.T @ outputs if tap.layout == "in_out" else outputs.T @ inputs
        if tap.layout == "in_out":
            return g_inverse.right(a_inverse.left(stacked)).neg_()
        return a_inverse.right(g_inverse.left(stacked)).neg_()

    # -- adaptive: α, μ and λ from the quadratic model (M&G §6.5, §7) ------------------

    def _adaptive_step(
        self,
        work: list[tuple[dict[str, Any], list[torch.Tensor], list[torch.Tensor]]],
        gradients: dict[torch.Tensor, torch.Tensor],
        gammas: list[float],
        proposals: list[dict[torch.Tensor, torch.Tensor]],
        loss: Any,
        model_outputs: ModelOutputs,
        gauss_newton: GaussNewton | None = None,
    ) -> None:
        """Steps 4–5: of the proposals (one per γ tried), the one whose 2-D model reaches the
        lowest minimum (§6.6), with its α and μ (§7); then λ by Levenberg–Marquardt.
        ``gauss_newton``: the model's operator when the sampled pass built it."""
        params = list(gradients)
        home, options = self._home(), self.param_groups[0]
        decay = [
            0.0 if g["decoupled_weight_decay"] else float(g["weight_decay"])
            for g, ps, _ in work
            for _ in ps
        ]
        directions = [[proposal[p] for p in params] for proposal in proposals]
        momentum = all("previous_update" in self.state[p] for p in params)
        if momentum:
            directions.append([self.state[p]["previous_update"] for p in params])
        part = self._curvature_part(model_outputs)
        undamped = self._curvature_gram(part, params, directions, decay, gauss_newton)
        squares = _gram(directions, directions)
        damped = undamped + home["damping"] * squares
        linear = torch.stack([dot([gradients[p] for p in params], d) for d in directions])
        best: tuple[float, int, list[int], torch.Tensor] | None = None
        for index in range(len(proposals)):
            rows = [index, len(proposals)] if momentum else [index]
            coefficients = _solve_model(damped[rows][:, rows], linear[rows])
            minimum = float(0.5 * linear[rows] @ coefficients)  # M(δ*) − M(0) = ½ cᵀx*
            if best is None or minimum < best[0]:
                best = (minimum, index, rows, coefficients)
        assert best is not None
        _, index, rows, coefficients = best
        home["gamma"] = gammas[index]
        for tap, trials in self._trials.items():  # the chosen γ's inverses, made explicit
            if home["gamma"] in trials:
                self.state[tap.weight].update(
                    {key: inverse.explicit() for key, inverse in trials[home["gamma"]].items()},
                    inverse_gamma=home["gamma"],
                )
        self._trials = {}
        if loss is None:  # a loop that ran its pass before step(): h(θ) from the outputs
            loss = model_outputs.cost()
        value = _objective_value(loss, params, decay)
        model, squares, linear = undamped[rows][:, rows], squares[rows][:, rows], linear[rows]
        # θ as it was, to undo a measured step that raised h (step 6), exactly.
        before = [p.detach().clone() for p in params] if self._measures_ratio() else None
        for attempt in range(1 + (_RETRIES if before is not None else 0)):
            if attempt:  # λ was raised: the same 2-D model, re-damped
                coefficients = _solve_model(model + home["damping"] * squares, linear)
            home["alpha"] = float(coefficients[0])
            home["mu"] = float(coefficients[1]) if momentum else 0.0
            scaled = coefficients * float(options["lr"])
            update = torch._foreach_mul(directions[rows[0]], float(scaled[0]))
            for c, row in zip(scaled[1:], rows[1:], strict=True):
                torch._foreach_add_(update, directions[row], alpha=float(c))
            torch._foreach_add_(params, update)
            if before is None:
                break
            predicted = float(0.5 * scaled @ model @ scaled + linear @ scaled)
            if self._adapt_damping(model_outputs, params, decay, value, predicted):
                break
            torch._foreach_copy_(params, before)
        else:
            return  # every try raised h: θ and δ₀ stay
        for param, step in zip(params, update, strict=True):
            self.state[param]["previous_update"] = step

    def _measures_ratio(self) -> bool:
        """Whether ρ is measured after this step (step 6): on every T₁-th step (M&G), and
        on the first step and on every step after a measured ρ < 1/4 until one is not."""
        ratio = self._home().get("reduction_ratio")
        period = self.param_groups[0]["damping_update_freq"]
        return (self.iterations + 1) % period == 0 or ratio is None or ratio < _POOR_RATIO

    def _curvature_part(self, model_outputs: ModelOutputs) -> ModelOutputs:
        """The quadratic model's sub-batch (:meth:`_curvature_rows`)."""
        examples = self._curvature_rows(model_outputs)
        if examples is None or model_outputs.rows is None:
            return model_outputs
        return model_outputs.rows(examples)

    def _curvature_rows(self, model_outputs: ModelOutputs) -> slice | None:
        """The examples of the quadratic model (``None``: all): ⌈τ₂N⌉ of the N, at least
        ``min_curvature_examples`` (all N if fewer), the k-th of the whole sub-batches of
        that size at step k, cyclically (a remainder smaller than the others is skipped)."""
        options, size = self.param_groups[0], model_outputs.batch_size
        if model_outputs.rows is None or size is None:
            return None
        wanted = math.ceil(options["curvature_fraction"] * size)
        count = min(size, max(wanted, options["min_curvature_examples"]))
        if count == size:
            return None
        start = (self.iterations % (size // count)) * count
        return slice(start, start + count)

    def _curvature_gram(
        self,
        part: ModelOutputs,
        params: list[torch.Tensor],
        directions: list[list[torch.Tensor]],
        decay: list[float],
        gauss_newton: GaussNewton | None = None,
    ) -> torch.Tensor:
        """``[dᵢᵀ (F + η I) dⱼ]``: the exact Fisher (Gauss–Newton) of the sub-batch (by
        ``gauss_newton`` when it is built already), the penalty's Hessian and the coupled
        weight decay η."""
        with torch.enable_grad():
            if gauss_newton is None:
                gauss_newton = GaussNewton(part.outputs_fn, part.loss_of_outputs, params)
            gram = gauss_newton.quadratic_form(directions)
            if part.penalty is not None:
                curved = [hessian_vector_product(part.penalty, params, d) for d in directions]
                gram = gram + _gram(directions, curved)
        if any(decay):
            weighted = [[v * eta for v, eta in zip(d, decay, strict=True)] for d in directions]
            gram = gram + _gram(directions, weighted)
        return gram

    def _adapt_damping(
        self,
        model_outputs: ModelOutputs,
        params: list[torch.Tensor],
        decay: list[float],
        value: float,
        predicted: float,
    ) -> bool:
        """Step 6 after a measured try: whether it is kept (h did not rise), and λ ← 4λ if
        not, else ω₁λ if ρ > 3/4 and λ/ω₁ if ρ < 1/4 (M&G §6.5)."""
        home, options = self._home(), self.param_groups[0]
        new_value = _objective_value(model_outputs.cost(), params, decay)
        ratio = (new_value - value) / predicted if predicted < 0 else -math.inf
        if not math.isfinite(new_value):
            ratio = -math.inf
        kept = new_value <= value  # False for NaN too
        omega = _OMEGA_BASE ** options["damping_update_freq"]
        if not kept:
            home["damping"] = home["damping"] * _REJECTION_FACTOR
            home["rejected_steps"] = home.get("rejected_steps", 0) + 1
        elif ratio > _GOOD_RATIO:  # down to the floor, never up to it (a λ₀ below it)
            home["damping"] = max(home["damping"] * omega, min(home["damping"], _MIN_DAMPING))
        elif ratio < _POOR_RATIO:
            home["damping"] = home["damping"] / omega
        home["reduction_ratio"] = ratio
        return kept

    # -- fixed: η, μ and λ as given ------------------------------------------------------

    def _fixed_step(
        self,
        work: list[tuple[dict[str, Any], list[torch.Tensor], list[torch.Tensor]]],
        gradients: dict[torch.Tensor, torch.Tensor],
        proposals: dict[torch.Tensor, torch.Tensor],
    ) -> None:
        steps = {p: -d for p, d in proposals.items()}
        tapped = [p for t in self._taps for p in (t.weight, t.bias) if p in gradients]
        if self.param_groups[0]["kl_clip"] is not None and tapped:
            self._clip_kl(tapped, steps, gradients)
        for group, params, _ in work:
            if params:
                self._update_loop(group, params, [steps[p] for p in params])

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


def _damped_inverses(state: dict[str, Any], gamma: float) -> dict[str, torch.Tensor]:
    """(A + πγ I)⁻¹ and (G + γ/π I)⁻¹ of the refreshed factors, explicit."""
    return {key: inverse.explicit() for key, inverse in _trial_inverses(state, gamma).items()}


def _trial_inverses(state: dict[str, Any], gamma: float) -> dict[str, _ShiftedInverse]:
    """(A + πγ I)⁻¹ and (G + γ/π I)⁻¹ of the refreshed factors, as Cholesky factors."""
    pi = state["pi"]
    return {
        "A_inverse": _ShiftedInverse.factored(state["A_refreshed"], pi * gamma),
        "G_inverse": _ShiftedInverse.factored(state["G_refreshed"], gamma / pi),
    }


class _ShiftedInverse:
    """``(M + s I)⁻¹`` of a symmetric positive semi-definite factor, applied to matrices: by
    the explicit inverse (the γ in use: one product per step), or by the Cholesky factor L
    (a γ only tried on a T₂ step: two triangular solves; the factorization takes a third of
    the explicit inverse's time for a 1000 × 1000 factor, and an eigendecomposition three
    explicit inverses'), made explicit only if that γ is chosen. ``matrix`` is the inverse,
    or L when ``cholesky``."""

    def __init__(self, matrix: torch.Tensor, cholesky: bool = False) -> None:
        self.matrix, self.cholesky = matrix, cholesky

    @classmethod
    def factored(cls, factor: torch.Tensor, shift: torch.Tensor | float) -> _ShiftedInverse:
        """By Cholesky; by eigendecomposition (:func:`damped_inverse`, explicit) when
        rounding leaves M + s I not numerically positive definite."""
        eye = torch.eye(len(factor), dtype=factor.dtype, device=factor.device)
        lower, info = torch.linalg.cholesky_ex(factor + shift * eye)
        if int(info) != 0:
            return cls(damped_inverse(factor, shift))
        return cls(lower, cholesky=True)

    def left(self, matrix: torch.Tensor) -> torch.Tensor:
        """``(M + s I)⁻¹ X``."""
        if self.cholesky:
            return torch.cholesky_solve(matrix, self.matrix)
        return self.matrix @ matrix

    def right(self, matrix: torch.Tensor) -> torch.Tensor:
        """``X (M + s I)⁻¹``."""
        if self.cholesky:
            return torch.cholesky_solve(matrix.T, self.matrix).T
        return matrix @ self.matrix

    def explicit(self) -> torch.Tensor:
        """``(M + s I)⁻¹`` as a matrix."""
        if not self.cholesky:
            return self.matrix
        # Row-major, as a restored checkpoint holds it: the products that use it then take
        # the same BLAS path, and a resumed run stays bit-identical.
        return torch.cholesky_inverse(self.matrix).contiguous()


def _as_rows(
    record: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A tap's (ã, g) with one row per example and location (the gradient sums over both)."""
    if record is None:
        return None
    a, g = record
    return a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])


def _per_example_applies(
    tap: LayerTap, stacked: torch.Tensor, gradient_pass: tuple[torch.Tensor, torch.Tensor]
) -> bool:
    """Whether ``G⁻¹ ∇W̃ A⁻¹ = (g G⁻¹)ᵀ (ã A⁻¹)`` (torch's layout; Keras's transposed) is
    the cheaper order: the gradient of a pass over N rows is ``∇W̃ = gᵀã``, so the product
    costs N(out² + in² + out·in) multiply-adds instead of out·in·(out + in) — fewer when
    N is small against the layer's widths. ``stacked`` must be that gᵀã: a penalty, coupled
    weight decay, norm clipping or a layer called twice in the pass make it differ, which
    the comparison of their row sums, ``gᵀ(ã 1)``, detects (N·(in + out) multiply-adds)."""
    a, g = gradient_pass
    rows, (inputs, outputs) = len(a), (a.shape[1], g.shape[1])
    if rows * (inputs * inputs + outputs * outputs + inputs * outputs) >= (
        inputs * outputs * (inputs + outputs)
    ):
        return False
    expected = g.T @ a.sum(1)
    actual = stacked.sum(0) if tap.layout == "in_out" else stacked.sum(1)
    if actual.shape != expected.shape:
        return False
    return bool(
        torch.linalg.vector_norm(actual - expected)
        <= _PASS_MATCH * torch.linalg.vector_norm(expected)
    )


def _gram(left: list[list[torch.Tensor]], right: list[list[torch.Tensor]]) -> torch.Tensor:
    """``[uᵢᵀ vⱼ]`` of two lists of vectors, each split like the parameters (of one list
    with itself, the upper triangle mirrored: uᵢᵀuⱼ and uⱼᵀuᵢ are the same sums)."""
    if left is not right:
        return torch.stack([torch.stack([dot(u, v) for v in right]) for u in left])
    upper = {(i, j): dot(left[i], left[j]) for i in range(len(left)) for j in range(i, len(left))}
    return torch.stack(
        [
            torch.stack([upper[min(i, j), max(i, j)] for j in range(len(left))])
            for i in range(len(left))
        ]
    )


def _solve_model(matrix: torch.Tensor, linear: torch.Tensor) -> torch.Tensor:
    """The minimizer x of ½ xᵀ M x + cᵀx (M the damped k × k model, positive definite for
    λ > 0); where the 2 × 2 system is singular to working precision (a previous update
    parallel to the proposal), the one-dimensional model of the proposal alone."""
    if len(linear) == 2:
        determinant = matrix[0, 0] * matrix[1, 1] - matrix[0, 1] ** 2
        scale = matrix[0, 0] * matrix[1, 1]
        if float(determinant) > 1e3 * torch.finfo(matrix.dtype).eps * float(scale):
            return torch.linalg.solve(matrix, -linear)
    alpha = -linear[0] / matrix[0, 0]
    return torch.stack([alpha] + [torch.zeros_like(alpha)] * (len(linear) - 1))


def _objective_value(loss: Any, params: list[torch.Tensor], decay: list[float]) -> float:
    """h(θ): the loss plus the coupled weight decay's ½η‖θ‖² (the function the model
    approximates), on the host."""
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    return value + sum(
        0.5 * eta * float(torch.sum(p * p)) for p, eta in zip(params, decay, strict=True) if eta
    )
