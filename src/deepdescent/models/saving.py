"""Model files: one zip of JSON config + safetensors weights + optimizer state.

Loading never runs code: the config only names classes from deepdescent's own tables,
tensors are read with safetensors, every member's size is checked before it is read (the
weights against the model the config builds) and its SHA-256 against the manifest after,
so a truncated, corrupted, inflated or edited file is refused with a clear error. Loading
weights is all or nothing: every tensor is checked against the model before any is written.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from deepdescent import losses, optimizers
from deepdescent.training import bind_optimizer
from deepdescent.utils.io import (
    CheckedArchive,
    DamagedFileError,
    atomic_write_bytes,
    check_not_keras_file,
    is_keras_file,
)
from deepdescent.utils.io import write_checked_archive as _write_archive

FORMAT = "deepdescent.model"
VERSION = 1
_CONFIG, _WEIGHTS, _OPT_STATE, _OPT_META = (
    "config.json",
    "model.safetensors",
    "optimizer.safetensors",
    "optimizer.json",
)
_KIND = "deepdescent model file"
# Room for a safetensors header: its length, and a JSON entry per tensor.
_HEADER_BYTES, _HEADER_BYTES_PER_TENSOR = 64 * 2**10, 1024
# The optimizer's state may hold several tensors per parameter and curvature matrices
# (Shampoo, K-FAC, BFGS): its limit is generous, but bounded before anything is read.
_OPTIMIZER_STATE_FLOOR, _OPTIMIZER_STATE_FACTOR = 256 * 2**20, 64


#: A model file's members: an open archive, or (a ``.keras`` file's) already read.
Members = CheckedArchive | Mapping[str, bytes]


class ModelFileError(DamagedFileError):
    """The file is not a deepdescent model file, or it was damaged or modified."""


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def optimizer_members(model: Any) -> dict[str, bytes]:
    """The members holding the state of ``model``'s optimizer (none before its first
    step, or for an optimizer this library did not make)."""
    optimizer = model.optimizer
    if isinstance(optimizer, optimizers.Optimizer) and optimizer.is_bound:
        return _optimizer_members(optimizer)
    return {}


def _optimizer_members(optimizer: optimizers.Optimizer) -> dict[str, bytes]:
    """The optimizer's state dict split into tensors (safetensors) and the rest (JSON)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    # Everything besides the per-parameter state (groups, counters) goes as it is.
    meta = {**{k: v for k, v in state.items() if k != "state"}, "scalars": scalars}
    return {_OPT_STATE: save_tensors(tensors), _OPT_META: json.dumps(meta).encode()}


def save_model(
    model: Any, filepath: str | os.PathLike[str], include_optimizer: bool = True
) -> None:
    check_not_keras_file(filepath, whole_model=True)
    if is_keras_file(filepath):
        from deepdescent.models.keras_format import save_keras

        save_keras(model, filepath, include_optimizer=include_optimizer)
        return
    config = {
        "format": FORMAT,
        "version": VERSION,
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "compile": model.compile_config(),
    }
    members = {
        _CONFIG: json.dumps(config, indent=2).encode(),
        _WEIGHTS: save_tensors(_weights(model)),
    }
    if include_optimizer:
        members.update(optimizer_members(model))
    _write_archive(filepath, members)


def save_weights(model: torch.nn.Module, filepath: str | os.PathLike[str]) -> None:
    check_not_keras_file(filepath)
    atomic_write_bytes(filepath, save_tensors(_weights(model)))


def _open(filepath: str | os.PathLike[str]) -> CheckedArchive:
    archive = CheckedArchive(filepath, ModelFileError, _KIND)
    for required in (_CONFIG, _WEIGHTS):
        if required not in archive:
            archive.close()
            raise ModelFileError(f"{os.fspath(filepath)!r} is not a {_KIND} (it has no {required})")
    return archive


def weights_limit(model: torch.nn.Module) -> int:
    """The most bytes a safetensors file of ``model``'s weights can take."""
    tensors = model.state_dict().values()
    data = sum(t.numel() * t.element_size() for t in tensors)
    return data + _HEADER_BYTES + _HEADER_BYTES_PER_TENSOR * len(tensors)


def _check_fit(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Every tensor of ``model`` is in ``tensors`` with its shape, and nothing else is."""
    targets = model.state_dict()
    missing = set(targets) - set(tensors)
    unexpected = set(tensors) - set(targets)
    if missing or unexpected:
        raise ModelFileError(
            f"the weights in {source!r} do not fit the model: missing "
            f"{sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    for name, target in targets.items():
        if tuple(tensors[name].shape) != tuple(target.shape):
            raise ModelFileError(
                f"the weights in {source!r} do not fit the model: {name!r} has shape "
                f"{tuple(tensors[name].shape)} in the file, {tuple(target.shape)} in the model"
            )


def _load_state(model: torch.nn.Module, data: bytes, source: str) -> None:
    """Load safetensors ``data`` into ``model``: all checked first, then all written."""
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as error:
        raise ModelFileError(f"the weights in {source!r} cannot be read: {error}") from error
    _check_fit(model, tensors, source)
    model.load_state_dict(tensors)


def _build_model(config: dict[str, Any], filepath: Any) -> Any:
    from deepdescent.models.model import Model
    from deepdescent.models.sequential import Sequential

    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ModelFileError(f"{os.fspath(filepath)!r} is not a {_KIND} of version {VERSION}")
    class_name = config.get("class_name")
    architecture = config.get("config")
    if not isinstance(architecture, dict):
        raise ModelFileError(
            f"the architecture in {os.fspath(filepath)!r} is invalid: its config is "
            f"{architecture!r}, not an object"
        )
    builders: dict[str, Callable[[dict[str, Any]], Model]] = {"Sequential": Sequential.from_config}
    if "nodes" in architecture:
        builders["Model"] = Model.from_config
    if class_name not in builders:
        raise ModelFileError(
            f"{os.fspath(filepath)!r} holds a {class_name} whose code cannot be stored (a "
            "custom torch module or a Model subclass); rebuild the model in Python and call "
            "load_weights on this file"
        )
    # Building draws initial weights, which the file's replace: the caller's random
    # streams are left as they were, so loading a model does not change what follows.
    with torch.random.fork_rng(devices=[]):
        try:
            return builders[class_name](architecture)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            raise ModelFileError(
                f"the architecture in {os.fspath(filepath)!r} is invalid: {error}"
            ) from error


def _optimizer_limit(model: torch.nn.Module) -> int:
    return _OPTIMIZER_STATE_FLOOR + _OPTIMIZER_STATE_FACTOR * weights_limit(model)


def _restore_optimizer(model: Any, members: Members, source: str) -> None:
    meta = _read_json(members, _OPT_META, source)
    try:
        tensors = load_tensors(_read(members, _OPT_STATE, _optimizer_limit(model)))
    except (SafetensorError, ValueError) as error:
        raise ModelFileError(
            f"the optimizer state in {source!r} cannot be read: {error}"
        ) from error
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    scalars = meta.get("scalars", {})
    for index, entries in scalars.items() if isinstance(scalars, dict) else []:
        state.setdefault(int(index), {}).update(entries)
    others = {k: v for k, v in meta.items() if k != "scalars"}
    if not isinstance(others.get("param_groups"), list):
        raise ModelFileError(f"the optimizer state in {source!r} has no parameter groups")
    bind_optimizer(model).load_state_dict({**others, "state": state})


def _read(members: Members, name: str, limit: int) -> bytes:
    """A member of an archive (its size checked against ``limit`` before it is read) or
    of members already read (a ``.keras`` file's)."""
    return members.read(name, limit) if isinstance(members, CheckedArchive) else members[name]


def _read_json(members: Members, name: str, source: str) -> dict[str, Any]:
    if isinstance(members, CheckedArchive):
        return members.read_json(name)
    try:
        value = json.loads(members[name])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{name} in {source!r} is not valid JSON") from error
    if not isinstance(value, dict):
        raise ModelFileError(f"{name} in {source!r} is not a JSON object")
    return value


def load_model(filepath: str | os.PathLike[str], compile: bool = True) -> Any:
    """Read a model written by ``Model.save``: architecture, weights, and (when it was
    compiled) its optimizer, loss, metrics and optimizer state. A ``.keras`` file gives
    the same when written here, the architecture and weights when written by Keras 3
    (:mod:`deepdescent.models.keras_format`)."""
    check_not_keras_file(filepath, whole_model=True)
    if is_keras_file(filepath):
        from deepdescent.models.keras_format import load_keras

        return load_keras(filepath, compile=compile)
    with _open(filepath) as archive:
        archive.check_complete()
        config = archive.read_json(_CONFIG)
        model = _build_model(config, filepath)
        _load_state(model, archive.read(_WEIGHTS, weights_limit(model)), os.fspath(filepath))
        if compile:
            restore_compiled(model, config.get("compile"), archive, filepath)
    return model


def restore_compiled(
    model: Any,
    compile_config: Any,
    members: Members,
    filepath: str | os.PathLike[str],
) -> None:
    """Compile ``model`` as ``compile_config`` says (``Model.compile_config``) and give
    its optimizer the state in ``members`` (:func:`optimizer_members`); nothing when
    the model was saved uncompiled."""
    if compile_config is not None and not isinstance(compile_config, dict):
        raise ModelFileError(
            f"the compile settings in {os.fspath(filepath)!r} are {compile_config!r}, not an object"
        )
    if not compile_config or not compile_config.get("optimizer"):
        return
    from deepdescent import metrics
    from deepdescent.models.model import decode_compiled

    model.compile(
        optimizer=optimizers.get(compile_config["optimizer"]),
        loss=decode_compiled(compile_config["loss"], losses.deserialize),
        loss_weights=compile_config.get("loss_weights"),
        metrics=decode_compiled(compile_config.get("metrics"), metrics.deserialize) or None,
    )
    if _OPT_META in members and _OPT_STATE in members:
        _restore_optimizer(model, members, os.fspath(filepath))


def load_weights(model: torch.nn.Module, filepath: str | os.PathLike[str]) -> None:
    check_not_keras_file(filepath)
    path = os.fspath(filepath)
    if zipfile.is_zipfile(path):
        with _open(path) as archive:
            _load_state(model, archive.read(_WEIGHTS, weights_limit(model)), path)
        return
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at {path!r}")
    size = os.path.getsize(path)
    if size > weights_limit(model):
        raise ModelFileError(
            f"{path!r} holds {size} bytes, more than the weights of this model can take "
            f"({weights_limit(model)}): it is not a weights file of this model"
        )
    with open(path, "rb") as handle:
        _load_state(model, handle.read(), path)
