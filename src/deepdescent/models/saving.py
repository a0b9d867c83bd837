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
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from deepdescent import losses, optimizers
from deepdescent.training import bind_optimizer
from deepdescent.utils.io import CheckedArchive, DamagedFileError, atomic_write_bytes
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


class ModelFileError(DamagedFileError):
    """The file is not a deepdescent model file, or it was damaged or modified."""


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


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
    optimizer = model.optimizer
    if include_optimizer and isinstance(optimizer, optimizers.Optimizer) and optimizer.is_bound:
        members.update(_optimizer_members(optimizer))
    _write_archive(filepath, members)


def save_weights(model: torch.nn.Module, filepath: str | os.PathLike[str]) -> None:
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
    from deepdescent.models.sequential import Sequential

    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ModelFileError(f"{os.fspath(filepath)!r} is not a {_KIND} of version {VERSION}")
    if config.get("class_name") != "Sequential":
        raise ModelFileError(
            f"{os.fspath(filepath)!r} holds a {config.get('class_name')} wrapping a custom torch "
            "module, whose code cannot be stored; rebuild the module, wrap it in Model(...), "
            "and call load_weights on this file"
        )
    architecture = config.get("config")
    if not isinstance(architecture, dict):
        raise ModelFileError(
            f"the architecture in {os.fspath(filepath)!r} is invalid: its config is "
            f"{architecture!r}, not an object"
        )
    # Building draws initial weights, which the file's replace: the caller's random
    # streams are left as they were, so loading a model does not change what follows.
    with torch.random.fork_rng(devices=[]):
        try:
            return Sequential.from_config(architecture)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ModelFileError(
                f"the architecture in {os.fspath(filepath)!r} is invalid: {error}"
            ) from error


def _optimizer_limit(model: torch.nn.Module) -> int:
    return _OPTIMIZER_STATE_FLOOR + _OPTIMIZER_STATE_FACTOR * weights_limit(model)


def _restore_optimizer(model: Any, archive: CheckedArchive) -> None:
    meta = archive.read_json(_OPT_META)
    try:
        tensors = load_tensors(archive.read(_OPT_STATE, _optimizer_limit(model)))
    except (SafetensorError, ValueError) as error:
        raise ModelFileError(
            f"the optimizer state in {archive.path!r} cannot be read: {error}"
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
        raise ModelFileError(f"the optimizer state in {archive.path!r} has no parameter groups")
    bind_optimizer(model).load_state_dict({**others, "state": state})


def load_model(filepath: str | os.PathLike[str], compile: bool = True) -> Any:
    """Read a model written by ``Model.save``: architecture, weights, and (when it was
    compiled) its optimizer, loss, metrics and optimizer state."""
    with _open(filepath) as archive:
        archive.check_complete()
        config = archive.read_json(_CONFIG)
        model = _build_model(config, filepath)
        _load_state(model, archive.read(_WEIGHTS, weights_limit(model)), os.fspath(filepath))
        compile_config = config.get("compile")
        if compile_config is not None and not isinstance(compile_config, dict):
            raise ModelFileError(
                f"the compile settings in {os.fspath(filepath)!r} are {compile_config!r}, "
                "not an object"
            )
        if compile and compile_config and compile_config.get("optimizer"):
            model.compile(
                optimizer=optimizers.get(compile_config["optimizer"]),
                loss=losses.deserialize(compile_config["loss"]),
                metrics=compile_config.get("metrics") or None,
            )
            if _OPT_META in archive and _OPT_STATE in archive:
                _restore_optimizer(model, archive)
    return model


def load_weights(model: torch.nn.Module, filepath: str | os.PathLike[str]) -> None:
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
