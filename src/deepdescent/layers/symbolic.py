"""Symbolic tensors: the functional API's placeholders (Keras's ``KerasTensor``).

``Input(shape=(784,))`` returns a :class:`SymbolicTensor`: a shape (batch axis ``None``)
and a dtype, no data. Calling a layer on symbolic tensors builds the layer and records the
call as a :class:`Node` of a graph; the outputs are new symbolic tensors whose shapes come
from running the layer once on zeros (twice when an axis other than the batch axis has no
fixed length, to see which output axes follow it). Arithmetic on symbolic tensors
(``x + residual``, ``2 * x``, ``x[:, 0]``) and the functions of :mod:`deepdescent.ops`
record operation nodes the same way. ``Model(inputs, outputs)`` replays the graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from deepdescent import ops

__all__ = [
    "Node",
    "SymbolicTensor",
    "any_symbolic",
    "call_symbolic",
    "flatten",
    "map_structure",
    "output_shapes",
]

# Two lengths for an axis of unknown length: an output axis whose length differs between
# them follows the input's and is unknown too.
_PROBE_LENGTHS = (32, 48)


def flatten(structure: Any) -> Iterator[Any]:
    """The leaves of nested lists, tuples and dicts (dicts in key order)."""
    if isinstance(structure, (list, tuple)):
        for item in structure:
            yield from flatten(item)
    elif isinstance(structure, dict):
        for key in structure:
            yield from flatten(structure[key])
    else:
        yield structure


def map_structure(function: Any, structure: Any) -> Any:
    """``structure`` with every leaf replaced by ``function(leaf)``."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(function, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(function, item) for key, item in structure.items()}
    return function(structure)


def any_symbolic(args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a call's arguments hold a symbolic tensor."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, SymbolicTensor):
            return True
        if isinstance(value, (list, tuple, dict)) and any(
            isinstance(leaf, SymbolicTensor) for leaf in flatten(value)
        ):
            return True
    return False


@dataclass(eq=False)
class Node:
    """One call of a layer in a graph: its arguments (symbolic tensors among constants)
    and its outputs (a structure of symbolic tensors)."""

    layer: Any
    args: tuple
    kwargs: dict[str, Any]
    outputs: Any = None
    flat_outputs: list[SymbolicTensor] = field(default_factory=list)

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The symbolic tensors among the arguments, in order."""
        return [
            leaf for leaf in flatten((self.args, self.kwargs)) if isinstance(leaf, SymbolicTensor)
        ]


class SymbolicTensor:
    """A placeholder with a shape and a dtype, made by ``Input`` or a layer's call.

    Attributes:
        shape: the shape, batch axis (and any axis of free length) ``None``.
        dtype: the dtype's name (``"float32"``).
        node: the call that made it (``None`` for a detached placeholder).
        index: its position among the node's outputs.
        name: a name (an input's name).
    """

    _deepdescent_symbolic = True

    def __init__(
        self,
        shape: tuple[int | None, ...],
        dtype: torch.dtype,
        node: Node | None = None,
        index: int = 0,
        name: str | None = None,
    ) -> None:
        self.shape = tuple(shape)
        self.torch_dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def dtype(self) -> str:
        return str(self.torch_dtype).removeprefix("torch.")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        made_by = "" if self.node is None else f", made by {self.node.layer.name!r}"
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}{made_by}>"

    def __len__(self) -> int:
        raise TypeError(
            "a symbolic tensor has no length: its batch axis is unknown until data flow"
        )

    def __bool__(self) -> bool:
        raise TypeError("a symbolic tensor has no truth value: it holds no data")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "a symbolic tensor holds no data and cannot become an array: build a Model "
            "from it and call the model on data"
        )

    def apply_operation(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Record ``deepdescent.ops.<name>(*args, **kwargs)`` as a node of the graph."""
        from deepdescent.layers.operation import TensorOperation

        return TensorOperation(name)(*args, **kwargs)

    def __add__(self, other: Any) -> Any:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Any:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Any:
        return ops.subtract(self, other)

    def __rsub__(self, other: Any) -> Any:
        return ops.subtract(other, self)

    def __mul__(self, other: Any) -> Any:
        return ops.multiply(self, other)

    def __rmul__(self, other: Any) -> Any:
        return ops.multiply(other, self)

    def __truediv__(self, other: Any) -> Any:
        return ops.divide(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return ops.divide(other, self)

    def __matmul__(self, other: Any) -> Any:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return ops.matmul(other, self)

    def __pow__(self, other: Any) -> Any:
        return ops.power(self, other)

    def __neg__(self) -> Any:
        return ops.negative(self)

    def __abs__(self) -> Any:
        return ops.absolute(self)

    def __getitem__(self, key: Any) -> Any:
        return ops.get_item(self, key)


def _probe(spec: Any, length: int, device: torch.device) -> Any:
    """Zeros standing for a symbolic tensor (or a batch shape): batch 1, free axes
    ``length`` long."""
    if isinstance(spec, SymbolicTensor):
        dims = [1, *(length if d is None else d for d in spec.shape[1:])]
        return torch.zeros(dims, dtype=spec.torch_dtype, device=device)
    return spec


def _shape_probe(spec: Any, length: int, device: torch.device, dtype: torch.dtype) -> Any:
    if isinstance(spec, tuple) and all(d is None or isinstance(d, int) for d in spec):
        dims = [1, *(length if d is None else d for d in spec[1:])]
        return torch.zeros(dims, dtype=dtype, device=device)
    if isinstance(spec, (list, tuple)):
        return [_shape_probe(s, length, device, dtype) for s in spec]
    if isinstance(spec, dict):
        return {k: _shape_probe(s, length, device, dtype) for k, s in spec.items()}
    return spec


def _run_on(layer: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """The layer's outputs on probe tensors, in inference mode and without a graph."""
    modes = [(m, m.training) for m in layer.modules()]
    layer.eval()
    try:
        with torch.no_grad():
            return layer(*args, **kwargs)
    finally:
        for module, was in modes:
            module.training = was


def _has_free_axis(specs: list[Any]) -> bool:
    return any(
        d is None
        for spec in specs
        for d in (spec.shape[1:] if isinstance(spec, SymbolicTensor) else ())
    )


def _layer_device(layer: Any) -> torch.device:
    first = next(iter(layer.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _output_specs(first: Any, second: Any | None) -> Any:
    """Shapes and dtypes of the outputs of two probe runs; axes that differ are ``None``."""
    if isinstance(first, torch.Tensor):
        dims: list[int | None] = [None, *first.shape[1:]]
        if second is not None:
            dims = [
                None if i == 0 or a != b else a
                for i, (a, b) in enumerate(zip(first.shape, second.shape, strict=True))
            ]
        return (tuple(dims), first.dtype)
    if isinstance(first, (list, tuple)):
        others = second if second is not None else [None] * len(first)
        return type(first)(_output_specs(a, b) for a, b in zip(first, others, strict=True))
    if isinstance(first, dict):
        return {
            k: _output_specs(v, None if second is None else second[k]) for k, v in first.items()
        }
    raise TypeError(f"a layer returned {type(first).__name__}, not tensors")


def _probe_outputs(layer: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    device = _layer_device(layer)
    specs = [leaf for leaf in flatten((args, kwargs)) if isinstance(leaf, SymbolicTensor)]
    runs = []
    for length in _PROBE_LENGTHS[: 2 if _has_free_axis(specs) else 1]:
        probe_args = map_structure(lambda s, n=length, d=device: _probe(s, n, d), args)
        probe_kwargs = map_structure(lambda s, n=length, d=device: _probe(s, n, d), kwargs)
        runs.append(_run_on(layer, probe_args, probe_kwargs))
        device = _layer_device(layer)  # the first run may have built the layer
    return _output_specs(runs[0], runs[1] if len(runs) > 1 else None)


def call_symbolic(layer: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(*args, **kwargs)`` on symbolic tensors; return symbolic outputs."""
    try:
        specs = _probe_outputs(layer, args, kwargs)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        shapes = [
            leaf.shape for leaf in flatten((args, kwargs)) if isinstance(leaf, SymbolicTensor)
        ]
        name = getattr(layer, "name", None) or type(layer).__name__
        raise ValueError(
            f"Layer {name!r} ({type(layer).__name__}) cannot take inputs of shape "
            f"{', '.join(map(str, shapes))}: {error}"
        ) from error
    node = Node(layer, args, dict(kwargs))
    counter = iter(range(1 << 30))

    def make(spec: tuple[tuple[int | None, ...], torch.dtype]) -> SymbolicTensor:
        tensor = SymbolicTensor(spec[0], spec[1], node, next(counter))
        node.flat_outputs.append(tensor)
        return tensor

    node.outputs = _map_specs(make, specs)
    layer.inbound_nodes.append(node)
    return node.outputs


def _map_specs(function: Any, specs: Any) -> Any:
    if isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], torch.dtype):
        return function(specs)
    if isinstance(specs, (list, tuple)):
        return type(specs)(_map_specs(function, s) for s in specs)
    return {k: _map_specs(function, s) for k, s in specs.items()}


def output_shapes(layer: Any, input_shape: Any) -> Any:
    """The output shape(s) of ``layer`` on inputs of ``input_shape`` (batch axes ``None``;
    a list of shapes for several inputs), from runs on zeros."""
    device = _layer_device(layer)
    dtype = torch.get_default_dtype()
    free = any(d is None for shape in _leaf_shapes(input_shape) for d in shape[1:])
    runs = []
    for length in _PROBE_LENGTHS[: 2 if free else 1]:
        probe = _shape_probe(input_shape, length, device, dtype)
        runs.append(_run_on(layer, (probe,), {}))
    specs = _output_specs(runs[0], runs[1] if len(runs) > 1 else None)
    return _map_specs(lambda spec: spec[0], specs)


def _leaf_shapes(shape: Any) -> list[tuple[int | None, ...]]:
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return [shape]
    if isinstance(shape, (list, tuple)):
        return [leaf for s in shape for leaf in _leaf_shapes(s)]
    if isinstance(shape, dict):
        return [leaf for s in shape.values() for leaf in _leaf_shapes(s)]
    return []
