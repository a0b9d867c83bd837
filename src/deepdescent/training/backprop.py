"""Back-propagation written out by hand, every rule in one place, keyed by layer and loss type.

Goodfellow, Bengio & Courville, *Deep Learning*, §6.5.6 (Algorithm 6.4): for a chain of
layers h⁽ᵏ⁾ = f⁽ᵏ⁾(h⁽ᵏ⁻¹⁾; θ⁽ᵏ⁾), the backward pass carries g = ∇_{h⁽ᵏ⁾} J from the loss down
the chain; each layer turns it into its parameters' gradients and ∇_{h⁽ᵏ⁻¹⁾} J.

A :class:`LayerRule` is one layer type's step of it (``Dense`` with a linear, sigmoid, tanh
or ReLU activation, ``Activation``, ``Dropout``, ``Flatten``, ``Reshape``), a loss gradient
rule gives ∇_z J in closed form where it has one (softmax cross-entropy: (p − y)/n) and
autograd on the loss alone otherwise. :func:`register_layer_rule` and
:func:`register_loss_gradient` extend the tables.

For small dense networks this is markedly faster than autograd, which records and replays
a graph of many small operations per step; the results are the same (the tests compare
every rule with autograd). It is a fast path the trainer takes only when nothing that
takes part in training needs autograd (see :mod:`deepdescent.training.gradient_path`):
module hooks do not fire on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch

from deepdescent import losses
from deepdescent.layers import Activation, Dense, Dropout, Flatten, Reshape
from deepdescent.training.objective import Objective

__all__ = [
    "BackpropObjective",
    "LayerRule",
    "loss_value_and_grad",
    "register_layer_rule",
    "register_loss_gradient",
    "rule_for",
    "supports_backprop",
]


@dataclass(frozen=True)
class LayerRule:
    """One layer type's hand-written forward and backward pass.

    Attributes:
        applies: whether the rule covers this layer as configured (an activation with a
            derivative written here, 2-D inputs).
        forward: ``forward(layer, inputs, activate)`` → (outputs, cache): the forward pass
            and what the backward pass needs; ``activate=False`` skips a final activation
            that the loss takes over.
        backward: ``backward(layer, cache, grad, need_input_grad)`` → dL/d(input) or
            ``None``: given dL/d(output) (which it may overwrite), writes the parameters'
            gradients into their ``.grad``.
    """

    applies: Callable[[Any], bool]
    forward: Callable[[Any, torch.Tensor, bool], tuple[torch.Tensor, Any]]
    backward: Callable[[Any, Any, torch.Tensor, bool], torch.Tensor | None]


# dL/dz from dL/da and the activation's output a = f(z), for the activations whose
# derivative is a function of their output (Goodfellow et al. §6.3): in place on grad.
_DERIVATIVE_FROM_OUTPUT: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": lambda grad, _out: grad,
    "sigmoid": lambda grad, out: grad.mul_(out).mul_(1.0 - out),
    "tanh": lambda grad, out: grad.mul_(1.0 - out * out),
    "relu": lambda grad, out: grad.mul_(out > 0),
    "softmax": lambda grad, out: grad.sub_((grad * out).sum(-1, keepdim=True)).mul_(out),
}


def _activation_applies(layer: Any) -> bool:
    return layer.activation_name in _DERIVATIVE_FROM_OUTPUT


def _activated_forward(layer: Any, inputs: torch.Tensor, activate: bool) -> tuple[Any, Any]:
    outputs = layer.call_pre_activation(inputs)
    if activate:
        outputs = layer.activation(outputs)
    return outputs, (inputs, outputs if activate else None)


def _activation_backward(layer: Any, grad: torch.Tensor, outputs: Any) -> torch.Tensor:
    """dL/dz from dL/da (``outputs`` is ``None`` when the activation was skipped)."""
    if outputs is None:
        return grad
    return _DERIVATIVE_FROM_OUTPUT[layer.activation_name](grad, outputs)


def _write_grad(param: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Compute a parameter's gradient into its existing ``.grad`` buffer when it has one."""
    if param.grad is None or param.grad.shape != param.shape:
        param.grad = torch.empty_like(param)
    compute(param.grad)


def _dense_applies(layer: Any) -> bool:
    shape = layer.build_input_shape
    return _activation_applies(layer) and shape is not None and len(shape) == 2


def _dense_backward(
    layer: Any, cache: Any, grad: torch.Tensor, need_input_grad: bool
) -> torch.Tensor | None:
    """dL/dW = xᵀ δ and dL/db = Σ δ into ``.grad`` (δ = dL/dz); returns dL/dx = δ Wᵀ."""
    inputs, outputs = cache
    delta = _activation_backward(layer, grad, outputs)
    _write_grad(layer.kernel, lambda out: torch.mm(inputs.t(), delta, out=out))
    if layer.bias is not None:
        _write_grad(layer.bias, lambda out: torch.sum(delta, 0, out=out))
    return delta.mm(layer.kernel.t()) if need_input_grad else None


def _activation_layer_backward(
    layer: Any, cache: Any, grad: torch.Tensor, need_input_grad: bool
) -> torch.Tensor | None:
    return _activation_backward(layer, grad, cache[1]) if need_input_grad else None


def _dropout_forward(layer: Any, inputs: torch.Tensor, activate: bool) -> tuple[Any, Any]:
    if not layer.training or layer.rate == 0:
        return inputs, None
    mask = layer.scaled_mask(inputs)
    return inputs * mask, mask


def _dropout_backward(
    layer: Any, cache: Any, grad: torch.Tensor, need_input_grad: bool
) -> torch.Tensor | None:
    if not need_input_grad:
        return None
    return grad if cache is None else grad.mul_(cache)


def _reshape_forward(layer: Any, inputs: torch.Tensor, activate: bool) -> tuple[Any, Any]:
    return layer.call(inputs), inputs.shape


def _reshape_backward(
    layer: Any, cache: Any, grad: torch.Tensor, need_input_grad: bool
) -> torch.Tensor | None:
    return grad.reshape(cache) if need_input_grad else None


def _always(layer: Any) -> bool:
    return True


_RESHAPING = LayerRule(_always, _reshape_forward, _reshape_backward)
_LAYER_RULES: dict[type[torch.nn.Module], LayerRule] = {
    Dense: LayerRule(_dense_applies, _activated_forward, _dense_backward),
    Activation: LayerRule(_activation_applies, _activated_forward, _activation_layer_backward),
    Dropout: LayerRule(_always, _dropout_forward, _dropout_backward),
    Flatten: _RESHAPING,
    Reshape: _RESHAPING,
}


def register_layer_rule(layer_type: type[torch.nn.Module], rule: LayerRule) -> None:
    """Give layers of exactly ``layer_type`` a hand-written backward pass."""
    _LAYER_RULES[layer_type] = rule


def rule_for(layer: torch.nn.Module) -> LayerRule | None:
    """The rule for ``layer`` as it is configured, or ``None`` (autograd is needed)."""
    rule = _LAYER_RULES.get(type(layer))  # exact type: a subclass may compute otherwise
    return rule if rule is not None and rule.applies(layer) else None


def supports_backprop(model: Any) -> bool:
    """Whether ``model`` is a chain of layers (``is_layer_chain``) that each have a
    hand-written backward pass (and nothing — a regularizer, a frozen parameter — needs
    autograd)."""
    # Only a plain chain of layers (Sequential) computes what the rules replay; a
    # subclass's call() or a graph may combine its layers any way.
    if not getattr(model, "is_layer_chain", False):
        return False
    layers = model.layers if hasattr(model, "layers") else None
    if not isinstance(layers, list) or not layers or model.has_regularizers():
        return False
    if getattr(model, "loss", None) is None:
        return False
    if not all(rule_for(layer) is not None for layer in layers):
        return False
    return all(p.requires_grad for p in model.parameters())


# -- the loss's end ------------------------------------------------------------------------

LossGradient = Callable[[Any, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]


def _batch_mean_from_logits(loss: losses.Loss, y_pred: torch.Tensor) -> bool:
    """Whether a closed-form gradient of the batch mean from logits applies."""
    return (
        loss.from_logits and y_pred.ndim == 2 and loss.reduction in ("sum_over_batch_size", "mean")
    )


def _categorical_gradient(
    loss: Any, y_true: torch.Tensor, y_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """From logits z: J = −(1/n) Σᵢ Σₖ yᵢₖ log softmax(zᵢ)ₖ and
    ∂J/∂zᵢ = (softmax(zᵢ) Σₖ yᵢₖ − yᵢ) / n."""
    if not _batch_mean_from_logits(loss, y_pred) or y_true.shape != y_pred.shape:
        return None
    targets = y_true.to(y_pred.dtype)
    if loss.label_smoothing:
        targets = targets * (1.0 - loss.label_smoothing) + (loss.label_smoothing / y_pred.shape[-1])
    count = y_pred.shape[0]
    log_probs = torch.log_softmax(y_pred, dim=-1)
    value = torch.mul(targets, log_probs).sum().div_(-count)
    grad = log_probs.exp_().mul_(targets.sum(-1, keepdim=True)).sub_(targets).div_(count)
    return value, grad


def _sparse_categorical_gradient(
    loss: Any, y_true: torch.Tensor, y_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """From logits z and labels c: J = −(1/n) Σᵢ log softmax(zᵢ)_{cᵢ} and
    ∂J/∂zᵢ = (softmax(zᵢ) − e_{cᵢ}) / n."""
    if not _batch_mean_from_logits(loss, y_pred) or loss.ignore_class is not None:
        return None
    if y_true.ndim != 1:
        return None
    count = y_pred.shape[0]
    labels = y_true.long().unsqueeze(1)
    log_probs = torch.log_softmax(y_pred, dim=-1)
    value = log_probs.gather(1, labels).sum().div_(-count)
    grad = log_probs.exp_().scatter_add_(1, labels, torch.full_like(labels, -1, dtype=y_pred.dtype))
    return value, grad.div_(count)


_LOSS_GRADIENTS: dict[type[losses.Loss], LossGradient] = {
    losses.CategoricalCrossentropy: _categorical_gradient,
    losses.SparseCategoricalCrossentropy: _sparse_categorical_gradient,
}


def register_loss_gradient(loss_type: type[losses.Loss], gradient: LossGradient) -> None:
    """Give losses of exactly ``loss_type`` a closed-form gradient in ``y_pred``: a function
    ``(loss, y_true, y_pred)`` → (value, ∂value/∂y_pred), or ``None`` where it does not
    apply (autograd on the loss alone is used then)."""
    _LOSS_GRADIENTS[loss_type] = gradient


def loss_value_and_grad(
    loss: losses.Loss, y_true: torch.Tensor, y_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reduced loss and its gradient in ``y_pred``: the closed form registered for the
    loss's type where it applies, else autograd through the loss alone."""
    closed_form = _LOSS_GRADIENTS.get(type(loss))
    result = closed_form(loss, y_true, y_pred) if closed_form is not None else None
    if result is not None:
        return result
    with torch.enable_grad():
        y_pred = y_pred.detach().requires_grad_()
        value = loss(y_true, y_pred)
        (grad,) = torch.autograd.grad(value, y_pred)
    return value.detach(), grad


# -- the objective -------------------------------------------------------------------------


@dataclass
class BackpropObjective(Objective):
    """The objective of a ``Sequential``, differentiated layer by layer without autograd."""

    fold: bool = False
    layers: list[Any] = field(default_factory=list)
    rules: list[LayerRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.layers = list(cast(Any, self.model).layers)
        found = [rule_for(layer) for layer in self.layers]
        if any(rule is None for rule in found):
            raise ValueError("BackpropObjective needs a rule for every layer (supports_backprop)")
        self.rules = cast(list[LayerRule], found)

    def value_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if sample_weight is not None:
            raise ValueError("The hand-written back-propagation takes no sample weights")
        layers, rules = self.layers, self.rules
        loss = cast(losses.Loss, self.loss)
        last = len(layers) - 1
        caches: list[Any] = []
        with torch.no_grad():
            outputs = x
            for index, (layer, rule) in enumerate(zip(layers, rules, strict=True)):
                outputs, cache = rule.forward(layer, outputs, not (self.fold and index == last))
                caches.append(cache)
            cost, grad = loss_value_and_grad(loss, y, outputs)
            for index in range(last, 0, -1):
                grad = cast(
                    torch.Tensor, rules[index].backward(layers[index], caches[index], grad, True)
                )
            rules[0].backward(layers[0], caches[0], grad, False)
        return cost, outputs
