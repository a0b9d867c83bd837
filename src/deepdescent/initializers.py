"""Parameter initialization: Keras 3's initializers plus Martens's sparse initialization.

Where training starts matters (Goodfellow, Bengio & Courville, *Deep Learning*, §8.4): the
initial weights must break the symmetry between units, and their scale decides whether
signals and gradients explode or vanish through depth. The heuristics here pick the scale
from the fans of a weight tensor:

* variance scaling, Var[W] = scale / n with n = fan_in, fan_out or their mean, drawn from a
  truncated normal (σ corrected by 0.8796… for the truncation), a normal, or U(−√(3·scale/n),
  √(3·scale/n)). Glorot & Bengio (2010) use scale 1 with the fan average, He et al. (2015)
  scale 2 with fan_in, LeCun scale 1 with fan_in;
* random orthogonal matrices (Saxe et al., 2014), scaled by ``gain``;
* sparse initialization (Martens, 2010): each unit gets exactly k non-zero incoming weights,
  so the total input to a unit does not shrink as the layer widens, while the units still
  differ from one another;
* a gated layer's bias with constants per gate (:class:`GatedBias`: the forget gate at 1).

Initializations that look at the model and its data — output biases from the targets'
marginal statistics, LSUV — are in :mod:`deepdescent.strategies.initialization`.

Layout: fans follow Keras, whose kernels are laid out (fan_in, fan_out) for a dense layer
and (*receptive_field, in_channels, out_channels) for a convolution; see
:func:`compute_fans`. A layer keeping PyTorch's (out, in) layout must pass the transposed
shape and transpose the result.

Randomness: with ``seed=None`` values are drawn from PyTorch's global generator on the
target device (``torch.manual_seed`` reproduces them, and each call differs). With an
integer ``seed`` each call builds a fresh local ``torch.Generator``: the same values on
every call, as Keras 3 documents for integer seeds, drawn on the CPU and then moved so that
they are also the same on every device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch

from deepdescent.utils._checks import check_argument
from deepdescent.utils._config import deserialize as _deserialize
from deepdescent.utils._config import serialize as _serialize
from deepdescent.utils._lookup import lookup

__all__ = [
    "Constant",
    "GatedBias",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomInitializer",
    "RandomNormal",
    "RandomUniform",
    "SparseInit",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "deserialize",
    "get",
    "serialize",
]

Shape = tuple[int, ...]
Device = torch.device | str | None
InitializerFunction = Callable[..., torch.Tensor]

# Standard deviation of a standard normal truncated to [−2, 2]; dividing by it makes the
# truncated draw have the variance asked for.
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape in Keras's layout.

    () → (1, 1); (n,) → (n, n); (fan_in, fan_out) for a matrix; for a kernel
    (*receptive_field, in, out): (in·r, out·r) with r the receptive field's size.
    """
    shape = tuple(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(shape: Any) -> Shape:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(f"shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(shape)


def _check_number(argument: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{argument} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{argument} must be positive, got {value!r}")
    return float(value)


class Initializer:
    """Base class: ``init(shape, dtype=torch.float32, device=None)`` returns a new tensor."""

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        return torch.zeros(_check_shape(shape), dtype=dtype, device=device)


class Ones(Initializer):
    """All ones."""

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        return torch.ones(_check_shape(shape), dtype=dtype, device=device)


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = _check_number("value", value)

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        return torch.full(_check_shape(shape), self.value, dtype=dtype, device=device)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; rectangular shapes get ones on
    the main diagonal)."""

    def __init__(self, gain: float = 1.0):
        self.gain = _check_number("gain", gain)

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        shape = _check_shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializes 2-D matrices only, got shape {shape}")
        return self.gain * torch.eye(*shape, dtype=dtype, device=device)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: seeding, dtype and device handling.

    Subclasses implement ``_sample(shape, dtype, device, generator)``; draws are made in
    float32 (float64 when asked for) and cast to ``dtype``.
    """

    def __init__(self, seed: int | None = None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = seed

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        shape = _check_shape(shape)
        if not dtype.is_floating_point:
            raise ValueError(
                f"dtype must be a floating dtype for {type(self).__name__}, got {dtype}"
            )
        generator = None
        sample_device = device
        if self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
            sample_device = torch.device("cpu")
        sample_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        values = self._sample(shape, sample_dtype, sample_device, generator)
        return values.to(device=device, dtype=dtype)

    def _sample(
        self,
        shape: Shape,
        dtype: torch.dtype,
        device: Device,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _sample")

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _normal(
    shape: Shape,
    mean: float,
    stddev: float,
    dtype: torch.dtype,
    device: Device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    out = torch.empty(shape, dtype=dtype, device=device)
    return out.normal_(mean, stddev, generator=generator)


def _truncated_normal(
    shape: Shape,
    mean: float,
    stddev: float,
    dtype: torch.dtype,
    device: Device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """N(mean, stddev²) conditioned on lying within two stddev of the mean (Keras's rule:
    draws outside are discarded and redrawn)."""
    out = torch.empty(shape, dtype=dtype, device=device)
    low, high = mean - 2.0 * stddev, mean + 2.0 * stddev
    return torch.nn.init.trunc_normal_(out, mean, stddev, low, high, generator=generator)


def _uniform(
    shape: Shape,
    low: float,
    high: float,
    dtype: torch.dtype,
    device: Device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    out = torch.empty(shape, dtype=dtype, device=device)
    return out.uniform_(low, high, generator=generator)


class RandomNormal(RandomInitializer):
    """N(mean, stddev²)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed=seed)
        self.mean = _check_number("mean", mean)
        self.stddev = _check_number("stddev", stddev, positive=True)

    def _sample(
        self, shape: Shape, dtype: torch.dtype, device: Device, generator: torch.Generator | None
    ) -> torch.Tensor:
        return _normal(shape, self.mean, self.stddev, dtype, device, generator)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomInitializer):
    """N(mean, stddev²) truncated to [mean − 2·stddev, mean + 2·stddev]. ``stddev`` is that
    of the normal before truncation, so the values' standard deviation is ≈ 0.88·stddev."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed=seed)
        self.mean = _check_number("mean", mean)
        self.stddev = _check_number("stddev", stddev, positive=True)

    def _sample(
        self, shape: Shape, dtype: torch.dtype, device: Device, generator: torch.Generator | None
    ) -> torch.Tensor:
        return _truncated_normal(shape, self.mean, self.stddev, dtype, device, generator)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(RandomInitializer):
    """U(minval, maxval)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed=seed)
        self.minval = _check_number("minval", minval)
        self.maxval = _check_number("maxval", maxval)
        if self.maxval < self.minval:
            raise ValueError(f"maxval must be >= minval, got minval={minval!r}, maxval={maxval!r}")

    def _sample(
        self, shape: Shape, dtype: torch.dtype, device: Device, generator: torch.Generator | None
    ) -> torch.Tensor:
        return _uniform(shape, self.minval, self.maxval, dtype, device, generator)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Zero-mean draws with Var[W] = scale / n, n = max(1, fan) for the chosen ``mode``.

    ``distribution``: ``"truncated_normal"`` (σ = √(scale/n) / 0.8796…, truncated at 2σ;
    ``"normal"`` is accepted for it, as in Keras), ``"untruncated_normal"`` (σ = √(scale/n)),
    or ``"uniform"`` (U(−√(3·scale/n), √(3·scale/n))).
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        self.scale = _check_number("scale", scale, positive=True)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        distribution = distribution.lower() if isinstance(distribution, str) else distribution
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {_DISTRIBUTIONS} (or 'normal'), got {distribution!r}"
            )
        self.mode = mode
        self.distribution = distribution

    def variance(self, shape: Sequence[int]) -> float:
        """The target variance scale / n of the weights of ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        return self.scale / max(1.0, fan[self.mode])

    def _sample(
        self, shape: Shape, dtype: torch.dtype, device: Device, generator: torch.Generator | None
    ) -> torch.Tensor:
        variance = self.variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _uniform(shape, -limit, limit, dtype, device, generator)
        if self.distribution == "untruncated_normal":
            return _normal(shape, 0.0, math.sqrt(variance), dtype, device, generator)
        stddev = math.sqrt(variance) / _TRUNCATED_STD
        return _truncated_normal(shape, 0.0, stddev, dtype, device, generator)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
        }


class _FixedVarianceScaling(VarianceScaling):
    """A named variance-scaling preset: only the seed is configurable."""

    _preset: tuple[float, str, str]

    def __init__(self, seed: int | None = None):
        scale, mode, distribution = self._preset
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """Glorot & Bengio (2010): U(−√(6/(fan_in + fan_out)), √(6/(fan_in + fan_out)))."""

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Glorot & Bengio (2010): truncated normal with Var = 2/(fan_in + fan_out)."""

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """He et al. (2015): U(−√(6/fan_in), √(6/fan_in))."""

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    """He et al. (2015): truncated normal with Var = 2/fan_in."""

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """LeCun et al. (1998): U(−√(3/fan_in), √(3/fan_in))."""

    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """LeCun et al. (1998): truncated normal with Var = 1/fan_in."""

    _preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """A random orthogonal matrix times ``gain`` (Saxe et al., 2014).

    The shape is flattened to (∏ shape[:-1], shape[-1]); the Q factor of the QR
    decomposition of a Gaussian matrix, with signs fixed by diag(R) so that it is uniformly
    (Haar) distributed, gives orthonormal columns when there are at least as many rows as
    columns, orthonormal rows otherwise.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed=seed)
        self.gain = _check_number("gain", gain)

    def _sample(
        self, shape: Shape, dtype: torch.dtype, device: Device, generator: torch.Generator | None
    ) -> torch.Tensor:
        check_argument(
            "shape",
            shape,
            len(shape) >= 2,
            "rank >= 2: Orthogonal makes a matrix (or a kernel flattened to one) with "
            "orthonormal rows or columns, which a vector cannot have",
        )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        gaussian = _normal((max(rows, cols), min(rows, cols)), 0.0, 1.0, dtype, device, generator)
        q, r = torch.linalg.qr(gaussian)
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


class SparseInit(RandomInitializer):
    """Sparse initialization (Martens, 2010; Goodfellow et al., §8.4).

    Each unit (last axis) gets exactly k = ``nonzero`` non-zero incoming weights, at input
    positions drawn without replacement, with values from N(0, ``stddev``²); all other
    weights are 0. Martens uses k = 15 and unit-variance Gaussians. Needs a weight matrix
    or kernel (rank >= 2) with fan_in >= k: a unit cannot have more incoming weights than
    inputs. Biases start at zero.
    """

    def __init__(self, nonzero: int = 15, stddev: float = 1.0, seed: int | None = None):
        super().__init__(seed=seed)
        if isinstance(nonzero, bool) or not isinstance(nonzero, int) or nonzero < 1:
            raise ValueError(f"nonzero must be a positive int, got {nonzero!r}")
        self.nonzero = nonzero
        self.stddev = _check_number("stddev", stddev, positive=True)

    def _sample(
        self, shape: Shape, dtype: torch.dtype, device: Device, generator: torch.Generator | None
    ) -> torch.Tensor:
        if len(shape) < 2:
            raise ValueError(
                f"SparseInit initializes weight matrices and kernels (rank >= 2), got shape "
                f"{shape}; initialize biases with 'zeros'"
            )
        fan_in, units = math.prod(shape[:-1]), shape[-1]
        k = self.nonzero
        check_argument(
            "nonzero",
            k,
            k <= fan_in,
            f"at most fan_in = {fan_in}, the inputs each unit of shape {shape} has",
        )
        # The k largest of fan_in uniform scores form a uniformly random k-subset per unit.
        scores = torch.rand((units, fan_in), dtype=dtype, device=device, generator=generator)
        inputs = scores.topk(k, dim=1).indices
        values = _normal((units, k), 0.0, self.stddev, dtype, device, generator)
        weights = torch.zeros((units, fan_in), dtype=dtype, device=device)
        return weights.scatter_(1, inputs, values).T.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"nonzero": self.nonzero, "stddev": self.stddev, **super().get_config()}


class GatedBias(Initializer):
    """The bias of a gated layer: one block of units per gate, in ``gates`` order, each
    gate named in ``values`` set to that constant and the others drawn from ``base``.

    This is the hook by which a gated layer (an LSTM, a GRU) gets the chapter's forget-gate
    heuristic (Goodfellow et al. §8.4; Gers, Schmidhuber & Cummins 2000; Jozefowicz,
    Zaremba & Sutskever 2015): a forget gate f = σ(b_f + ...) biased to 1 starts out
    remembering (σ(1) ≈ 0.73), so gradients flow through time from the first step. Keras
    calls this ``unit_forget_bias=True``. A layer whose bias has shape
    (len(gates) · units,) uses ``GatedBias(("input", "forget", "cell", "output"),
    {"forget": 1.0})`` as its default ``bias_initializer``, and declares ``gates`` (the same
    names, in its bias's order) so that
    :func:`deepdescent.strategies.initialize_biases` can find its forget gate.

    Args:
        gates: the gates' names, in the order their blocks lie in the bias.
        values: gate name → the constant its block starts at (default ``{"forget": 1.0}``).
        base: the initializer of the other blocks (default ``"zeros"``).
    """

    def __init__(
        self,
        gates: Sequence[str] = ("input", "forget", "cell", "output"),
        values: Mapping[str, float] | None = None,
        base: Any = "zeros",
    ):
        gates = tuple(gates) if not isinstance(gates, str) else (gates,)
        check_argument(
            "gates",
            gates,
            bool(gates)
            and all(isinstance(g, str) for g in gates)
            and len(set(gates)) == len(gates),
            "distinct gate names, e.g. ('input', 'forget', 'cell', 'output')",
        )
        values = {"forget": 1.0} if values is None else dict(values)
        unknown = sorted(set(values) - set(gates))
        check_argument("values", values, not unknown, f"constants for gates among {gates}")
        self.gates = gates
        self.values = {gate: _check_number(f"values[{gate!r}]", v) for gate, v in values.items()}
        resolved = get(base)
        check_argument(
            "base", base, isinstance(resolved, Initializer), "an initializer name or object"
        )
        self.base = cast(Initializer, resolved)

    def block(self, gate: str, size: int) -> slice:
        """Where ``gate``'s block lies in a bias of ``size`` entries."""
        check_argument("gate", gate, gate in self.gates, f"one of {self.gates}")
        units = self.units(size)
        start = self.gates.index(gate) * units
        return slice(start, start + units)

    def units(self, size: int) -> int:
        """The units per gate of a bias of ``size`` entries."""
        check_argument(
            "shape",
            (size,),
            size % len(self.gates) == 0,
            f"a bias of len(gates) · units entries, a multiple of {len(self.gates)}",
        )
        return size // len(self.gates)

    def __call__(
        self, shape: Sequence[int], dtype: torch.dtype = torch.float32, device: Device = None
    ) -> torch.Tensor:
        shape = _check_shape(shape)
        check_argument("shape", shape, len(shape) == 1, "a bias vector, rank 1")
        bias = self.base(shape, dtype=dtype, device=device)
        for gate, value in self.values.items():
            bias[self.block(gate, shape[0])] = value
        return bias

    def get_config(self) -> dict[str, Any]:
        return {
            "gates": list(self.gates),
            "values": dict(self.values),
            "base": serialize(self.base),
        }


_CLASSES: dict[str, type[Initializer]] = {
    cls.__name__: cls
    for cls in (
        Constant,
        GatedBias,
        GlorotNormal,
        GlorotUniform,
        HeNormal,
        HeUniform,
        Identity,
        LecunNormal,
        LecunUniform,
        Ones,
        Orthogonal,
        RandomNormal,
        RandomUniform,
        SparseInit,
        TruncatedNormal,
        VarianceScaling,
        Zeros,
    )
}

# Keras's string identifiers (class names match too: look-up ignores case and "_").
_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "zero": Zeros,
    "ones": Ones,
    "one": Ones,
    "constant": Constant,
    "identity": Identity,
    "identity_initializer": Identity,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "orthogonal_initializer": Orthogonal,
    "sparse": SparseInit,
    "sparse_init": SparseInit,
    "gated_bias": GatedBias,
}


def get(
    identifier: str | Mapping[str, Any] | Initializer | InitializerFunction | None,
) -> Initializer | InitializerFunction | None:
    """Resolve an initializer identifier.

    ``None`` → ``None`` (the layer keeps its own default, e.g. ``"glorot_uniform"`` for
    kernels); a Keras name → that initializer with default arguments; a config dict →
    :func:`deserialize`; an ``Initializer`` class → an instance; an instance or a callable
    ``fn(shape, dtype, device)`` → itself.
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return lookup("initializer", identifier, _BY_NAME)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return cast(InitializerFunction, identifier)
    raise TypeError(
        "initializer must be None, a name such as 'glorot_uniform', a config dict, an "
        f"Initializer or a callable; got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(initializer: Initializer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of an initializer (JSON-safe)."""
    return _serialize(initializer)


def deserialize(config: Mapping[str, Any]) -> Initializer:
    """Rebuild an initializer from :func:`serialize`'s output (only this module's classes)."""
    return _deserialize("initializer", config, _CLASSES)
