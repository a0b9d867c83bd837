"""What every diagnostic starts from: a model, a loss and a batch made into the cost J(θ).

``(model, loss_fn, x, y)`` may be any ``torch.nn.Module`` or deepdescent model, a loss by
name (``deepdescent.losses.get``), a :class:`~deepdescent.losses.Loss`, a callable
``(y_true, y_pred)`` of per-example values (Keras's order), or a ``torch.nn.Module`` loss
such as ``torch.nn.CrossEntropyLoss()`` (torch's order, ``(outputs, targets)``), and a
batch of arrays or tensors. ``loss_fn=None`` takes the model's compiled loss. As in
``fit``, a model ending in the activation its loss can take as logits (softmax before
categorical cross-entropy) is differentiated through the stable logits form, and layer
penalties (``kernel_regularizer``) are part of the cost. The cost is evaluated with the
model in evaluation mode (no dropout): a diagnostic measures one deterministic function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch

from deepdescent import activations, losses
from deepdescent.autodiff import flatten, hessian_operator, unflatten
from deepdescent.utils._checks import check_argument, is_integer

__all__ = [
    "LossArgument",
    "Objective",
    "as_batch",
    "as_vector",
    "batched_products",
    "parameter_vector",
    "resolve",
    "seeded_generator",
    "trainable",
]

LossArgument = str | losses.Loss | Callable[..., torch.Tensor] | torch.nn.Module | None


def _identity(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class Objective:
    """The cost J(θ) = mean loss on one batch (+ penalties) as a function of a model's
    trainable parameters θ, with the flat-vector views diagnostics work in."""

    def __init__(
        self,
        model: torch.nn.Module,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        forward: Callable[[torch.Tensor], torch.Tensor],
        to_prediction: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        y: torch.Tensor,
    ) -> None:
        self.model = model
        self.loss, self.forward, self.to_prediction = loss, forward, to_prediction
        self.x, self.y = x, y
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        check_argument(
            "model", type(model).__name__, bool(named), "a model with trainable parameters"
        )
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.size = sum(p.numel() for p in self.params)
        has_penalty = getattr(model, "has_regularizers", None)
        self.penalty: Callable[[], torch.Tensor] | None = (
            cast(Callable[[], torch.Tensor], model.regularization_loss)
            if callable(has_penalty) and has_penalty()
            else None
        )

    # -- the cost ------------------------------------------------------------------------

    def cost(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """J(θ) on ``(x, y)`` (default: the objective's batch), a 0-d tensor with its graph."""
        outputs = self.forward(self.x if x is None else x)
        value = self.loss(self.y if y is None else y, outputs)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
            raise ValueError(
                f"Invalid loss_fn: it returned {shape} (expected a scalar loss: a mean over "
                "the batch, not per-example values)"
            )
        value = value.reshape(())
        return value if self.penalty is None else value + self.penalty()

    def value(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> float:
        """J(θ) as a float, without a graph."""
        with torch.no_grad(), self.evaluating():
            return float(self.cost(x, y))

    def gradient(self) -> tuple[torch.Tensor, torch.Tensor]:
        """J(θ) and ``vec ∇J(θ)`` (detached)."""
        with torch.enable_grad(), self.evaluating():
            value = self.cost()
            grads = torch.autograd.grad(
                value, self.params, allow_unused=True, materialize_grads=True
            )
        return value.detach(), flatten(grads)

    @contextlib.contextmanager
    def hessian(
        self,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]]:
        """J(θ), ``vec ∇J(θ)`` and ``v ↦ H v`` (flat, rows for a batch of vectors), the
        gradient's graph built once for every product made inside the block."""
        with self.evaluating():
            yield hessian_operator(self.cost, self.params)

    # -- θ as one vector -----------------------------------------------------------------

    def vector(self) -> torch.Tensor:
        """θ, flattened (a copy)."""
        return flatten([p.detach() for p in self.params]).clone()

    def assign(self, theta: torch.Tensor) -> None:
        """Set θ from a flat vector."""
        with torch.no_grad():
            for param, part in zip(self.params, unflatten(theta, self.params), strict=True):
                param.copy_(part)

    @contextlib.contextmanager
    def at(self, theta: torch.Tensor) -> Iterator[None]:
        """θ set to ``theta`` inside the block, restored after."""
        saved = self.vector()
        self.assign(theta)
        try:
            yield
        finally:
            self.assign(saved)

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """The model in evaluation mode inside the block (dropout off), restored after."""
        was_training = self.model.training
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was_training)

    def split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """A flat vector as views shaped like the parameters."""
        return unflatten(vector, self.params)


# -- building one -----------------------------------------------------------------------


def _check_model(model: Any) -> torch.nn.Module:
    check_argument(
        "model",
        type(model).__name__,
        isinstance(model, torch.nn.Module),
        "a torch.nn.Module or deepdescent model",
    )
    return model


def _torch_loss(module: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    reduction = getattr(module, "reduction", "mean")
    check_argument(
        "loss_fn", module, reduction != "none", "a loss that reduces the batch to a scalar"
    )
    return lambda y_true, y_pred: module(y_pred, y_true)


def _keras_loss(loss_fn: Any, model: torch.nn.Module) -> losses.Loss:
    if loss_fn is None:
        loss_fn = getattr(model, "loss", None)
        check_argument(
            "loss_fn", None, loss_fn is not None, "a loss (the model is not compiled with one)"
        )
    loss = losses.get(loss_fn)
    assert loss is not None
    check_argument("loss_fn", loss, loss.reduction != "none", "a loss that reduces to a scalar")
    return loss


def as_batch(
    value: Any, name: str, dtype: torch.dtype | None, device: torch.device
) -> torch.Tensor:
    """An array or tensor with a batch axis as a tensor of ``dtype`` (``None``: kept) on
    ``device``; a clear error for anything else."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        array = np.asarray(value)
        check_argument(
            name, f"array of dtype {array.dtype}", np.issubdtype(array.dtype, np.number), "numbers"
        )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    check_argument(
        name,
        f"shape {tuple(tensor.shape)}",
        tensor.dim() >= 1 and len(tensor) > 0,
        "a non-empty batch",
    )
    if dtype is None:
        dtype = tensor.dtype
    return tensor.to(device=device, dtype=dtype)


def resolve(model: Any, loss_fn: LossArgument, x: Any, y: Any) -> Objective:
    """The :class:`Objective` of ``loss_fn`` on ``(x, y)`` for ``model`` (see the module)."""
    model = _check_model(model)
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    device = first.device if first is not None else torch.device("cpu")
    float_dtype = first.dtype if first is not None else torch.get_default_dtype()
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    to_prediction: Callable[[torch.Tensor], torch.Tensor] = _identity
    target_dtype: torch.dtype | None
    if isinstance(loss_fn, torch.nn.Module) and not isinstance(loss_fn, losses.Loss):
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _torch_loss(loss_fn)
        target_dtype = None
    else:
        keras_loss = _keras_loss(loss_fn, model)
        fused = getattr(model, "output_activation", lambda: None)()
        if (
            fused is not None
            and fused == keras_loss.output_activation
            and not getattr(keras_loss, "from_logits", True)
        ):
            # As fit does: the exact log-softmax form on the pre-activation outputs.
            keras_loss = keras_loss.with_logits()
            forward = model.forward_pre_activation
            to_prediction = activations.get(fused)
        loss = keras_loss
        target_dtype = float_dtype if keras_loss.target_dtype.is_floating_point else torch.int64
    x_tensor = as_batch(x, "x", float_dtype, device)
    y_tensor = as_batch(y, "y", target_dtype, device)
    if target_dtype is None and y_tensor.is_floating_point():
        y_tensor = y_tensor.to(float_dtype)
    check_argument(
        "y",
        f"{len(y_tensor)} examples",
        len(y_tensor) == len(x_tensor),
        f"as many examples as x ({len(x_tensor)})",
    )
    return Objective(model, loss, forward, to_prediction, x_tensor, y_tensor)


def trainable(model: torch.nn.Module) -> list[torch.Tensor]:
    """The parameters diagnostics differentiate: those requiring grad, in module order."""
    return [p for p in model.parameters() if p.requires_grad]


def parameter_vector(model: torch.nn.Module) -> torch.Tensor:
    """A model's trainable parameters θ as one flat vector (a copy), in the order every
    diagnostic uses (``model.named_parameters()``)."""
    return flatten([p.detach() for p in trainable(_check_model(model))]).clone()


def as_vector(theta: Any, params: Sequence[torch.Tensor], name: str) -> torch.Tensor:
    """``theta`` — a flat vector, or one array or tensor per parameter of ``params`` (what
    ``get_weights`` returns) — as a flat tensor on the parameters' device and dtype."""
    reference, size = params[0], sum(p.numel() for p in params)
    if isinstance(theta, (list, tuple)):
        parts = [
            torch.as_tensor(np.asarray(t)) if not isinstance(t, torch.Tensor) else t for t in theta
        ]
        shapes = [tuple(p.shape) for p in params]
        check_argument(
            name,
            f"{len(parts)} tensors",
            [tuple(t.shape) for t in parts] == shapes,
            f"one tensor per trainable parameter with shapes {shapes}",
        )
        theta = flatten([t.to(reference) for t in parts])
    vector = (
        theta.detach() if isinstance(theta, torch.Tensor) else torch.as_tensor(np.asarray(theta))
    )
    check_argument(
        name,
        f"shape {tuple(vector.shape)}",
        tuple(vector.shape) == (size,),
        f"a flat vector of the {size} trainable parameters",
    )
    return vector.to(device=reference.device, dtype=reference.dtype)


def seeded_generator(seed: Any) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (draws made on the CPU are the same on every
    device, and the global generators that fit's shuffling uses are left alone)."""
    check_argument("seed", seed, is_integer(seed) and seed >= 0, "an int >= 0")
    return torch.Generator().manual_seed(int(seed))


def batched_products(
    product: Callable[[torch.Tensor], torch.Tensor], vectors: torch.Tensor
) -> torch.Tensor:
    """``H vᵢ`` for each row, in one vectorised call when every op supports it."""
    try:
        return product(vectors)
    except RuntimeError:  # an op without a batching rule: one product at a time
        return torch.stack([product(v) for v in vectors])
