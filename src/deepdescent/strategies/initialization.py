r"""Initialization that looks at the model and its data (Goodfellow et al. §8.4).

* :func:`initialize_biases` — the chapter's bias heuristics in one call: an output unit's
  bias set so that, while the weights are small, the output matches the targets'
  marginal statistics (``softmax(b)`` = the class frequencies c, b = log c; a sigmoid
  unit's b = logit of its positive rate; a linear unit's b = the targets' mean); hidden
  ReLU units' biases at a small positive constant (0.1) so that they start active; a
  gated layer's forget gate at 1 (through the hook :class:`~deepdescent.initializers.
  GatedBias` describes).
* :func:`lsuv` — layer-sequential unit variance (Mishkin & Matas 2016, Algorithm 1):
  orthonormal weights (Saxe et al. 2014), then, layer by layer from the input, the weights
  divided by √Var(B_L) — B_L the layer's output before its activation, on one batch —
  until |Var(B_L) − 1| < tolerance.
* :func:`signal_propagation` — the quantities initialization is chosen for, per layer:
  the variance of the forward activations h⁽ˡ⁾, and the norms of the back-propagated
  gradients ∂L/∂h⁽ˡ⁾ and ∂L/∂W⁽ˡ⁾ for a random unit-variance gradient at the output. Under
  a scale that suits the network they stay level across depth; too large or too small a
  scale makes them explode or vanish geometrically (Glorot & Bengio 2010).

References:
    Goodfellow, Bengio & Courville, *Deep Learning*, §8.4 (2016). D. Mishkin & J. Matas,
    "All you need is a good init", ICLR 2016. A. M. Saxe, J. L. McClelland & S. Ganguli,
    "Exact solutions to the nonlinear dynamics of learning in deep linear neural
    networks", ICLR 2014. X. Glorot & Y. Bengio, "Understanding the difficulty of training
    deep feedforward neural networks", AISTATS 2010.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from deepdescent import initializers
from deepdescent.layers import Activation, Dense
from deepdescent.layers.recording import LayerRecord, recordable_layers
from deepdescent.utils._checks import check_argument, check_count, check_positive

__all__ = ["SignalPropagation", "initialize_biases", "lsuv", "signal_propagation"]


def _layers(model: Any) -> Iterator[torch.nn.Module]:
    """The model's layers in order, the layers of containers (``Residual``) in place."""
    for layer in getattr(model, "layers", None) or []:
        yield layer
        yield from _layers(layer)


def _relu_units(model: Any) -> Iterator[Dense]:
    """The Dense layers whose units are ReLUs: ``activation="relu"``, or a linear Dense
    followed directly by ``Activation("relu")``."""
    found = list(_layers(model))
    for layer, after in zip(found, [*found[1:], None], strict=True):
        if not isinstance(layer, Dense) or layer.bias is None:
            continue
        follows = isinstance(after, Activation) and after.activation_name == "relu"
        if layer.activation_name == "relu" or (layer.activation_name == "linear" and follows):
            yield layer


def _output_layer(model: Any) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """The model's last layer, the affine layer that computes its output, and the
    activation that follows that one."""
    found = getattr(model, "layers", None)
    check_argument(
        "model", type(model).__name__, isinstance(found, list) and bool(found), "a Sequential"
    )
    layers = cast(list[torch.nn.Module], found)
    last = layers[-1]
    if isinstance(last, Activation) and len(layers) > 1:
        affine, activation = layers[-2], str(last.activation_name)
        if isinstance(affine, Dense) and affine.activation_name != "linear":
            activation = f"{affine.activation_name} then {activation}"
        return last, affine, activation
    return last, last, str(getattr(last, "activation_name", None))


def _as_array(y: Any) -> np.ndarray:
    array = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    check_argument(
        "y",
        f"array of shape {array.shape}",
        array.ndim >= 1 and len(array) > 0 and np.issubdtype(array.dtype, np.number),
        "a non-empty numeric array of training targets",
    )
    return array.astype(np.float64)


def _marginal_bias(y: np.ndarray, units: int, activation: str) -> np.ndarray:
    """The bias b whose activation equals the targets' marginal statistics."""
    n = len(y)
    floor = 0.5 / n  # a class never seen counts as half an example
    if activation == "softmax":
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and units > 1):
            labels = y.reshape(-1)
            check_argument(
                "y",
                f"labels in [{labels.min():g}, {labels.max():g}]",
                bool(np.all(labels == np.round(labels))) and labels.min() >= 0,
                f"integer class labels in [0, {units}) or one-hot rows of {units} columns",
            )
            check_argument("y", f"label {labels.max():g}", labels.max() < units, f"< {units}")
            frequencies = np.bincount(labels.astype(np.int64), minlength=units) / n
        else:
            check_argument(
                "y", f"shape {y.shape}", y.shape[1:] == (units,), f"(n, {units}) one-hot rows"
            )
            frequencies = y.mean(axis=0)
        frequencies = np.maximum(frequencies, floor)
        return np.log(frequencies / frequencies.sum())
    columns = y.reshape(n, -1)
    check_argument("y", f"shape {y.shape}", columns.shape[1] == units, f"{units} target column(s)")
    if activation == "sigmoid":
        rate = np.clip(columns.mean(axis=0), floor, 1.0 - floor)
        return np.log(rate / (1.0 - rate))
    if activation == "linear":
        return columns.mean(axis=0)
    raise ValueError(
        f"initialize_biases sets an output bias from the targets for a softmax, sigmoid or "
        f"linear output; this model's output activation is {activation!r}"
    )


@torch.no_grad()
def initialize_biases(
    model: Any,
    y: Any = None,
    *,
    relu_bias: float | None = 0.1,
    forget_bias: float | None = 1.0,
) -> None:
    """Set a model's biases by the heuristics of Goodfellow et al. §8.4, in place.

    * With training targets ``y``: the output layer's bias b, so that with small weights
      the output matches their marginal statistics — a softmax output: softmax(b) = the
      class frequencies (b = log c; ``y`` one-hot or integer labels); a sigmoid output:
      σ(b_j) = the rate of positives in column j; a linear output: b = the targets' mean.
      A class (or label) never seen counts as half an example, so b stays finite.
    * ``relu_bias``: every hidden ReLU unit's bias (``None`` leaves them), so that the
      units start in their active region; the output layer is not hidden and keeps its
      bias.
    * ``forget_bias``: the forget gate of every gated layer — a layer that declares
      ``gates`` (its bias's gate names, in order; see
      :class:`~deepdescent.initializers.GatedBias`) and has ``"forget"`` among them
      (``None`` leaves them).

    Args:
        model: a ``Sequential`` (the layers of a ``Residual`` are visited too).
        y: the training targets, or ``None`` to leave the output bias alone.
        relu_bias: the hidden ReLU units' bias, or ``None``.
        forget_bias: the forget gates' bias, or ``None``.
    """
    last, output, activation = _output_layer(model)
    for layer in _relu_units(model):
        if relu_bias is not None and layer is not output:
            cast(torch.Tensor, layer.bias).fill_(float(relu_bias))
    for module in _layers(model):
        gates = getattr(module, "gates", None)
        bias = getattr(module, "bias", None)
        if forget_bias is not None and gates and "forget" in gates and bias is not None:
            block = initializers.GatedBias(gates).block("forget", bias.shape[0])
            bias[block] = float(forget_bias)
    if y is None:
        return
    if not isinstance(output, Dense) or output.bias is None:
        raise ValueError(
            "initialize_biases sets the bias of the output layer from y, and this model's "
            f"output has no bias: it ends in {type(last).__name__}, not a Dense layer with "
            "use_bias=True"
        )
    bias = _marginal_bias(_as_array(y), output.units, activation)
    output.bias.copy_(torch.as_tensor(bias, dtype=output.bias.dtype))


def _inputs(model: Any, x: Any) -> torch.Tensor:
    prepare = getattr(model, "prepare_inputs", None)
    if callable(prepare):
        return prepare(x)
    first = next(iter(model.parameters()), None)
    tensor = torch.as_tensor(x)
    return tensor if first is None else tensor.to(device=first.device, dtype=first.dtype)


class _EvalMode:
    """The model in inference mode (no dropout, batch statistics left alone) for a while."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> None:
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)


def _output_variance(model: torch.nn.Module, record: LayerRecord, x: torch.Tensor) -> float:
    """Var(B_L) over the batch and the units: the layer's output before its activation."""
    seen: list[torch.Tensor] = []
    handle = record.tap(lambda _inputs, outputs: seen.append(outputs.detach().var(correction=0)))
    try:
        model(x)
    finally:
        handle.remove()
    return float(seen[-1])


def _orthonormal(record: LayerRecord, seed: int | None) -> torch.Tensor:
    """Orthonormal weights shaped like the record's; a convolution's kernel is drawn as
    its (fan-in, filters) matrix, as the paper does."""
    weight = record.weight
    flat = weight if record.layout == "in_out" else weight.reshape(len(weight), -1).T
    shape = tuple(flat.shape)
    drawn = initializers.Orthogonal(seed=seed)(shape, dtype=weight.dtype, device=weight.device)
    return drawn if record.layout == "in_out" else drawn.T.reshape(weight.shape)


@torch.no_grad()
def lsuv(
    model: torch.nn.Module,
    x: Any,
    *,
    tolerance: float = 0.1,
    max_iterations: int = 10,
    orthonormal: bool = True,
    seed: int | None = None,
) -> dict[str, float]:
    """Layer-sequential unit-variance initialization (Mishkin & Matas 2016, Algorithm 1).

    Every recordable layer (``Dense``, ``torch.nn.Linear``, convolutions; see
    :func:`~deepdescent.layers.recording.recordable_layers`) first gets orthonormal weights
    (unless ``orthonormal=False``); then, from the input layer up, its weights W_L are
    divided by √Var(B_L), with B_L its output before the activation on the batch ``x``,
    until |Var(B_L) − 1| < ``tolerance`` or ``max_iterations`` passes. The forward passes
    run in inference mode (no dropout; normalization layers use their running statistics
    and are not updated). Biases are left as they are.

    Args:
        model: the network (a ``Model`` or any ``torch.nn.Module``).
        x: one batch of inputs (the paper uses a minibatch of the training set).
        tolerance: Tol_var, the accepted distance of Var(B_L) from 1.
        max_iterations: T_max, the most rescalings per layer.
        orthonormal: start from orthonormal weights (the paper does).
        seed: the seed of the orthonormal draws (``None``: torch's global generator).

    Returns:
        layer name → Var(B_L) at the end.

    Warns:
        RuntimeWarning: for a layer still outside the tolerance after ``max_iterations``.
    """
    check_positive("tolerance", tolerance)
    check_count("max_iterations", max_iterations)
    records = recordable_layers(model)
    check_argument(
        "model",
        type(model).__name__,
        bool(records),
        "a network with Dense, torch.nn.Linear or convolution layers (built)",
    )
    inputs = _inputs(model, x)
    check_argument("x", f"a batch of {len(inputs)}", len(inputs) > 1, "a batch of 2 or more")
    variances: dict[str, float] = {}
    with _EvalMode(model):
        if orthonormal:
            for index, record in enumerate(records):
                record.weight.copy_(_orthonormal(record, None if seed is None else seed + index))
        for record in records:
            variance = _output_variance(model, record, inputs)
            for _ in range(max_iterations):
                if abs(variance - 1.0) < tolerance:
                    break
                if not (math.isfinite(variance) and variance > 0):
                    raise ValueError(
                        f"lsuv: layer {record.name!r} outputs Var(B_L) = {variance} on this "
                        "batch; it cannot be rescaled to unit variance"
                    )
                record.weight.div_(math.sqrt(variance))
                variance = _output_variance(model, record, inputs)
            if abs(variance - 1.0) >= tolerance:
                warnings.warn(
                    f"lsuv: layer {record.name!r} has Var(B_L) = {variance:.3g} after "
                    f"{max_iterations} rescalings (tolerance {tolerance})",
                    RuntimeWarning,
                    stacklevel=2,
                )
            variances[record.name] = variance
    return variances


@dataclass(frozen=True)
class SignalPropagation:
    """Per-layer statistics of one forward and backward pass (see
    :func:`signal_propagation`); lists in layer order, one entry per recordable layer.

    Attributes:
        names: the layers' names in the model.
        activation_variance: Var(h⁽ˡ⁾), the layer's output (after its activation) over
            the batch and the units.
        activation_gradient_norm: ‖∂L/∂h⁽ˡ⁾‖, the back-propagated gradient reaching it.
        weight_gradient_norm: ‖∂L/∂W⁽ˡ⁾‖, the gradient of its weights.
    """

    names: list[str]
    activation_variance: list[float]
    activation_gradient_norm: list[float]
    weight_gradient_norm: list[float]

    @staticmethod
    def spread(values: list[float]) -> float:
        """max / min of positive statistics: 1 when level across depth (inf when one
        vanished to 0)."""
        low = min(values)
        return math.inf if low <= 0 else max(values) / low


def signal_propagation(model: torch.nn.Module, x: Any, *, seed: int = 0) -> SignalPropagation:
    """Forward activation variance and back-propagated gradient norms, layer by layer.

    One forward pass on ``x`` (in inference mode), then the backward pass of
    L = Σ ŷ ⊙ r for a fixed r ~ N(0, 1) shaped like the output ŷ: a gradient of unit
    variance injected at the output, so that what reaches each layer depends on the
    network alone, not on a loss or targets. Nothing is left in the parameters' ``.grad``.

    Args:
        model: the network.
        x: a batch of inputs.
        seed: the seed of r.
    """
    records = recordable_layers(model)
    check_argument("model", type(model).__name__, bool(records), "a network with Dense layers")
    inputs = _inputs(model, x)
    outputs: list[torch.Tensor] = []
    handles = [
        record.module.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for record in records
    ]
    try:
        with _EvalMode(model), torch.enable_grad():
            prediction = model(inputs)
            generator = torch.Generator().manual_seed(seed)
            r = torch.randn(prediction.shape, generator=generator, dtype=prediction.dtype)
            objective = (prediction * r.to(prediction.device)).sum()
            weights = [record.weight for record in records]
            grads = torch.autograd.grad(objective, [*outputs, *weights])
    finally:
        for handle in handles:
            handle.remove()
    count = len(records)
    return SignalPropagation(
        names=[record.name for record in records],
        activation_variance=[float(h.detach().var(correction=0)) for h in outputs],
        activation_gradient_norm=[float(g.norm()) for g in grads[:count]],
        weight_gradient_norm=[float(g.norm()) for g in grads[count:]],
    )
