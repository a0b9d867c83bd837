"""``pad_sequences``: sequences of different lengths as one array, as Keras pads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deepdescent.utils._checks import check_argument, check_count

__all__ = ["pad_sequences"]


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0.0,
) -> np.ndarray:
    """An array ``(len(sequences), maxlen, *item_shape)``: each sequence cut to ``maxlen``
    (its start dropped with ``truncating="pre"``, its end with ``"post"``) and filled with
    ``value`` before it (``padding="pre"``) or after it (``"post"``). ``maxlen`` defaults
    to the longest sequence."""
    check_argument("padding", padding, padding in ("pre", "post"), "'pre' or 'post'")
    check_argument("truncating", truncating, truncating in ("pre", "post"), "'pre' or 'post'")
    rows = [np.asarray(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(r) for r in rows), default=0)
    else:
        check_count("maxlen", maxlen, minimum=0)
    item_shape = next((r.shape[1:] for r in rows if len(r)), ())
    out = np.full((len(rows), maxlen, *item_shape), value, dtype=dtype)
    for i, row in enumerate(rows):
        if not len(row) or not maxlen:
            continue
        kept = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if kept.shape[1:] != item_shape:
            raise ValueError(
                f"sequences[{i}] has items of shape {kept.shape[1:]}, the others {item_shape}"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out
