r"""What a layer-wise second-order method reads from the layers: each affine layer's inputs
and the gradient reaching its outputs, on the passes the method chooses.

For a layer ``z = a W + b`` (Keras's kernel) or ``z = W a + b`` (torch's weight), one pass
over N examples gives ã, the inputs with a column of ones for the bias (the homogeneous
coordinate of Martens & Grosse 2015, §3), and g = ∂L/∂z, both with one row per example.
A convolution gives, per example, one such row per output location t: the patch ⟦ã⟧_t
the kernel meets there and g_t (Grosse & Martens 2016; see
:mod:`~deepdescent.optimizers.second_order.kfc`). From them:

* K-FAC's factors ``Â = ãᵀã / N`` and ``Ĝ = N gᵀg`` (Martens & Grosse 2015, §3, §5), and
  for a convolution KFC's ``Â = Σ_t ⟦ã⟧_t⟦ã⟧_tᵀ / N``, ``Ĝ = (N/|T|) Σ_t g_t g_tᵀ``
  (Grosse & Martens 2016, §3, Theorem 1);
* the sums of squared per-example gradients ``Σₙ (ãₙ gₙᵀ)² = (ã ⊙ ã)ᵀ (g ⊙ g)``, elementwise
  (Goodfellow 2015, "Efficient per-example gradient computations"): one matrix product
  per layer, where forming the N per-example gradients would take N times the memory —
  Hessian-free's diagonal preconditioner (Martens 2010, §4.7). A convolution's
  per-example gradient sums over its locations, so there the N of them are formed.

A :class:`LayerTap` is put on a layer through its
:class:`~deepdescent.layers.recording.LayerRecord` (the layer's own hook, nothing
replaced) and records only while the method's ``active()`` says so, so the method's other
passes (curvature products, evaluations of the loss) leave it alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from deepdescent.optimizers.second_order import kfc

if TYPE_CHECKING:
    from deepdescent.layers.recording import LayerRecord

__all__ = ["LayerTap", "tap_layers", "warn_untapped"]


class LayerTap:
    """The inputs ã and output gradients g of one layer's latest recorded pass.

    ``bias`` is the layer's bias when the method holds it (``ã`` then has the column of
    ones), else ``None``; ``layout`` is ``"in_out"`` (Keras) or ``"out_in"`` (torch; a
    convolution's weight flattened to ``(filters, in_channels · Πk)``)."""

    def __init__(
        self, layer: LayerRecord, bias: torch.Tensor | None, active: Callable[[], bool]
    ) -> None:
        self.name = layer.name or type(layer.module).__name__
        self.weight, self.bias, self.layout = layer.weight, bias, layer.layout
        self.convolution = layer.convolution
        self.active = active
        self.inputs: torch.Tensor | None = None
        self.gradients: torch.Tensor | None = None
        self.handle = layer.tap(self._record)

    def _record(self, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        if not (self.active() and torch.is_grad_enabled() and outputs.requires_grad):
            return
        self.inputs, self.gradients = inputs.detach(), None
        outputs.register_hook(self._record_gradient)

    def _record_gradient(self, grad: torch.Tensor) -> None:
        self.gradients = grad.detach()

    def take(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The pending (ã, g) as ``(N, |T|, in [+ 1])`` and ``(N, |T|, out)`` tensors in the
        weight's dtype (|T| = 1 for a fully connected layer, whose leading axes all count
        as examples), cleared; ``None`` when no pass was fully recorded since the last
        ``take``."""
        pending = self.pending()
        self.inputs = self.gradients = None
        return pending

    def pending(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The pending (ã, g) as :meth:`take` gives them, left pending."""
        inputs, gradients = self.inputs, self.gradients
        if inputs is None or gradients is None:
            return None
        dtype = self.weight.dtype
        if self.convolution is None:
            a = inputs.reshape(-1, 1, inputs.shape[-1]).to(dtype)
            g = gradients.reshape(-1, 1, gradients.shape[-1]).to(dtype)
        else:
            a = kfc.expanded_activations(inputs.to(dtype), self.convolution)
            g = kfc.location_rows(gradients.to(dtype), self.convolution)
        if self.bias is not None:
            a = torch.cat([a, a.new_ones(*a.shape[:2], 1)], dim=2)
        return a, g

    def keep_examples(self, examples: slice, total: int) -> bool:
        """Cut the pending record to ``examples`` of a pass over ``total`` examples, the
        leading axis of the layer's inputs and output gradients; ``False`` (the record left
        as it is) when that axis is not ``total`` long."""
        if self.inputs is None or self.gradients is None:
            return True
        if len(self.inputs) != total or len(self.gradients) != total:
            return False
        self.inputs, self.gradients = self.inputs[examples], self.gradients[examples]
        return True

    def kronecker_factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """K-FAC's (KFC's) ``(Â, Ĝ)`` of the pending pass, or ``None`` if there is none."""
        pending = self.take()
        return None if pending is None else kfc.kronecker_factors(*pending)

    def average_kronecker_factors(
        self, factors: tuple[torch.Tensor, torch.Tensor], weight: float
    ) -> bool:
        """Move the running ``(A, G)`` towards the pending pass's ``(Â, Ĝ)`` by ``weight`` in
        place (:func:`~deepdescent.optimizers.second_order.kfc.average_kronecker_factors`);
        whether there was a pass."""
        pending = self.take()
        if pending is not None:
            kfc.average_kronecker_factors(factors, *pending, weight)
        return pending is not None

    def split(self, stacked: torch.Tensor) -> dict[torch.Tensor, torch.Tensor]:
        """A matrix over (ã, g) coordinates — ``(in + 1) × out`` for Keras's layout,
        ``out × (in + 1)`` for torch's — cut back into the weight's and the bias's parts
        (a convolution's weight in its own shape)."""
        if self.layout == "in_out":
            parts = {self.weight: stacked[: self.weight.shape[0]]}
            if self.bias is not None:
                parts[self.bias] = stacked[-1]
        else:
            fan_in = self.weight[0].numel()
            parts = {self.weight: stacked[:, :fan_in].reshape(self.weight.shape)}
            if self.bias is not None:
                parts[self.bias] = stacked[:, -1]
        return parts

    def stack(self, parts: dict[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The inverse of :meth:`split`: the weight's and the bias's tensors (a missing
        bias as zeros) as one matrix over (ã, g) coordinates."""
        weight = parts[self.weight]
        if self.layout == "out_in":
            weight = weight.reshape(len(weight), -1)
        if self.bias is None:
            return weight
        bias = parts.get(self.bias)
        bias = torch.zeros_like(self.bias) if bias is None else bias
        if self.layout == "in_out":
            return torch.cat([weight, bias[None, :]], 0)
        return torch.cat([weight, bias[:, None]], 1)

    def squared_gradient_sums(
        self, fraction: float = 1.0
    ) -> dict[torch.Tensor, torch.Tensor] | None:
        """``(1/N) Σₙ (∇ℓₙ)²`` for the weight and the bias, with ℓₙ the loss of example n
        (the pass's loss being their mean, so its g is ∇_z ℓₙ / N): the diagonal of the
        empirical Fisher, from the pending pass (``None`` if there is none). With
        ``fraction`` < 1, the mean over the pass's first k = ⌈fraction · N⌉ examples only,
        ``(1/k) Σ_{n≤k} (∇ℓₙ)²`` (``fit``'s minibatches are in random order)."""
        pending = self.take()
        if pending is None:
            return None
        patches, derivatives = pending
        examples = len(patches)
        rows = max(1, math.ceil(fraction * examples))
        if rows >= examples:
            sums = kfc.squared_gradient_sums(patches, derivatives)
        else:
            # kfc's sum over k rows scales by k, and each ∇ℓₙ carries the pass's N.
            sums = kfc.squared_gradient_sums(patches[:rows], derivatives[:rows])
            sums *= (examples / rows) ** 2
        return self.split(sums if self.layout == "in_out" else sums.T)

    def detach(self) -> None:
        self.handle.remove()


def tap_layers(
    layers: Sequence[LayerRecord], held: Sequence[torch.Tensor], active: Callable[[], bool]
) -> list[LayerTap]:
    """A tap on every layer of ``layers`` whose weight is among the ``held`` tensors."""
    ids = {id(p) for p in held}
    taps = []
    for layer in layers:
        if id(layer.weight) in ids:
            bias = layer.bias if layer.bias is not None and id(layer.bias) in ids else None
            taps.append(LayerTap(layer, bias, active))
    return taps


def warn_untapped(
    method: str, taps: Sequence[LayerTap], groups: Sequence[dict[str, Any]], fallback: str
) -> None:
    """Warn once (per ``prepare``) that the parameters of ``groups`` that no tap covers take
    ``fallback`` instead of the method's layer-wise treatment, naming them (by their
    ``param_names`` when the groups have them, else by shape)."""
    covered = {id(t.weight) for t in taps} | {id(t.bias) for t in taps if t.bias is not None}
    left = []
    for group in groups:
        names = group.get("param_names") or [
            f"a tensor of shape {tuple(p.shape)}" for p in group["params"]
        ]
        left += [n for p, n in zip(group["params"], names, strict=True) if id(p) not in covered]
    if left:
        warnings.warn(
            f"{method}: {len(left)} parameter(s) are in no layer with a recorder (Dense, "
            f"torch.nn.Linear, convolutions with groups=1; deepdescent.layers.recording."
            f"register_recorder adds layer types): {', '.join(left[:8])}"
            f"{' …' if len(left) > 8 else ''}; {fallback}",
            RuntimeWarning,
            stacklevel=3,
        )
