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
  (K-FAC): the loop calls :meth:`~deepdescent.optimizers.Optimizer.prepare` with the
  model's :class:`~deepdescent.layers.recording.LayerRecord`\ s before the first step and
  :meth:`~deepdescent.optimizers.Optimizer.release` after the last.

What the loop may call, besides ``step``: ``prepare(layers)`` / ``release()`` (above),
``use_evaluation_weights()`` / ``use_training_weights()`` (methods whose evaluation point
differs from the point where gradients are taken: Schedule-Free's average), and
``finalize()`` at the end of training (Polyak averaging's copy of the average). Each is a
no-op on the optimizer base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["ModelOutputs", "TrainingNeeds"]


@dataclass(frozen=True)
class TrainingNeeds:
    """What an optimizer needs from the loop that drives it (see the module docstring)."""

    closure: bool = False
    full_batch: bool = False
    autograd: bool = False
    model_outputs: bool = False
    layer_statistics: bool = False


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

    Example (a plain PyTorch loop with Hessian-free)::

        opt.step(closure, model_outputs=ModelOutputs(lambda: net(x),
                                                     lambda z: F.cross_entropy(z, y)))
    """

    outputs_fn: Callable[[], torch.Tensor]
    loss_of_outputs: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[[], torch.Tensor] | None = None
    sampled_loss: Callable[[torch.Tensor], torch.Tensor] | None = None
