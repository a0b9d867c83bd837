"""Random tensors, as ``keras.random``: ``normal``, ``uniform``, ``truncated_normal``,
``randint``, ``dropout``, ``shuffle``, ``categorical`` and ``SeedGenerator``.

``seed`` may be ``None`` (torch's global generator, so ``set_random_seed`` fixes it), an
int (the same draw every call with that seed, as Keras), or a :class:`SeedGenerator`
(a fresh draw every call, reproducible from the generator's seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from deepdescent import config
from deepdescent.utils._checks import check_argument, is_integer

__all__ = [
    "SeedGenerator",
    "categorical",
    "dropout",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]


class SeedGenerator:
    """A stream of seeds: each random call given this generator draws the next one.

    Args:
        seed: the stream's start (``None``: drawn from torch's global generator).
    """

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()))
        check_argument("seed", seed, is_integer(seed) and seed >= 0, "an int >= 0 or None")
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def next(self) -> torch.Generator:
        """The generator, advanced by its use (torch's generators keep their own state)."""
        return self.generator

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _generator(seed: Any) -> torch.Generator | None:
    if seed is None:
        return None
    if isinstance(seed, SeedGenerator):
        return seed.next()
    check_argument(
        "seed", seed, is_integer(seed) and seed >= 0, "None, an int >= 0 or a SeedGenerator"
    )
    return torch.Generator().manual_seed(int(seed))


def _dtype(dtype: Any) -> torch.dtype:
    return config.standardize_dtype(dtype)


def normal(
    shape: Sequence[int],
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = None,
    seed: Any = None,
) -> torch.Tensor:
    """Draws from N(mean, stddev²)."""
    draw = torch.randn(tuple(shape), generator=_generator(seed), dtype=_dtype(dtype))
    return draw * stddev + mean


def uniform(
    shape: Sequence[int],
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: Any = None,
    seed: Any = None,
) -> torch.Tensor:
    """Draws from U[minval, maxval)."""
    draw = torch.rand(tuple(shape), generator=_generator(seed), dtype=_dtype(dtype))
    return draw * (maxval - minval) + minval


def truncated_normal(
    shape: Sequence[int],
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = None,
    seed: Any = None,
) -> torch.Tensor:
    """Draws from N(mean, stddev²) with values beyond two standard deviations redrawn."""
    tensor = torch.empty(tuple(shape), dtype=_dtype(dtype))
    generator = _generator(seed)
    draw = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
    outside = draw.abs() > 2
    while outside.any():
        draw[outside] = torch.randn(int(outside.sum()), generator=generator, dtype=tensor.dtype)
        outside = draw.abs() > 2
    return draw * stddev + mean


def randint(
    shape: Sequence[int], minval: int, maxval: int, dtype: Any = "int32", seed: Any = None
) -> torch.Tensor:
    """Integers drawn uniformly from [minval, maxval)."""
    return torch.randint(
        minval, maxval, tuple(shape), generator=_generator(seed), dtype=_dtype(dtype)
    )


def dropout(
    inputs: Any, rate: float, noise_shape: Sequence[int] | None = None, seed: Any = None
) -> torch.Tensor:
    """Zeroes each value with probability ``rate`` and scales the rest by 1 / (1 − rate)."""
    check_argument("rate", rate, 0.0 <= rate < 1.0, "0 <= rate < 1")
    x = torch.as_tensor(inputs)
    shape = tuple(x.shape) if noise_shape is None else tuple(noise_shape)
    keep = torch.rand(shape, generator=_generator(seed), dtype=x.dtype) >= rate
    return x * keep.to(x.device) / (1.0 - rate)


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> torch.Tensor:
    """``x`` with its entries along ``axis`` in a random order."""
    tensor = torch.as_tensor(x)
    order = torch.randperm(tensor.shape[axis], generator=_generator(seed))
    return tensor.index_select(axis, order.to(tensor.device))


def categorical(
    logits: Any, num_samples: int, dtype: Any = "int32", seed: Any = None
) -> torch.Tensor:
    """Class indices drawn from softmax(logits), ``num_samples`` per row."""
    probabilities = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1)
    draws = torch.multinomial(
        probabilities.cpu(), num_samples, replacement=True, generator=_generator(seed)
    )
    return draws.to(_dtype(dtype))
