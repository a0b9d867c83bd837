r"""The contract between a training loop and an optimizer, in one place.

An optimizer *declares* what it needs; the loop (``fit``, or a plain PyTorch loop written
by hand) *hands it over*. Nothing else passes between them: an optimizer never reaches
into a model, and the trainer never probes an optimizer for optional methods.

What an optimizer declares — :meth:`~deepdescent.optimizers.Optimizer.needs`, a
:class:`TrainingNeeds`:

* ``closure``: ``step`` must be given a closure (it re-evaluates the loss: line searches,
  Newton, SAM's second gradient). ``fit`` always passes one.
* ``full_batch``: a batch method (Goodfellow et al. §8.1.3): in ``fit``, ``batch_size=None``
  means the whole training set per step rather than Keras's 32.
* ``autograd``: the gradients must come from autograd's backward pass (Hessian-vector
  products differentiate it; statistics are read by hooks), so ``fit`` must not take its
  hand-written back-propagation fast path.
* ``model_outputs``: ``step`` takes ``model_outputs=``, a :class:`ModelOutputs` of the
  step's minibatch (Gauss–Newton products, the sampled Fisher).
* ``layer_statistics``: the optimizer records per-layer inputs and output gradients
  (K-FAC, Hessian-free's preconditioner): the loop calls
  :meth:`~deepdescent.optimizers.Optimizer.prepare` with the model's
  :class:`~deepdescent.layers.recording.LayerRecord`\ s before the first step and
  :meth:`~deepdescent.optimizers.Optimizer.release` after the last.
* ``progress``: a step can take seconds (Hessian-free's conjugate gradient, Newton's
  Hessian), so ``step`` takes ``progress=``, a :data:`Progress` callable it calls after
  each inner iteration; the loop passes one that reaches its progress display, or
  ``None`` when nothing listens. The optimizer never reaches the display itself.

What the loop may call, besides ``step``: ``prepare(layers)`` / ``release()`` (above),
``use_evaluation_weights()`` / ``use_training_weights()`` (methods whose evaluation point
differs from the point where gradients are taken: Schedule-Free's average), and
``finalize()`` at the end of training (Polyak averaging's copy of the average). Each is a
no-op on the optimizer base.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["ModelOutputs", "Progress", "TrainingNeeds"]

#: ``progress(done, total, unit)``: ``done`` of ``total`` inner iterations of the current
#: step are finished (``total`` is an upper bound: CG may stop early); ``unit`` names
#: them (``"CG"``, ``"Hessian columns"``).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TrainingNeeds:
    """What an optimizer needs from the loop that drives it (see the module docstring)."""

    closure: bool = False
    full_batch: bool = False
    autograd: bool = False
    model_outputs: bool = False
    layer_statistics: bool = False
    progress: bool = False


@dataclass(frozen=True)
class ModelOutputs:
    """The network and the loss of one minibatch, as functions of the parameters.

    Attributes:
        outputs_fn: builds the network outputs z = f(x; θ) on the step's minibatch (with
            their graph), recomputed at every call.
        loss_of_outputs: z ↦ L(y, z), the data term of the cost at the minibatch's targets
            y (without the regularization penalty).
        penalty: the regularization penalty Ω(θ), or ``None`` when the model has none.
        sampled_loss: z ↦ the loss at targets drawn from the model's predictive
            distribution p(y | z), scaled so that its gradient g in z has
            E[g gᵀ] = ∇²_z L (Martens & Grosse 2015, §5), or ``None`` when the loss is not
            the negative log-likelihood of such a distribution.
        batch_size: the number of examples (rows) of the minibatch, or ``None`` if unknown.
        rows: ``rows(s)`` is the same for the examples ``s`` (a slice) of the minibatch
            only, or ``None`` when the minibatch cannot be cut: curvature products on
            fewer examples than the gradient (Martens 2010, §4.3), K-FAC's statistics on
            a subset (Martens & Grosse 2015, §5). The trainer's minibatches are drawn in
            random order, so any slice of them is a random sub-batch.

    Example (a plain PyTorch loop with Hessian-free)::

        opt.step(closure, model_outputs=ModelOutputs(lambda: net(x),
                                                     lambda z: F.cross_entropy(z, y)))
    """

    outputs_fn: Callable[[], torch.Tensor]
    loss_of_outputs: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[[], torch.Tensor] | None = None
    sampled_loss: Callable[[torch.Tensor], torch.Tensor] | None = None
    batch_size: int | None = None
    rows: Callable[[slice], ModelOutputs] | None = None

    def cost(self) -> torch.Tensor:
        """J(θ) on the minibatch, ``loss_of_outputs(outputs_fn()) + penalty()``, with its
        graph when grad mode is on (the closure's loss, without its backward pass)."""
        value = self.loss_of_outputs(self.outputs_fn())
        return value if self.penalty is None else value + self.penalty()

    def chunk(self, fraction: float, index: int = 0) -> ModelOutputs:
        """The ``index``-th (counted cyclically) of the consecutive sub-batches of
        ⌈``fraction`` · batch_size⌉ examples that tile the minibatch; ``self`` when
        ``fraction`` is 1 or the minibatch cannot be cut (no ``rows``)."""
        examples = self.chunk_rows(fraction, index)
        if examples is None or self.rows is None:
            return self
        return self.rows(examples)

    def chunk_rows(self, fraction: float, index: int = 0) -> slice | None:
        """The examples :meth:`chunk` keeps, or ``None`` when it keeps the whole minibatch."""
        if fraction >= 1 or self.rows is None or self.batch_size is None:
            return None
        size = max(1, math.ceil(fraction * self.batch_size))
        start = (index % math.ceil(self.batch_size / size)) * size
        return slice(start, min(start + size, self.batch_size))
