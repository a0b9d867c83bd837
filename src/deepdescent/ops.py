"""NumPy-like tensor functions, as ``keras.ops``, computed by torch.

Each function takes tensors, NumPy arrays or Python numbers and returns a torch tensor
(:func:`convert_to_numpy` returns an array); names, arguments (``axis``, ``keepdims``) and
results follow ``keras.ops``. On the functional API's symbolic tensors
(:mod:`deepdescent.layers.symbolic`) a function records itself as an operation of the graph
instead, so ``ops.mean(x, axis=1)`` and ``x + y`` work while building a ``Model``.

What exists: the names in ``__all__`` (element-wise math and comparisons, reductions,
shape manipulation, ``matmul``/``dot``/``einsum``, ``where``, ``cast``, ``one_hot``, the
common activations and ``convert_to_tensor``/``convert_to_numpy``). Not here: ``keras.ops``'
image, linear-algebra (``ops.linalg``), FFT, signal and control-flow (``cond``,
``scan``, ``while_loop``) functions.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from deepdescent import config

F_ = TypeVar("F_", bound=Callable[..., Any])

#: Every operation by name, undecorated: what a recorded graph node computes.
OPERATIONS: dict[str, Callable[..., Any]] = {}

__all__ = [
    "OPERATIONS",
    "abs",
    "absolute",
    "add",
    "all",
    "any",
    "arange",
    "argmax",
    "argmin",
    "argsort",
    "broadcast_to",
    "cast",
    "ceil",
    "clip",
    "concatenate",
    "convert_to_numpy",
    "convert_to_tensor",
    "cos",
    "cumsum",
    "divide",
    "dot",
    "einsum",
    "elu",
    "equal",
    "exp",
    "expand_dims",
    "eye",
    "flip",
    "floor",
    "full",
    "gelu",
    "get_item",
    "greater",
    "greater_equal",
    "leaky_relu",
    "less",
    "less_equal",
    "linspace",
    "log",
    "log1p",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "norm",
    "not_equal",
    "one_hot",
    "ones",
    "ones_like",
    "power",
    "prod",
    "relu",
    "repeat",
    "reshape",
    "round",
    "rsqrt",
    "shape",
    "sigmoid",
    "sign",
    "silu",
    "sin",
    "softmax",
    "softplus",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "stop_gradient",
    "subtract",
    "sum",
    "take",
    "take_along_axis",
    "tanh",
    "tile",
    "top_k",
    "transpose",
    "true_divide",
    "var",
    "where",
    "zeros",
    "zeros_like",
]


def _symbolic_in(args: tuple, kwargs: dict[str, Any]) -> Any:
    """The first symbolic tensor among the arguments (one level into lists), or ``None``."""
    for value in (*args, *kwargs.values()):
        if getattr(value, "_deepdescent_symbolic", False):
            return value
        if isinstance(value, (list, tuple)):
            for item in value:
                if getattr(item, "_deepdescent_symbolic", False):
                    return item
    return None


def _operation(function: F_) -> F_:
    """Register ``function`` and let it record itself on symbolic tensors."""
    OPERATIONS[function.__name__] = function

    @functools.wraps(function)
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        symbolic = _symbolic_in(args, kwargs)
        if symbolic is not None:
            return symbolic.apply_operation(function.__name__, args, kwargs)
        return function(*args, **kwargs)

    return dispatch  # type: ignore[return-value]


def _t(x: Any) -> Any:
    """Tensors as they are, Python numbers as they are (torch broadcasts them), anything
    else through :func:`convert_to_tensor`."""
    if isinstance(x, torch.Tensor) or (isinstance(x, (int, float)) and not isinstance(x, bool)):
        return x
    return convert_to_tensor(x)


def _tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else convert_to_tensor(x)


def _axes(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


# -- conversion -----------------------------------------------------------------------


def convert_to_tensor(x: Any, dtype: Any = None) -> torch.Tensor:
    """``x`` as a tensor: NumPy arrays keep their dtype, Python floats become floatx and
    Python ints int32, as Keras."""
    target = None if dtype is None else config.standardize_dtype(dtype)
    if hasattr(x, "value") and isinstance(x.value, torch.Tensor):  # a Variable
        x = x.value
    if isinstance(x, torch.Tensor):
        return x if target is None else x.to(target)
    if isinstance(x, np.ndarray) or (np.isscalar(x) and isinstance(x, np.generic)):
        tensor = torch.from_numpy(np.asarray(x, order="C"))
    else:
        array = np.asarray(x)
        if array.dtype == np.float64:
            array = array.astype(config.floatx())
        elif array.dtype == np.int64:
            array = array.astype(np.int32)
        tensor = torch.from_numpy(np.asarray(array, order="C"))
    return tensor if target is None else tensor.to(target)


def convert_to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array (copied off the device)."""
    if hasattr(x, "value") and isinstance(x.value, torch.Tensor):
        x = x.value
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@_operation
def cast(x: Any, dtype: Any) -> torch.Tensor:
    return _tensor(x).to(config.standardize_dtype(dtype))


def shape(x: Any) -> tuple[int | None, ...]:
    """The shape as a tuple (``None`` for a symbolic tensor's free axes)."""
    return tuple(x.shape)


@_operation
def stop_gradient(x: Any) -> torch.Tensor:
    return _tensor(x).detach()


# -- creation -------------------------------------------------------------------------


def zeros(shape: Sequence[int], dtype: Any = None) -> torch.Tensor:
    return torch.zeros(tuple(shape), dtype=config.standardize_dtype(dtype))


def ones(shape: Sequence[int], dtype: Any = None) -> torch.Tensor:
    return torch.ones(tuple(shape), dtype=config.standardize_dtype(dtype))


def full(shape: Sequence[int], fill_value: float, dtype: Any = None) -> torch.Tensor:
    return torch.full(tuple(shape), fill_value, dtype=config.standardize_dtype(dtype))


@_operation
def zeros_like(x: Any, dtype: Any = None) -> torch.Tensor:
    x = _tensor(x)
    return torch.zeros_like(x, dtype=None if dtype is None else config.standardize_dtype(dtype))


@_operation
def ones_like(x: Any, dtype: Any = None) -> torch.Tensor:
    x = _tensor(x)
    return torch.ones_like(x, dtype=None if dtype is None else config.standardize_dtype(dtype))


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None) -> Any:
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        integral = builtins.all(isinstance(v, int) for v in (start, stop, step))
        dtype = "int32" if integral else None
    return torch.arange(start, stop, step, dtype=config.standardize_dtype(dtype))


def linspace(start: float, stop: float, num: int = 50, dtype: Any = None) -> torch.Tensor:
    return torch.linspace(start, stop, num, dtype=config.standardize_dtype(dtype))


def eye(n: int, m: int | None = None, dtype: Any = None) -> torch.Tensor:
    return torch.eye(n, n if m is None else m, dtype=config.standardize_dtype(dtype))


# -- element-wise ---------------------------------------------------------------------


def _binary(name: str, torch_function: Callable[[Any, Any], torch.Tensor]) -> Callable:
    def function(x1: Any, x2: Any) -> torch.Tensor:
        a, b = _t(x1), _t(x2)
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            a = convert_to_tensor(a)
        return torch_function(a, b)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Element-wise ``{name}`` with broadcasting, as ``keras.ops.{name}``."
    return _operation(function)


add = _binary("add", torch.add)
subtract = _binary("subtract", torch.sub)
multiply = _binary("multiply", torch.mul)
divide = _binary("divide", torch.true_divide)
true_divide = _binary("true_divide", torch.true_divide)
mod = _binary("mod", torch.remainder)
power = _binary("power", torch.pow)
maximum = _binary("maximum", lambda a, b: torch.maximum(_tensor(a), _tensor(b)))
minimum = _binary("minimum", lambda a, b: torch.minimum(_tensor(a), _tensor(b)))
equal = _binary("equal", torch.eq)
not_equal = _binary("not_equal", torch.ne)
less = _binary("less", torch.lt)
less_equal = _binary("less_equal", torch.le)
greater = _binary("greater", torch.gt)
greater_equal = _binary("greater_equal", torch.ge)
logical_and = _binary("logical_and", lambda a, b: torch.logical_and(_tensor(a), _tensor(b)))
logical_or = _binary("logical_or", lambda a, b: torch.logical_or(_tensor(a), _tensor(b)))


def _unary(name: str, torch_function: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    def function(x: Any) -> torch.Tensor:
        x = _tensor(x)
        if not x.is_floating_point() and name not in _INTEGER_SAFE:
            x = x.to(config.floatx_dtype())
        return torch_function(x)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Element-wise ``{name}``, as ``keras.ops.{name}``."
    return _operation(function)


_INTEGER_SAFE = {"negative", "absolute", "abs", "square", "sign", "logical_not"}

negative = _unary("negative", torch.neg)
absolute = _unary("absolute", torch.abs)
abs = _unary("abs", torch.abs)
square = _unary("square", torch.square)
sqrt = _unary("sqrt", torch.sqrt)
rsqrt = _unary("rsqrt", torch.rsqrt)
exp = _unary("exp", torch.exp)
log = _unary("log", torch.log)
log1p = _unary("log1p", torch.log1p)
sin = _unary("sin", torch.sin)
cos = _unary("cos", torch.cos)
tanh = _unary("tanh", torch.tanh)
sign = _unary("sign", torch.sign)
floor = _unary("floor", torch.floor)
ceil = _unary("ceil", torch.ceil)
logical_not = _unary("logical_not", torch.logical_not)
sigmoid = _unary("sigmoid", torch.sigmoid)
relu = _unary("relu", torch.relu)
silu = _unary("silu", F.silu)
softplus = _unary("softplus", F.softplus)


@_operation
def round(x: Any, decimals: int = 0) -> torch.Tensor:
    return torch.round(_tensor(x), decimals=decimals)


@_operation
def clip(x: Any, x_min: float, x_max: float) -> torch.Tensor:
    return torch.clamp(_tensor(x), x_min, x_max)


@_operation
def where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    """``x1`` where ``condition`` holds, else ``x2``; with one argument, the indices."""
    condition = _tensor(condition).bool()
    if x1 is None and x2 is None:
        return torch.where(condition)
    return torch.where(condition, _t(x1), _t(x2))


@_operation
def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    return F.leaky_relu(_tensor(x), negative_slope)


@_operation
def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    return F.elu(_tensor(x), alpha)


@_operation
def gelu(x: Any, approximate: bool = True) -> torch.Tensor:
    """GELU; ``approximate=True`` (Keras's default) is the tanh form."""
    return F.gelu(_tensor(x), approximate="tanh" if approximate else "none")


@_operation
def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.softmax(_tensor(x), dim=axis)


@_operation
def log_softmax(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.log_softmax(_tensor(x), dim=axis)


# -- reductions -----------------------------------------------------------------------


def _reduce(
    x: Any, axis: Any, keepdims: bool, function: Callable[..., torch.Tensor]
) -> torch.Tensor:
    x = _tensor(x)
    if axis is None:
        out = function(x)
        return out.reshape([1] * x.ndim) if keepdims else out
    return function(x, dim=_axes(axis), keepdim=keepdims)


def _float(x: Any) -> torch.Tensor:
    x = _tensor(x)
    return x if x.is_floating_point() else x.to(config.floatx_dtype())


@_operation
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return _reduce(x, axis, keepdims, torch.sum)


@_operation
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return _reduce(_float(x), axis, keepdims, torch.mean)


@_operation
def prod(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    x = _tensor(x)
    if axis is None:
        out = torch.prod(x)
        return out.reshape([1] * x.ndim) if keepdims else out
    for a in sorted((_axes(axis) if isinstance(axis, (list, tuple)) else (axis,)), reverse=True):
        x = torch.prod(x, dim=a, keepdim=keepdims)
    return x


def _extreme(function: Callable[..., Any]) -> Callable[..., torch.Tensor]:
    def reduce(x: torch.Tensor, dim: Any = None, keepdim: bool = False) -> torch.Tensor:
        if dim is None:
            return function(x)
        return function(x, dim=dim, keepdim=keepdim)

    return reduce


@_operation
def max(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return _reduce(x, axis, keepdims, _extreme(torch.amax))


@_operation
def min(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return _reduce(x, axis, keepdims, _extreme(torch.amin))


@_operation
def var(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """The population variance (divided by n, as NumPy and Keras)."""
    x = _float(x)
    if axis is None:
        out = torch.var(x, unbiased=False)
        return out.reshape([1] * x.ndim) if keepdims else out
    return torch.var(x, dim=_axes(axis), keepdim=keepdims, unbiased=False)


@_operation
def std(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """The population standard deviation (divided by n, as NumPy and Keras)."""
    return torch.sqrt(var(x, axis=axis, keepdims=keepdims))


@_operation
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    x = _float(x)
    dims = tuple(range(x.ndim)) if axis is None else _axes(axis)
    return torch.logsumexp(x, dim=dims, keepdim=keepdims)


@_operation
def any(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return _reduce(_tensor(x).bool(), axis, keepdims, _extreme(torch.any))


@_operation
def all(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return _reduce(_tensor(x).bool(), axis, keepdims, _extreme(torch.all))


@_operation
def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    x = _tensor(x)
    return torch.argmax(x if axis is not None else x.flatten(), dim=axis or 0, keepdim=keepdims)


@_operation
def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    x = _tensor(x)
    return torch.argmin(x if axis is not None else x.flatten(), dim=axis or 0, keepdim=keepdims)


@_operation
def cumsum(x: Any, axis: int | None = None) -> torch.Tensor:
    x = _tensor(x)
    return torch.cumsum(x.flatten() if axis is None else x, dim=0 if axis is None else axis)


@_operation
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    return torch.linalg.norm(_float(x), ord=ord, dim=_axes(axis), keepdim=keepdims)


# -- shapes ---------------------------------------------------------------------------


@_operation
def reshape(x: Any, newshape: Sequence[int]) -> torch.Tensor:
    return _tensor(x).reshape(tuple(-1 if d is None else d for d in newshape))


@_operation
def transpose(x: Any, axes: Sequence[int] | None = None) -> torch.Tensor:
    x = _tensor(x)
    return x.permute(*(reversed(range(x.ndim)) if axes is None else axes))


@_operation
def expand_dims(x: Any, axis: int) -> torch.Tensor:
    return _tensor(x).unsqueeze(axis)


@_operation
def squeeze(x: Any, axis: Any = None) -> torch.Tensor:
    x = _tensor(x)
    return x.squeeze() if axis is None else x.squeeze(_axes(axis))


@_operation
def concatenate(xs: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.cat([_tensor(x) for x in xs], dim=axis)


@_operation
def stack(x: Sequence[Any], axis: int = 0) -> torch.Tensor:
    return torch.stack([_tensor(v) for v in x], dim=axis)


@_operation
def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[torch.Tensor]:
    """NumPy's split: a number of equal sections, or the indices to cut at."""
    x = _tensor(x)
    if isinstance(indices_or_sections, int):
        return list(torch.tensor_split(x, indices_or_sections, dim=axis))
    return list(torch.tensor_split(x, list(indices_or_sections), dim=axis))


@_operation
def tile(x: Any, repeats: Sequence[int]) -> torch.Tensor:
    return _tensor(x).tile(tuple(repeats))


@_operation
def repeat(x: Any, repeats: int, axis: int | None = None) -> torch.Tensor:
    return torch.repeat_interleave(_tensor(x), repeats, dim=axis)


@_operation
def flip(x: Any, axis: Any = None) -> torch.Tensor:
    x = _tensor(x)
    dims = tuple(range(x.ndim)) if axis is None else _axes(axis)
    return torch.flip(x, dims=dims if isinstance(dims, tuple) else (dims,))


@_operation
def broadcast_to(x: Any, shape: Sequence[int]) -> torch.Tensor:
    return torch.broadcast_to(_tensor(x), tuple(shape))


@_operation
def take(x: Any, indices: Any, axis: int | None = None) -> torch.Tensor:
    x, index = _tensor(x), _tensor(indices).long()
    if axis is None:
        return x.flatten()[index]
    return torch.index_select(x, axis, index.flatten()).reshape(
        *x.shape[: axis % x.ndim], *index.shape, *x.shape[axis % x.ndim + 1 :]
    )


@_operation
def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> torch.Tensor:
    x, index = _tensor(x), _tensor(indices).long()
    if axis is None:
        return x.flatten()[index.flatten()]
    return torch.take_along_dim(x, index, dim=axis)


@_operation
def get_item(x: Any, key: Any) -> torch.Tensor:
    """``x[key]`` (what ``symbolic[...]`` records)."""
    return _tensor(x)[key]


@_operation
def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None) -> torch.Tensor:
    """One-hot rows for integer labels ``x``, floatx by default, as ``keras.ops.one_hot``."""
    encoded = F.one_hot(_tensor(x).long(), num_classes).to(config.standardize_dtype(dtype))
    return encoded if axis == -1 else torch.movedim(encoded, -1, axis)


@_operation
def sort(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.sort(_tensor(x), dim=axis).values


@_operation
def argsort(x: Any, axis: int = -1) -> torch.Tensor:
    return torch.argsort(_tensor(x), dim=axis)


@_operation
def top_k(x: Any, k: int, sorted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    values, indices = torch.topk(_tensor(x), k, dim=-1, sorted=sorted)
    return values, indices


# -- products -------------------------------------------------------------------------


@_operation
def matmul(x1: Any, x2: Any) -> torch.Tensor:
    return torch.matmul(_tensor(x1), _tensor(x2))


@_operation
def dot(x1: Any, x2: Any) -> torch.Tensor:
    """NumPy's dot: sum over the last axis of ``x1`` and the second-to-last of ``x2``."""
    a, b = _tensor(x1), _tensor(x2)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return torch.matmul(a, b) if b.ndim <= 2 else torch.tensordot(a, b, dims=([-1], [-2]))


@_operation
def einsum(subscripts: str, *operands: Any) -> torch.Tensor:
    return torch.einsum(subscripts, *(_tensor(x) for x in operands))
