"""The functional API's graph: ``Model(inputs, outputs)`` over the calls recorded on
symbolic tensors (:mod:`deepdescent.layers.symbolic`).

:class:`Graph` finds the calls that lead from the inputs to the outputs, orders them so
that each runs after the calls it reads from, and replays them on data. A layer called
several times (a shared layer) is one module with several calls. The graph is saved as
its layers' configs and, per call, the arguments with every symbolic tensor replaced by a
reference ``{"node": i, "tensor": j}`` to the i-th call's j-th output (slices, tuples and
dicts get tags of their own), so a saved graph holds nothing but JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from deepdescent.layers import InputLayer, Layer, SymbolicTensor, TensorOperation
from deepdescent.layers import deserialize as deserialize_layer
from deepdescent.layers import serialize as serialize_layer
from deepdescent.layers.symbolic import Node, flatten, map_structure
from deepdescent.utils._checks import snake_case, unique_name

__all__ = ["Graph", "graph_from_config"]


class Graph:
    """The calls from ``inputs`` to ``outputs`` (each a symbolic tensor, or a list or
    dict of them), in an order that respects their dependencies.

    Raises:
        ValueError: an output depends on a symbolic input that is not among ``inputs``,
            or ``inputs`` holds something other than ``Input`` tensors.
    """

    def __init__(self, inputs: Any, outputs: Any) -> None:
        self.inputs = _as_structure(inputs, "inputs")
        self.outputs = _as_structure(outputs, "outputs")
        self.flat_inputs: list[SymbolicTensor] = list(flatten(self.inputs))
        self.flat_outputs: list[SymbolicTensor] = list(flatten(self.outputs))
        for tensor in self.flat_inputs:
            if tensor.node is None or not isinstance(tensor.node.layer, InputLayer):
                raise ValueError(
                    f"inputs must be tensors made by Input(...), got {tensor!r}: a model "
                    "starts from its Input tensors"
                )
        self.nodes: list[Node] = self._order()
        self.layers: list[Layer] = list(dict.fromkeys(node.layer for node in self.nodes))

    def _order(self) -> list[Node]:
        """Every call the outputs depend on, each after the calls it reads (depth-first,
        post-order); input calls first, in the order of ``inputs``."""
        given = {id(t) for t in self.flat_inputs}
        ordered: list[Node] = [t.node for t in self.flat_inputs if t.node is not None]
        done = {id(node) for node in ordered}
        visiting: set[int] = set()

        def visit(tensor: SymbolicTensor) -> None:
            node = tensor.node
            if node is None:
                raise ValueError(f"{tensor!r} was not made by a layer or an Input")
            if isinstance(node.layer, InputLayer) and id(tensor) not in given:
                raise ValueError(
                    f"The outputs depend on the input {node.layer.name or tensor!r}, which is "
                    "not among the model's inputs: pass it in Model(inputs=[...])"
                )
            if id(node) in done:
                return
            if id(node) in visiting:
                raise ValueError("The graph has a cycle")
            visiting.add(id(node))
            for parent in node.inputs:
                visit(parent)
            visiting.discard(id(node))
            done.add(id(node))
            ordered.append(node)

        for tensor in self.flat_outputs:
            visit(tensor)
        return ordered

    def name_layers(self, taken: set[str]) -> None:
        """Give every layer without a name Keras's default (``dense``, ``dense_1`` ...)."""
        names: dict[str, Layer] = {}
        for layer in self.layers:
            if layer.name is None:
                continue
            other = names.get(layer.name)
            if other is not None and other is not layer:
                raise ValueError(
                    f"Two layers are named {layer.name!r}; layer names in a model must be unique"
                )
            names[layer.name] = layer
        used = set(names) | taken
        for layer in self.layers:
            if layer.name is None:
                base = (
                    layer.operation
                    if isinstance(layer, TensorOperation)
                    else snake_case(type(layer).__name__)
                )
                name = unique_name(base, used)
                layer.name = name
                used.add(name)

    # -- running -------------------------------------------------------------------------

    def bind_inputs(self, args: tuple, kwargs: dict[str, Any]) -> dict[int, Any]:
        """The data for each input, from a call's arguments: one tensor per input, a list
        in input order, or a dict by input name."""
        if kwargs:
            raise TypeError(f"A functional model takes its inputs only, got {sorted(kwargs)}")
        if len(args) != 1:
            raise TypeError(f"A functional model is called on one argument, got {len(args)}")
        data = args[0]
        if isinstance(data, dict) and isinstance(self.inputs, dict):
            missing = [k for k in self.inputs if k not in data]
            if missing:
                raise ValueError(
                    f"The inputs are keyed {list(self.inputs)}; the dict lacks {missing}"
                )
            data = [data[k] for k in self.inputs]
        elif isinstance(data, dict):
            names = [t.node.layer.name if t.node else None for t in self.flat_inputs]
            missing = [n for n in names if n not in data]
            if missing:
                raise ValueError(f"The inputs are named {names}; the dict given lacks {missing}")
            data = [data[n] for n in names]
        flat = list(flatten(data)) if isinstance(data, (list, tuple, dict)) else [data]
        if len(flat) != len(self.flat_inputs):
            raise ValueError(
                f"The model has {len(self.flat_inputs)} inputs, it was given {len(flat)}"
            )
        return {id(t): value for t, value in zip(self.flat_inputs, flat, strict=True)}

    def run(
        self,
        args: tuple,
        kwargs: dict[str, Any],
        last_call: Callable[[Layer, tuple, dict[str, Any]], Any] | None = None,
    ) -> Any:
        """The outputs on data. ``last_call(layer, args, kwargs)`` replaces the call that
        makes the (single) output, when given."""
        values = self.bind_inputs(args, kwargs)

        def value(item: Any) -> Any:
            return values[id(item)] if isinstance(item, SymbolicTensor) else item

        final = self.flat_outputs[-1].node
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            call_args = map_structure(value, node.args)
            call_kwargs = map_structure(value, node.kwargs)
            if last_call is not None and node is final:
                result = last_call(node.layer, call_args, call_kwargs)
            else:
                result = node.layer(*call_args, **call_kwargs)
            flat = list(flatten(result)) if isinstance(result, (list, tuple, dict)) else [result]
            for symbolic, real in zip(node.flat_outputs, flat, strict=True):
                values[id(symbolic)] = real
        return map_structure(value, self.outputs)

    def output_layer(self) -> Layer | None:
        """The layer that makes the single output when nothing else reads that output
        (so its final activation may be folded into the loss); ``None`` otherwise."""
        if len(self.flat_outputs) != 1 or isinstance(self.outputs, (list, dict)):
            return None
        output = self.flat_outputs[0]
        node = output.node
        if node is None or len(node.flat_outputs) != 1:
            return None
        readers = [n for n in self.nodes if any(t is output for t in n.inputs)]
        return None if readers else node.layer

    # -- saving --------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        position = {id(node): i for i, node in enumerate(self.nodes)}
        where = {
            id(t): {"node": position[id(node)], "tensor": j}
            for node in self.nodes
            for j, t in enumerate(node.flat_outputs)
        }
        return {
            "layers": [serialize_layer(layer) for layer in self.layers],
            "nodes": [
                {
                    "layer": node.layer.name,
                    "args": _encode(node.args, where),
                    "kwargs": _encode(node.kwargs, where),
                }
                for node in self.nodes
            ],
            "inputs": _encode(self.inputs, where),
            "outputs": _encode(self.outputs, where),
        }


def graph_from_config(config: dict[str, Any]) -> tuple[Any, Any]:
    """Rebuild the layers and replay the calls of :meth:`Graph.get_config`; returns the
    ``(inputs, outputs)`` to build a model from."""
    built = {spec["config"]["name"]: deserialize_layer(spec) for spec in config["layers"]}
    produced: list[list[SymbolicTensor]] = []
    for entry in config["nodes"]:
        layer = built[entry["layer"]]
        if isinstance(layer, InputLayer):
            produced.append([layer.output])
            continue
        args = _decode(entry["args"], produced)
        kwargs = _decode(entry["kwargs"], produced)
        result = layer(*args, **kwargs)
        produced.append(
            list(flatten(result)) if isinstance(result, (list, tuple, dict)) else [result]
        )
    return _decode(config["inputs"], produced), _decode(config["outputs"], produced)


def _as_structure(value: Any, argument: str) -> Any:
    if isinstance(value, SymbolicTensor):
        return value
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    if isinstance(value, dict) and value:
        return dict(value)
    raise TypeError(
        f"{argument} must be a symbolic tensor (from Input or a layer's call), or a "
        f"non-empty list or dict of them; got {type(value).__name__}"
    )


def _encode(value: Any, where: dict[int, dict[str, int]]) -> Any:
    if isinstance(value, SymbolicTensor):
        return dict(where[id(value)])
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, where) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"slice": [value.start, value.stop, value.step]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    raise ValueError(
        f"A layer call's argument {value!r} ({type(value).__name__}) cannot be saved in a "
        "model file: only tensors from the graph, numbers, strings, lists, tuples, dicts "
        "and slices can"
    )


def _decode(value: Any, produced: list[list[SymbolicTensor]]) -> Any:
    if isinstance(value, list):
        return [_decode(v, produced) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"node", "tensor"}:
        return produced[value["node"]][value["tensor"]]
    if "tuple" in value:
        return tuple(_decode(v, produced) for v in value["tuple"])
    if "dict" in value:
        return {k: _decode(v, produced) for k, v in value["dict"].items()}
    if "slice" in value:
        return slice(*value["slice"])
    if "ellipsis" in value:
        return Ellipsis
    if "dtype" in value:
        return getattr(torch, value["dtype"])
    raise ValueError(f"Unknown entry in a saved graph: {value!r}")
