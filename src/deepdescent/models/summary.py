"""Keras's ``model.summary()`` table."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch

if TYPE_CHECKING:
    from deepdescent.models.model import Model

_WIDTHS = (33, 24, 15)


def _output_shapes(model: Model) -> dict[str, str]:
    """Each direct child's output shape, from one forward pass on zeros when the input
    shape is known."""
    shapes: dict[str, str] = {}
    if model.input_shape is None or not model.built:
        return shapes
    handles = [
        child.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, str((None, *out.shape[1:])))
        )
        for name, child in model.named_children()
    ]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            model(
                torch.zeros(
                    (1, *cast(tuple[int, ...], model.input_shape[1:])),
                    device=model.device,
                    dtype=model.dtype,
                )
            )
            model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _row(cells: tuple[str, str, str], left: str = "│", mid: str = "│", right: str = "│") -> str:
    name, shape, params = cells
    return (
        f"{left} {name:<{_WIDTHS[0] - 2}} {mid} {shape:<{_WIDTHS[1] - 2}} {mid} "
        f"{params:>{_WIDTHS[2] - 2}} {right}"
    )


def _rule(left: str, mid: str, right: str, fill: str) -> str:
    return left + mid.join(fill * w for w in _WIDTHS) + right


def format_summary(model: Model) -> str:
    shapes = _output_shapes(model)
    lines = [
        f'Model: "{model.name}"',
        _rule("┏", "┳", "┓", "━"),
        _row(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
        _rule("┡", "╇", "┩", "━"),
    ]
    children = list(model.named_children())
    for index, (name, child) in enumerate(children):
        count = sum(t.numel() for t in (*child.parameters(), *child.buffers()))
        lines.append(
            _row((f"{name} ({type(child).__name__})", shapes.get(name, "?"), f"{count:,}"))
        )
        if index < len(children) - 1:
            lines.append(_rule("├", "┼", "┤", "─"))
    lines.append(_rule("└", "┴", "┘", "─"))
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
