"""Keras's ``model.summary()`` table: one row per layer with its output shape and
parameter count, and for a functional model the calls each layer's inputs come from
(``dense[0][0]``: the first call of ``dense``, its first output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from deepdescent.utils._layer_outputs import child_outputs, shape_text

if TYPE_CHECKING:
    from deepdescent.layers.symbolic import SymbolicTensor
    from deepdescent.models.model import Model

_WIDTHS = (33, 24, 15)
_GRAPH_WIDTHS = (31, 22, 11, 24)


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
        # Keras ends every source but the last with a comma.
        sources = ",\n".join(_reference(t) for node in nodes for t in node.inputs) or "-"
        params = f"{layer.count_params():,}"
        rows.append((f"{layer.name} ({layer.type_name})", shapes, params, sources))
    return rows


def _child_label(key: str, child: torch.nn.Module) -> str:
    """``name (Type)``: a layer's own name, a torch module's attribute name."""
    kind = getattr(child, "type_name", type(child).__name__)
    return f"{getattr(child, 'name', None) or key} ({kind})"


def _child_rows(model: Model) -> list[tuple[str, ...]]:
    outputs = child_outputs(model)
    return [
        (
            _child_label(name, child),
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
    counts = {
        label: (sum(p.numel() for p in group), sum(p.numel() * p.element_size() for p in group))
        for label, group in (("Trainable", trainable), ("Non-trainable", frozen))
    }
    optimizer = _optimizer_variables(model)
    if optimizer is not None:
        counts["Optimizer"] = optimizer
    total = tuple(sum(column) for column in zip(*counts.values(), strict=True))
    for label, (count, size) in {"Total": total, **counts}.items():
        lines.append(f" {label} params: {count:,} ({_format_bytes(size)})")
    return "\n".join(lines)


def _optimizer_variables(model: Model) -> tuple[int, int] | None:
    """Keras's count (and bytes) of the optimizer's variables once it has taken a step:
    its iteration count and learning rate (4 bytes each), and every slot — a state
    tensor the shape of its parameter (momentum, first and second moments ...)."""
    optimizer = getattr(model, "optimizer", None)
    state = getattr(optimizer, "state", None)
    if not state and not getattr(optimizer, "iterations", 0):
        return None
    slots = [
        value
        for param, entries in (state or {}).items()
        for value in entries.values()
        if isinstance(value, torch.Tensor) and value.shape == param.shape
    ]
    count = 2 + sum(s.numel() for s in slots)
    return count, 8 + sum(s.numel() * s.element_size() for s in slots)
