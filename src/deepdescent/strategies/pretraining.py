r"""Supervised pretraining: train a deep network in simpler pieces first (Goodfellow et al.
§8.7.4).

* :func:`greedy_supervised_pretraining` — greedy layer-wise supervised pretraining
  (Bengio et al. 2007): train a network with one hidden layer on the task, then add the
  next hidden layer under a fresh output layer and train again, and so on until the
  whole network, which ends the procedure with its own output layer. Each stage either
  trains every layer present or, with ``freeze=True``, only the new hidden layer and the
  output (the lower layers kept as the earlier stages left them).
* :func:`hint_training` — teacher–student transfer with hints (FitNets, Romero et al.
  2015, Algorithm 1): the lower layers of a deep, thin student, up to its *guided*
  layer, are first trained to predict — through a regressor r that is then discarded —
  the *hint* layer of a trained, wider teacher, minimizing ½‖u_hint(x) − r(v_guided(x))‖²;
  then the whole student is trained on the task from there.

Both work on any compiled ``Sequential`` and train with its compiled loss, metrics and
optimizer (each stage gets a fresh optimizer built from that one's config), through
``fit``, whose keyword arguments they pass on.

References:
    Y. Bengio, P. Lamblin, D. Popovici & H. Larochelle, "Greedy layer-wise training of
    deep networks", NeurIPS 2007. A. Romero, N. Ballas, S. E. Kahou, A. Chassang, C.
    Gatta & Y. Bengio, "FitNets: hints for thin deep nets", ICLR 2015. Goodfellow,
    Bengio & Courville, *Deep Learning*, §8.7.4 (2016).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch

from deepdescent import layers as layers_lib
from deepdescent import losses, optimizers
from deepdescent.callbacks import History
from deepdescent.layers import Dense, Flatten, Layer
from deepdescent.models import Model, Sequential
from deepdescent.training import bind_optimizer
from deepdescent.utils._checks import check_argument, check_count, is_integer

__all__ = ["HintLoss", "greedy_supervised_pretraining", "hint_training"]


class HintLoss(losses.Loss):
    """½‖u_hint(x) − r(v_guided(x))‖² per example (Romero et al. 2015, eq. 3), averaged
    over the minibatch: the sum over the hint's units, as the paper writes it (the mean
    squared error would divide its gradient by their number)."""

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return 0.5 * (y_true.to(y_pred.dtype) - y_pred).pow(2).sum(-1)


def _fresh_optimizer(model: Model) -> optimizers.Optimizer:
    """A new, unbound optimizer with the compiled one's settings."""
    _, optimizer = model.require_compiled("fit")
    check_argument(
        "model",
        f"compiled with {type(optimizer).__name__}",
        optimizers.is_serializable(optimizer),
        "compiled with a deepdescent optimizer (or its name), which each stage rebuilds",
    )
    return optimizers.deserialize_optimizer(
        optimizers.serialize(cast(optimizers.Optimizer, optimizer))
    )


def _compiled_like(stage: Sequential, model: Model, loss: Any = None) -> Sequential:
    """``stage`` compiled with ``model``'s loss (or ``loss``), metrics and a fresh optimizer."""
    compiled_loss, _ = model.require_compiled("fit")
    metrics = None if loss is not None else (model.compile_config() or {}).get("metrics") or None
    stage.compile(_fresh_optimizer(model), loss if loss is not None else compiled_loss, metrics)
    stage.backprop = model.backprop
    return stage


def _copy(layer: torch.nn.Module) -> Layer:
    """A fresh, unbuilt layer with ``layer``'s configuration (new weights)."""
    check_argument(
        "model",
        type(layer).__name__,
        isinstance(layer, Layer),
        "deepdescent layers, whose configs can be copied",
    )
    return layers_lib.deserialize(layers_lib.serialize(cast(Layer, layer)))


@contextlib.contextmanager
def _frozen(modules: Sequence[torch.nn.Module]) -> Iterator[None]:
    """The parameters of ``modules`` left out of training for a while."""
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in params:
            param.requires_grad_(True)


def greedy_supervised_pretraining(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    epochs_per_stage: int = 1,
    freeze: bool = False,
    **fit_kwargs: Any,
) -> list[History]:
    """Greedy layer-wise supervised pretraining of a compiled ``Sequential``, in place.

    The model's ``Dense`` layers cut it into stages: stage k holds everything before the
    (k+1)-th Dense layer (the k-th hidden layer with what follows it: normalization,
    activation, dropout); the output part is everything from the last Dense layer on.
    Stage k < K trains the first k hidden stages under a fresh copy of the output part;
    stage K is the model itself. The hidden layers are the model's own objects, so what
    each stage learns stays in the model.

    Args:
        model: a compiled, built ``Sequential`` with at least one hidden Dense layer.
        x, y: the training data.
        epochs_per_stage: the epochs of each stage.
        freeze: train only the newest hidden stage and the output at each stage.
        **fit_kwargs: passed to every stage's ``fit`` (``batch_size``, ``verbose``,
            ``validation_data`` ...).

    Returns:
        the History of each stage, the last one the model's.
    """
    check_count("epochs_per_stage", epochs_per_stage)
    check_argument("freeze", freeze, isinstance(freeze, bool), "True or False")
    model.require_compiled("fit")
    stack = model.layers
    cuts = [i for i, layer in enumerate(stack) if isinstance(layer, Dense)]
    check_argument(
        "model",
        f"{len(cuts)} Dense layer(s)",
        len(cuts) >= 2,
        "a Sequential with a hidden Dense layer and a Dense output layer",
    )
    if len(cuts) > 2:
        _fresh_optimizer(model)  # refused now, before any stage trains, if it cannot be
    bind_optimizer(model)  # to every parameter, before any is frozen
    output = stack[cuts[-1] :]
    histories = []
    for stage in range(1, len(cuts)):
        last = stage == len(cuts) - 1
        network = model
        if not last:
            copies = [_copy(layer) for layer in output]
            network = _compiled_like(Sequential([*stack[: cuts[stage]], *copies]), model)
        with _frozen(stack[: cuts[stage - 1]] if freeze else []):
            histories.append(network.fit(x, y, epochs=epochs_per_stage, **fit_kwargs))
    return histories


def _index(model: Sequential, layer: int | str, argument: str) -> int:
    """The position in ``model.layers`` of the layer at ``layer`` (an index or a name)."""
    names = [getattr(item, "name", None) for item in model.layers]
    if isinstance(layer, str):
        check_argument(argument, layer, layer in names, f"a layer name among {names}")
        return names.index(layer)
    count = len(model.layers)
    check_argument(
        argument, layer, is_integer(layer) and -count <= layer < count, f"an index of {names}"
    )
    return int(layer) % count


@torch.no_grad()
def _hints(teacher: Sequential, upto: int, x: Any, batch_size: int) -> np.ndarray:
    """The teacher's hint layer's outputs on ``x``, one row per example."""
    inputs = teacher.prepare_inputs(x)
    was_training = teacher.training
    teacher.eval()
    try:
        rows = []
        for start in range(0, len(inputs), batch_size):
            outputs = inputs[start : start + batch_size]
            for layer in teacher.layers[: upto + 1]:
                outputs = layer(outputs)
            rows.append(outputs.reshape(len(outputs), -1).cpu())
    finally:
        teacher.train(was_training)
    return torch.cat(rows).numpy()


def hint_training(
    student: Sequential,
    teacher: Sequential,
    x: Any,
    y: Any,
    *,
    guided: int | str,
    hint: int | str,
    hint_epochs: int = 1,
    epochs: int = 1,
    **fit_kwargs: Any,
) -> tuple[History, History]:
    """FitNets (Romero et al. 2015): train ``student``'s layers up to ``guided`` to
    predict ``teacher``'s layer ``hint`` through a linear regressor, then train the whole
    student on ``(x, y)``.

    Args:
        student: a compiled ``Sequential`` (deep and thin), trained in place.
        teacher: a trained ``Sequential`` (left unchanged).
        x, y: the training data (``x`` also feeds the teacher).
        guided: the student's guided layer (an index in ``student.layers`` or a name).
        hint: the teacher's hint layer (an index in ``teacher.layers`` or a name).
        hint_epochs: the epochs of the hint stage, on ½‖u_hint − r(v_guided)‖²
            (:class:`HintLoss`).
        epochs: the epochs of the training on the task that follows.
        **fit_kwargs: passed to both stages' ``fit`` (``validation_data`` only to the
            second, whose targets it matches).

    Returns:
        the Histories of the hint stage and of the task stage.
    """
    check_count("hint_epochs", hint_epochs)
    check_count("epochs", epochs)
    student.require_compiled("fit")
    guided_at = _index(student, guided, "guided")
    check_argument(
        "guided",
        guided,
        guided_at < len(student.layers) - 1,
        "a hidden layer of the student, below its output",
    )
    hints = _hints(teacher, _index(teacher, hint, "hint"), x, fit_kwargs.get("batch_size") or 256)
    lower = student.layers[: guided_at + 1]
    regressor: list[torch.nn.Module] = [Flatten()] if _guided_rank(student, lower, x) > 2 else []
    regressor.append(Dense(hints.shape[1]))
    guided_net = _compiled_like(Sequential([*lower, *regressor]), student, loss=HintLoss())
    hint_kwargs = {k: v for k, v in fit_kwargs.items() if k != "validation_data"}
    first = guided_net.fit(x, hints, epochs=hint_epochs, **hint_kwargs)
    second = student.fit(x, y, epochs=epochs, **fit_kwargs)
    return first, second


@torch.no_grad()
def _guided_rank(student: Sequential, lower: Sequence[torch.nn.Module], x: Any) -> int:
    """The rank (batch axis included) of the guided layer's output, from one example."""
    outputs = student.prepare_inputs(x)[:1]
    was_training = student.training
    student.eval()
    try:
        for layer in lower:
            outputs = layer(outputs)
    finally:
        student.train(was_training)
    return outputs.dim()
