"""Model files: one zip of JSON config + safetensors weights + optimizer state.

Loading never runs code: the config only names classes from deepdescent's own tables,
tensors are read with safetensors, and every member's SHA-256 is checked against the
manifest, so a truncated, corrupted or edited file is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from deepdescent import losses, optimizers
from deepdescent.training import bind_optimizer
from deepdescent.utils.io import (
    atomic_path,
    atomic_write_bytes,
    check_not_keras_file,
    is_keras_file,
)

FORMAT = "deepdescent.model"
VERSION = 1
_CONFIG, _WEIGHTS, _OPT_STATE, _OPT_META, _MANIFEST = (
    "config.json",
    "model.safetensors",
    "optimizer.safetensors",
    "optimizer.json",
    "manifest.json",
)


class ModelFileError(ValueError):
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
    meta = {
        "param_groups": state["param_groups"],
        "iterations": state["iterations"],
        "scalars": scalars,
    }
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
    manifest = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    members[_MANIFEST] = json.dumps(manifest, indent=2).encode()
    with (
        atomic_path(filepath) as temporary,
        zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, data in members.items():
            archive.writestr(name, data)


def save_weights(model: torch.nn.Module, filepath: str | os.PathLike[str]) -> None:
    check_not_keras_file(filepath)
    atomic_write_bytes(filepath, save_tensors(_weights(model)))


def _read_members(filepath: str | os.PathLike[str]) -> dict[str, bytes]:
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No model file at {os.fspath(filepath)!r}")
    try:
        with zipfile.ZipFile(filepath) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise ModelFileError(
            f"{os.fspath(filepath)!r} is not a deepdescent model file "
            f"(not a readable zip archive: {error})"
        ) from error
    for required in (_CONFIG, _WEIGHTS, _MANIFEST):
        if required not in members:
            raise ModelFileError(
                f"{os.fspath(filepath)!r} is not a deepdescent model file (it has no {required})"
            )
    manifest = _parse_json(members[_MANIFEST], filepath, _MANIFEST)
    for name, data in members.items():
        if name != _MANIFEST and manifest.get(name) != hashlib.sha256(data).hexdigest():
            raise ModelFileError(
                f"{os.fspath(filepath)!r} was modified or damaged: the "
                f"checksum of {name} does not match its manifest"
            )
    return members


def _parse_json(data: bytes, filepath: Any, member: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{member} in {os.fspath(filepath)!r} is not valid JSON") from error
    if not isinstance(value, dict):
        raise ModelFileError(f"{member} in {os.fspath(filepath)!r} is not a JSON object")
    return value


def _load_state(model: torch.nn.Module, data: bytes, source: str) -> None:
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as error:
        raise ModelFileError(f"the weights in {source!r} cannot be read: {error}") from error
    missing = set(model.state_dict()) - set(tensors)
    unexpected = set(tensors) - set(model.state_dict())
    if missing or unexpected:
        raise ModelFileError(
            f"the weights in {source!r} do not fit the model: missing "
            f"{sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:
        raise ModelFileError(f"the weights in {source!r} do not fit the model: {error}") from error


def _build_model(config: dict[str, Any], filepath: Any) -> Any:
    from deepdescent.models.model import Model
    from deepdescent.models.sequential import Sequential

    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ModelFileError(
            f"{os.fspath(filepath)!r} is not a deepdescent model file of version {VERSION}"
        )
    class_name = config.get("class_name")
    architecture = config.get("config") or {}
    builders: dict[str, Callable[[dict[str, Any]], Model]] = {"Sequential": Sequential.from_config}
    if "nodes" in architecture:
        builders["Model"] = Model.from_config
    if class_name not in builders:
        raise ModelFileError(
            f"{os.fspath(filepath)!r} holds a {class_name} whose code cannot be stored (a "
            "custom torch module or a Model subclass); rebuild the model in Python and call "
            "load_weights on this file"
        )
    try:
        return builders[class_name](architecture)
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise ModelFileError(
            f"the architecture in {os.fspath(filepath)!r} is invalid: {error}"
        ) from error


def _restore_optimizer(model: Any, members: dict[str, bytes], filepath: Any) -> None:
    meta = _parse_json(members[_OPT_META], filepath, _OPT_META)
    tensors = load_tensors(members[_OPT_STATE])
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    for index, entries in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entries)
    bind_optimizer(model).load_state_dict(
        {
            "state": state,
            "param_groups": meta["param_groups"],
            "iterations": meta.get("iterations", 0),
        }
    )


def load_model(filepath: str | os.PathLike[str], compile: bool = True) -> Any:
    """Read a model written by ``Model.save``: architecture, weights, and (when it was
    compiled) its optimizer, loss, metrics and optimizer state. A ``.keras`` file gives
    the same when written here, the architecture and weights when written by Keras 3
    (:mod:`deepdescent.models.keras_format`)."""
    check_not_keras_file(filepath, whole_model=True)
    if is_keras_file(filepath):
        from deepdescent.models.keras_format import load_keras

        return load_keras(filepath, compile=compile)
    members = _read_members(filepath)
    config = _parse_json(members[_CONFIG], filepath, _CONFIG)
    model = _build_model(config, filepath)
    _load_state(model, members[_WEIGHTS], os.fspath(filepath))
    if compile:
        restore_compiled(model, config.get("compile"), members, filepath)
    return model


def restore_compiled(
    model: Any,
    compile_config: dict[str, Any] | None,
    members: dict[str, bytes],
    filepath: str | os.PathLike[str],
) -> None:
    """Compile ``model`` as ``compile_config`` says (``Model.compile_config``) and give
    its optimizer the state in ``members`` (:func:`optimizer_members`); nothing when
    the model was saved uncompiled."""
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
        _restore_optimizer(model, members, filepath)


def load_weights(model: torch.nn.Module, filepath: str | os.PathLike[str]) -> None:
    check_not_keras_file(filepath)
    path = os.fspath(filepath)
    if zipfile.is_zipfile(path):
        _load_state(model, _read_members(path)[_WEIGHTS], path)
        return
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at {path!r}")
    with open(path, "rb") as handle:
        _load_state(model, handle.read(), path)
