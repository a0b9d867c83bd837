"""Keras's ``model.summary()`` table: one row per layer with its output shape and
parameter count, and for a functional model the calls each layer's inputs come from
(``dense[0][0]``: the first call of ``dense``, its first output)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import torch

if TYPE_CHECKING:
    from deepdescent.layers.symbolic import SymbolicTensor
    from deepdescent.models.model import Model

_WIDTHS = (33, 24, 15)
_GRAPH_WIDTHS = (31, 22, 11, 24)


def child_outputs(model: Model, input_shape: Any = None) -> dict[str, Any]:
    """Each direct child's output (a tensor, or a tuple of them) from one forward pass on
    a single example of zeros, when the input shape is known (``input_shape``, else the
    model's declared one or the one seen in the data given to ``fit``); the model's own
    output under the key ``""``. Empty when the model is not built or its input shape is
    unknown."""
    outputs: dict[str, Any] = {}
    input_shape = input_shape or model.input_shape or model.build_input_shape
    # A Sequential called inside a functional graph has built layers but no input shape
    # of its own: running it on zeros then builds nothing.
    layers_built = all(getattr(child, "built", True) for child in model.children())
    if input_shape is None or not (model.built or layers_built):
        return outputs
    handles = [
        child.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
        for name, child in model.named_children()
    ]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            outputs[""] = model(
                torch.zeros(
                    (1, *cast(tuple[int, ...], input_shape[1:])),
                    device=model.device,
                    dtype=model.dtype,
                )
            )
            model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def shape_text(output: Any) -> str:
    """``output``'s shape as Keras prints it, ``None`` for the batch axis."""
    if isinstance(output, torch.Tensor):
        return str((None, *output.shape[1:]))
    if isinstance(output, (list, tuple)):
        return ", ".join(shape_text(item) for item in output)
    return "?"


def _format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _row(cells: tuple[str, ...], widths: tuple[int, ...], edge: str = "│") -> str:
    """One table row; a cell of several lines (``\\n``) makes the row that tall."""
    columns = [cell.split("\n") for cell in cells]
    height = max(len(lines) for lines in columns)
    out = []
    for line in range(height):
        padded = [
            f" {text:>{width - 2}} " if i == 2 else f" {text:<{width - 2}} "
            for i, (lines, width) in enumerate(zip(columns, widths, strict=True))
            for text in [lines[line] if line < len(lines) else ""]
        ]
        out.append(edge + edge.join(padded) + edge)
    return "\n".join(out)


def _rule(left: str, mid: str, right: str, fill: str, widths: tuple[int, ...]) -> str:
    return left + mid.join(fill * w for w in widths) + right


def _reference(tensor: SymbolicTensor) -> str:
    node = tensor.node
    if node is None:
        return "?"
    return f"{node.layer.name}[{node.layer.inbound_nodes.index(node)}][{tensor.index}]"


def _graph_rows(model: Model) -> list[tuple[str, ...]]:
    graph = model.graph
    assert graph is not None
    rows: list[tuple[str, ...]] = []
    for layer in graph.layers:
        nodes = [node for node in graph.nodes if node.layer is layer]
        shapes = ", ".join(str(t.shape) for t in nodes[0].flat_outputs)
        sources = "\n".join(_reference(t) for node in nodes for t in node.inputs) or "-"
        rows.append(
            (f"{layer.name} ({type(layer).__name__})", shapes, f"{layer.count_params():,}", sources)
        )
    return rows


def _child_rows(model: Model) -> list[tuple[str, ...]]:
    outputs = child_outputs(model)
    return [
        (
            f"{name} ({type(child).__name__})",
            shape_text(outputs[name]) if name in outputs else "?",
            f"{sum(t.numel() for t in (*child.parameters(), *child.buffers())):,}",
        )
        for name, child in model.named_children()
    ]


def format_summary(model: Model) -> str:
    graph = model.graph is not None
    widths = _GRAPH_WIDTHS if graph else _WIDTHS
    header = ("Layer (type)", "Output Shape", "Param #", "Connected to")[: len(widths)]
    rows = _graph_rows(model) if graph else _child_rows(model)
    lines = [
        f'Model: "{model.name}"',
        _rule("┏", "┳", "┓", "━", widths),
        _row(header, widths, "┃"),
        _rule("┡", "╇", "┩", "━", widths),
    ]
    for index, cells in enumerate(rows):
        lines.append(_row(cells, widths))
        if index < len(rows) - 1:
            lines.append(_rule("├", "┼", "┤", "─", widths))
    lines.append(_rule("└", "┴", "┘", "─", widths))
    # Keras counts state that is not trained (batch normalization's moving averages) as
    # non-trainable parameters.
    params = [*model.parameters(), *model.buffers()]
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in params if not any(p is t for t in trainable)]
    for label, group in (("Total", params), ("Trainable", trainable), ("Non-trainable", frozen)):
        count = sum(p.numel() for p in group)
        size = sum(p.numel() * p.element_size() for p in group)
        lines.append(f" {label} params: {count:,} ({_format_bytes(size)})")
    return "\n".join(lines)
