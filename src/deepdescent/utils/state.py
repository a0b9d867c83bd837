"""State trees stored so that loading runs no code: tensors to safetensors, the rest to
strict JSON.

A *state tree* is what ``state_dict()`` methods return: dicts, lists and tuples of
numbers, strings, ``None``, tensors and NumPy arrays (a random generator's state is one).
:func:`pack` splits it into a JSON-safe skeleton and a flat ``{key: tensor}`` dict for
safetensors; :func:`unpack` puts it back together, with every tensor on the CPU. What JSON
cannot say plainly is written as a one-key object: a tensor ``{"__tensor__": key}``, an
array ``{"__ndarray__": key}``, a tuple ``{"__tuple__": [...]}``, a dict whose keys are
not all plain strings ``{"__dict__": [[key, value], ...]}`` and a float that is not
finite ``{"__float__": "nan"}`` (so the JSON stays strict: no bare ``NaN``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["pack", "unpack"]

_MARKERS = ("__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__")


def pack(tree: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """``tree`` as a JSON-safe skeleton and the tensors it refers to (CPU copies)."""
    tensors: dict[str, torch.Tensor] = {}
    return _pack(tree, tensors), tensors


def _plain_keys(mapping: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and not k.startswith("__") for k in mapping)


def _pack(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else {"__float__": repr(number)}
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.array(value, copy=True, order="C"))
        return {"__ndarray__": key}
    if isinstance(value, tuple):
        return {"__tuple__": [_pack(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_pack(v, tensors) for v in value]
    if isinstance(value, dict):
        if _plain_keys(value):
            return {k: _pack(v, tensors) for k, v in value.items()}
        return {"__dict__": [[_pack(k, tensors), _pack(v, tensors)] for k, v in value.items()]}
    raise TypeError(
        f"A state tree may hold numbers, strings, None, tensors, NumPy arrays, lists, tuples "
        f"and dicts, not a {type(value).__name__}"
    )


def unpack(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The tree :func:`pack` split (tensors on the CPU, arrays as NumPy arrays).

    Raises:
        ValueError: the skeleton names a tensor that is not there, or is malformed.
    """
    if isinstance(skeleton, list):
        return [unpack(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if len(skeleton) == 1 and next(iter(skeleton)) in _MARKERS:
        ((marker, content),) = skeleton.items()
        return _unmark(marker, content, tensors)
    return {k: unpack(v, tensors) for k, v in skeleton.items()}


def _unmark(marker: str, content: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if marker in ("__tensor__", "__ndarray__"):
        if content not in tensors:
            raise ValueError(f"The state names tensor {content!r}, which is not stored")
        return tensors[content] if marker == "__tensor__" else tensors[content].numpy()
    if marker == "__float__":
        if content not in ("nan", "inf", "-inf"):
            raise ValueError(f"Invalid stored float: {content!r}")
        return float(content)
    if not isinstance(content, list):
        raise ValueError(f"Invalid stored {marker.strip('_')}: {content!r}")
    if marker == "__tuple__":
        return tuple(unpack(v, tensors) for v in content)
    pairs = [unpack(pair, tensors) for pair in content]
    if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise ValueError("Invalid stored dict: expected [key, value] pairs")
    return {_hashable(k): v for k, v in pairs}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key
