"""Keras 3's ``compile_config`` (the compile settings in a ``.keras`` file's
``config.json``) and its optimizer's variables, read into ``Model.compile`` and the
optimizer's state, and written from them.

Keras writes the optimizer as its class and Keras-named hyperparameters
(``learning_rate``, ``beta_1``, ``epsilon``, ``rho`` ..., a decoupled ``weight_decay``),
the loss and the metrics as Keras names (``"mse"``) or classes with their configs. Read,
the optimizer becomes this library's class of that name with ``convention="keras"`` (the
defaults that give Keras's iterates, :mod:`deepdescent.optimizers.conventions`) and
Keras's arguments; the losses and metrics this library's classes of the same names.
Written, the optimizer's settings are turned into Keras's names and read back the same
way: the ``compile_config`` is written only when that gives this optimizer again (its
every setting), so that Keras 3 trains the loaded model as it was trained here.

The optimizer's state travels as Keras's optimizer variables (``optimizer/vars`` in the
weights file: ``iteration``, the learning rate unless a schedule gives it, then each
weight's slots in Keras's order), for the nine optimizers both have; Keras's SGD and
RMSprop momentum is the step itself, this library's (torch's) the step over η.

Whatever has no equivalent (an optimizer, a loss or a metric, or one of their settings) is
named in a :class:`KerasCompileWarning`; the model is then read uncompiled, or written
without a ``compile_config`` (Keras loads it uncompiled), never approximated.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, cast

import numpy as np
import torch

from deepdescent import losses, metrics, optimizers, schedules

__all__ = [
    "KERAS_OPTIMIZERS",
    "KerasCompileWarning",
    "TrainedWeight",
    "compile_from_keras",
    "keras_compile_config",
    "keras_optimizer_state",
    "restore_keras_state",
]

#: Keras's optimizer classes read and written: this library's class of each, and the
#: arguments of Keras's own (besides those of every Keras optimizer).
KERAS_OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Adadelta": ("Adadelta", ("rho", "epsilon")),
    "Adagrad": ("Adagrad", ("initial_accumulator_value", "epsilon")),
    "Adam": ("Adam", ("beta_1", "beta_2", "epsilon", "amsgrad")),
    "AdamW": ("AdamW", ("beta_1", "beta_2", "epsilon", "amsgrad")),
    "Adamax": ("Adamax", ("beta_1", "beta_2", "epsilon")),
    "Lion": ("Lion", ("beta_1", "beta_2")),
    "Nadam": ("NAdam", ("beta_1", "beta_2", "epsilon")),
    "RMSprop": ("RMSprop", ("rho", "momentum", "epsilon", "centered")),
    "SGD": ("SGD", ("momentum", "nesterov")),
}
_EVERY_KERAS_OPTIMIZER = (
    "learning_rate",
    "weight_decay",
    "clipnorm",
    "global_clipnorm",
    "clipvalue",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "gradient_accumulation_steps",
)
# Keras's loss and metric classes this library has under the same names (its own names
# such as "mse" are Keras's too).
_KERAS_LOSSES = frozenset(
    {
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "CosineSimilarity",
        "Hinge",
        "Huber",
        "KLDivergence",
        "LogCosh",
        "MeanAbsoluteError",
        "MeanSquaredError",
        "Poisson",
        "SparseCategoricalCrossentropy",
        "SquaredHinge",
    }
)
_KERAS_METRICS = frozenset(
    {
        "AUC",
        "Accuracy",
        "BinaryAccuracy",
        "CategoricalAccuracy",
        "Mean",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredError",
        "Precision",
        "Recall",
        "SparseCategoricalAccuracy",
        "SparseTopKCategoricalAccuracy",
        "TopKCategoricalAccuracy",
    }
)
# Keras's learning-rate schedules this library has under the same names.
_KERAS_SCHEDULES = frozenset(
    {
        "CosineDecay",
        "CosineDecayRestarts",
        "ExponentialDecay",
        "InverseTimeDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
    }
)
# Keras's loss and metric arguments that this library's classes lack, at the value that
# computes what this library does (left out when they have it; named when not).
_KERAS_DEFAULTS: dict[str, Any] = {"axis": -1, "multi_label": False}
# This library's optimizer arguments under Keras's names (the rest keep theirs).
_KERAS_ARGUMENT = {"lr": "learning_rate", "eps": "epsilon"}
# Keras's optimizer arguments that mean "not used" when None or at these values.
_KERAS_UNUSED = {
    "weight_decay": (None, 0.0),
    "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None, 1),
}


class KerasCompileWarning(UserWarning):
    """Compile settings that a ``.keras`` file cannot carry between Keras 3 and here."""


class _NoEquivalent(Exception):
    """What has no equivalent, in words."""


def _float32(value: float) -> float:
    """Keras keeps hyperparameters in float32 and writes that value (0.01 as
    0.009999999776482582): the shortest decimal of the float32 is what was meant."""
    return float(str(np.float32(value)))


# -- reading --------------------------------------------------------------------------------


def _learning_rate(value: Any) -> Any:
    if not isinstance(value, dict):
        return _float32(value)
    name = value.get("class_name")
    if name not in _KERAS_SCHEDULES:
        raise _NoEquivalent(f"the learning-rate schedule {name}")
    config = {k: v for k, v in (value.get("config") or {}).items() if k != "name"}
    try:
        return schedules.deserialize({"class_name": name, "config": config})
    except (TypeError, ValueError) as error:
        raise _NoEquivalent(f"the learning-rate schedule {name} with {error}") from error


def _optimizer_from_keras(entry: Any) -> optimizers.Optimizer:
    """This library's optimizer from Keras's serialized one (or its name)."""
    if isinstance(entry, str):
        found = {k.lower(): k for k in KERAS_OPTIMIZERS}
        entry = {"class_name": found.get(entry.lower(), entry), "config": {}}
    keras_name = entry.get("class_name")
    if keras_name not in KERAS_OPTIMIZERS:
        raise _NoEquivalent(f"Keras's optimizer {keras_name} has no deepdescent equivalent")
    arguments: dict[str, Any] = {}
    for key, value in (entry.get("config") or {}).items():
        if key in _KERAS_UNUSED and value in _KERAS_UNUSED[key]:
            continue
        if key == "loss_scale_factor":
            raise _NoEquivalent(f"Keras's {keras_name} with loss_scale_factor={value!r}")
        arguments[key] = _learning_rate(value) if key == "learning_rate" else value
    cls = getattr(optimizers, KERAS_OPTIMIZERS[keras_name][0])
    if (
        arguments.get("weight_decay")
        and "decoupled_weight_decay" in inspect.signature(cls).parameters
    ):
        # Keras 3's weight decay is decoupled in every optimizer: θ ← θ − ηλθ.
        arguments["decoupled_weight_decay"] = True
    try:
        return cls(convention="keras", **arguments)
    except (TypeError, ValueError) as error:
        raise _NoEquivalent(f"Keras's {keras_name} with {error}") from error


def _unused(key: str, value: Any) -> bool:
    """A Keras argument that changes nothing here: the dtype, None, or Keras's default."""
    at_default = key in _KERAS_DEFAULTS and _KERAS_DEFAULTS[key] == value
    return key == "dtype" or value is None or at_default


def _object_from_keras(entry: Any, kind: str, known: frozenset[str], table: Any) -> Any:
    """A loss or metric: Keras's name as it is, or this library's class of Keras's."""
    if entry is None or isinstance(entry, str):
        return entry
    if isinstance(entry, list):
        return [_object_from_keras(e, kind, known, table) for e in entry]
    if "class_name" not in entry:  # per output, by name
        return {k: _object_from_keras(v, kind, known, table) for k, v in entry.items()}
    name = entry["class_name"]
    if name not in known:
        raise _NoEquivalent(f"Keras's {kind} {name} has no deepdescent equivalent")
    accepted = inspect.signature(getattr(table, name)).parameters
    config = {
        k: v for k, v in (entry.get("config") or {}).items() if k in accepted or not _unused(k, v)
    }
    try:
        return table.deserialize({"class_name": name, "config": config})
    except (TypeError, ValueError) as error:
        raise _NoEquivalent(f"Keras's {kind} {name} with {error}") from error


def compile_from_keras(model: Any, compile_config: Any, source: str) -> None:
    """Compile ``model`` as Keras's ``compile_config`` says; when something in it has no
    equivalent here, warn naming it and leave the model uncompiled."""
    if not isinstance(compile_config, dict) or not compile_config.get("optimizer"):
        return
    try:
        if compile_config.get("weighted_metrics"):
            raise _NoEquivalent("Keras's weighted_metrics have no deepdescent equivalent")
        arguments = {
            "optimizer": _optimizer_from_keras(compile_config["optimizer"]),
            "loss": _object_from_keras(compile_config.get("loss"), "loss", _KERAS_LOSSES, losses),
            "metrics": _object_from_keras(
                compile_config.get("metrics"), "metric", _KERAS_METRICS, metrics
            ),
            "loss_weights": compile_config.get("loss_weights"),
        }
        model.compile(**arguments)
    except (_NoEquivalent, ValueError, TypeError) as missing:
        warnings.warn(
            f"{source} is loaded uncompiled (compile it): {missing}",
            KerasCompileWarning,
            stacklevel=3,
        )


def _keras_slots(optimizer: Any) -> list[tuple[str, ...]] | None:
    """Keras's optimizer variables after ``iteration`` and ``learning_rate``, as this
    library's state: blocks in Keras's order, each holding its keys for every weight in
    turn (Adam's ``m, v`` of the first weight, then of the second ...). ``None`` for an
    optimizer whose state is not read."""
    name, settings = type(optimizer).__name__, optimizer.param_groups[0]
    if name in ("Adam", "AdamW"):
        amsgrad = [("max_exp_avg_sq",)] if settings["amsgrad"] else []
        return [("exp_avg", "exp_avg_sq"), *amsgrad]
    if name in _PAIRED:
        return [_PAIRED[name]]
    if name == "SGD":
        return [("momentum_buffer",)] if settings["momentum"] else []
    if name == "RMSprop":
        momentum = [("momentum_buffer",)] if settings["momentum"] else []
        centered = [("grad_avg",)] if settings["centered"] else []
        return [("square_avg",), *momentum, *centered]
    return None


# Optimizers whose Keras variables are one block, this library's state keys in order.
_PAIRED = {
    "Adagrad": ("sum",),
    "Adadelta": ("square_avg", "acc_delta"),
    "Adamax": ("exp_avg", "exp_inf"),
    "Lion": ("exp_avg",),
    "NAdam": ("exp_avg", "exp_avg_sq"),
}
# Those that count their steps per weight (Keras counts them once, in ``iteration``).
_COUNTED = ("Adam", "AdamW", "Adagrad", "Adamax", "NAdam")
# A scalar Keras keeps after the slots, and the state key holding it here for each weight:
# Nadam's product of its momentum schedule.
_TRAILING = {"NAdam": "mu_product"}
# Keras's momentum holds the step (SGD: m = μm − ηg, θ ← θ + m; RMSprop: m = μm +
# ηg/√(v + δ), θ ← θ − m), torch's the step over η (b = μb + g, θ ← θ − ηb): b = m·s/η.
_STEP_SIGN = {"SGD": -1.0, "RMSprop": 1.0}


#: A trained weight, with its change of layout to Keras's and from it.
TrainedWeight = tuple[torch.Tensor, Any, Any]


def _leading(optimizer: Any) -> int:
    """Keras's optimizer variables before the slots: ``iteration``, and
    ``learning_rate`` unless a schedule gives the rate."""
    return 1 if getattr(optimizer, "learning_rate_schedule", None) is not None else 2


def _readable(optimizer: Any, slots: list[tuple[str, ...]] | None) -> bool:
    """Whether Keras's state converts exactly: SGD's and RMSprop's momentum is the step
    over a constant learning rate."""
    scheduled = getattr(optimizer, "learning_rate_schedule", None) is not None
    return slots is not None and not (type(optimizer).__name__ in _STEP_SIGN and scheduled)


def restore_keras_state(
    model: Any, stored: list[np.ndarray], weights: list[TrainedWeight], source: str
) -> None:
    """Give the optimizer compiled from Keras's settings the state Keras saved
    (``stored``: its optimizer variables in order) for ``weights`` (the trainable
    weights in Keras's order); when that state cannot be read, warn that training
    resumes from a fresh one."""
    if not stored or int(stored[0]) == 0:
        return
    from deepdescent.training.loop import bind_optimizer

    # The optimizer compile_from_keras made: one of this library's.
    optimizer = cast(optimizers.Optimizer, bind_optimizer(model))
    steps = int(stored[0])
    slots = _keras_slots(optimizer)
    name, lr = type(optimizer).__name__, optimizer.param_groups[0]["lr"]
    lead = _leading(optimizer)
    if (
        slots is None
        or not _readable(optimizer, slots)
        or sum(len(block) for block in slots) * len(weights) + (name in _TRAILING)
        != len(stored) - lead
    ):
        warnings.warn(
            f"{source}: the state Keras's {name} kept over {steps} steps is not read "
            "(SGD's and RMSprop's momentum is read with a constant learning rate only): "
            "training resumes from a fresh state",
            KerasCompileWarning,
            stacklevel=3,
        )
        return
    arrays = iter(stored[lead:])
    states: list[dict[str, np.ndarray]] = [{} for _ in weights]
    for block in slots:
        for state in states:
            for key in block:
                state[key] = next(arrays)
    for (weight, _, into), state in zip(weights, states, strict=True):
        ours: dict[str, Any] = {}
        for key, value in state.items():
            if key == "momentum_buffer":
                value = value * _STEP_SIGN[name] / lr
            ours[key] = torch.as_tensor(np.ascontiguousarray(into(value))).to(weight)
        if name in _COUNTED:
            ours["step"] = steps
        if name in _TRAILING:
            ours[_TRAILING[name]] = float(stored[-1])
        optimizer.state[weight] = ours
    optimizer.iterations = steps


def keras_optimizer_state(model: Any, weights: list[TrainedWeight]) -> list[np.ndarray] | None:
    """The optimizer's state as Keras's optimizer variables (see
    :func:`restore_keras_state`), or ``None`` before its first step or where Keras's
    state would not be this one."""
    optimizer = model.optimizer
    if not isinstance(optimizer, optimizers.Optimizer) or not optimizer.is_bound:
        return None
    slots = _keras_slots(optimizer)
    if optimizer.iterations == 0 or slots is None or not _readable(optimizer, slots):
        return None
    name, lr = type(optimizer).__name__, optimizer.param_groups[0]["lr"]
    arrays = [np.array(optimizer.iterations, dtype=np.int64)]
    if _leading(optimizer) == 2:
        arrays.append(np.array(lr, dtype=np.float32))
    for block in slots:
        for weight, out, _ in weights:
            state = optimizer.state.get(weight, {})
            for key in block:
                if not isinstance(state.get(key), torch.Tensor):
                    return None
                value = out(state[key])
                if key == "momentum_buffer":
                    value = value * _STEP_SIGN[name] * lr
                arrays.append(value.astype(np.float32))
    if name in _TRAILING:
        first = optimizer.state.get(weights[0][0], {}) if weights else {}
        if _TRAILING[name] not in first:
            return None
        arrays.append(np.array(first[_TRAILING[name]], dtype=np.float32))
    return arrays


# -- writing --------------------------------------------------------------------------------


def _keras_optimizer(optimizer: Any) -> dict[str, Any]:
    """Keras's serialized form of ``optimizer``, when Keras's class of that name with
    those arguments is this optimizer."""
    name = type(optimizer).__name__
    keras_name = {ours: theirs for theirs, (ours, _) in KERAS_OPTIMIZERS.items()}.get(name)
    if keras_name is None or not optimizers.is_serializable(optimizer):
        raise _NoEquivalent(f"the optimizer {name} has no Keras 3 equivalent")
    ours = optimizers.serialize(optimizer)["config"]
    config: dict[str, Any] = {}
    for key, value in ours.items():
        if key == "betas":
            config["beta_1"], config["beta_2"] = value
        elif key == "alpha" and name == "RMSprop":
            config["rho"] = value
        elif key == "lr" and isinstance(value, dict):
            if value["class_name"] not in _KERAS_SCHEDULES:
                raise _NoEquivalent(f"the learning-rate schedule {value['class_name']}")
            config["learning_rate"] = {
                "module": "keras.optimizers.schedules",
                **value,
                "registered_name": None,
            }
        elif key == "weight_decay" and not value:
            config[key] = None
        else:
            config[_KERAS_ARGUMENT.get(key, key)] = value
    entry = _keras_view(
        {
            "module": "keras.optimizers",
            "class_name": keras_name,
            "config": config,
            "registered_name": None,
        }
    )
    rebuilt = optimizers.serialize(_optimizer_from_keras(entry))["config"]
    differing = sorted(k for k in ours if not _same(k, ours[k], rebuilt.get(k)))
    if differing:
        settings = ", ".join(f"{k}={ours[k]!r} (Keras's: {rebuilt.get(k)!r})" for k in differing)
        raise _NoEquivalent(
            f"{name} with {settings} has no Keras 3 equivalent ({name}(convention='keras') "
            f"computes Keras's {keras_name})"
        )
    return entry


def _same(key: str, ours: Any, keras: Any) -> bool:
    """Keras keeps the learning rate as a float32: equal there is the same rate."""
    if key == "lr" and isinstance(ours, float) and isinstance(keras, float):
        return _float32(ours) == _float32(keras)
    return bool(ours == keras)


def _keras_view(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with only the arguments Keras's class takes (the others are fixed in
    Keras: what :func:`_optimizer_from_keras` fills in by ``convention="keras"``)."""
    own = KERAS_OPTIMIZERS[entry["class_name"]][1]
    config = {k: v for k, v in entry["config"].items() if k in _EVERY_KERAS_OPTIMIZER + own}
    return {**entry, "config": config}


def _keras_object(value: Any, kind: str, known: frozenset[str]) -> Any:
    """A loss or metric as Keras serializes it (``kind``: its module's name)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_keras_object(v, kind, known) for v in value]
    if "outputs" in value and "class_name" not in value:  # per output, by name
        return {k: _keras_object(v, kind, known) for k, v in value["outputs"].items()}
    if value["class_name"] not in known:
        raise _NoEquivalent(f"{value['class_name']} has no Keras 3 equivalent in keras.{kind}")
    return {"module": f"keras.{kind}", **value, "registered_name": None}


def keras_compile_config(model: Any, compile_config: dict[str, Any] | None) -> Any:
    """Keras's ``compile_config`` of a model compiled with ``compile_config``
    (``Model.compile_config()``), or ``None`` (with a warning naming what Keras lacks)."""
    if compile_config is None:
        return None
    try:
        if compile_config.get("optimizer") is None:
            name = type(model.optimizer).__name__
            raise _NoEquivalent(f"the optimizer {name} has no Keras 3 equivalent")
        return {
            "optimizer": _keras_optimizer(model.optimizer),
            "loss": _keras_object(compile_config.get("loss"), "losses", _KERAS_LOSSES),
            "loss_weights": compile_config.get("loss_weights"),
            "metrics": _keras_object(compile_config.get("metrics"), "metrics", _KERAS_METRICS),
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": True,
        }
    except _NoEquivalent as missing:
        warnings.warn(
            "Keras 3 will load this model uncompiled (deepdescent reads its own compile "
            f"settings from the file): {missing}",
            KerasCompileWarning,
            stacklevel=4,
        )
        return None
