"""Keras's ``keras.utils.plot_model``: a picture of a functional model's graph of layer
calls, one box per layer and an arrow for each tensor passed from one layer to another.

Keras draws with pydot and Graphviz; here matplotlib (imported only when a picture is
drawn) lays the boxes out in rows by their depth, the longest path from an input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from deepdescent.utils._checks import check_argument
from deepdescent.utils.io import atomic_path

__all__ = ["ModelGraph", "model_graph", "plot_model"]

_BOX_WIDTH = 3.2
_BOX_HEIGHT = 1.0


@dataclass(frozen=True)
class ModelGraph:
    """The boxes (one label per layer, in the graph's order), the arrows (``(source,
    target)`` indices into ``labels``) and each box's depth (its row)."""

    labels: list[str]
    edges: list[tuple[int, int]]
    depths: list[int]


def _label(layer: Any, outputs: list[Any], options: dict[str, bool]) -> str:
    lines = [
        f"{layer.name} ({type(layer).__name__})"
        if options["show_layer_names"]
        else type(layer).__name__
    ]
    activation = getattr(layer, "activation", None)
    if options["show_layer_activations"] and callable(activation):
        lines.append(f"activation: {getattr(activation, '__name__', type(activation).__name__)}")
    if options["show_shapes"]:
        lines.append("output: " + ", ".join(str(t.shape) for t in outputs))
    if options["show_dtype"]:
        lines.append("dtype: " + ", ".join(str(t.dtype) for t in outputs))
    if options["show_trainable"]:
        lines.append(f"trainable: {getattr(layer, 'trainable', True)}")
    return "\n".join(lines)


def model_graph(model: Any, **options: bool) -> ModelGraph:
    """The boxes and arrows :func:`plot_model` draws for ``model`` (a functional model).

    Raises:
        ValueError: ``model`` has no graph of layer calls (a Sequential or subclassed
            model).
    """
    graph = getattr(model, "graph", None)
    if graph is None:
        raise ValueError(
            f"plot_model draws functional models (Model(inputs, outputs)); "
            f"{type(model).__name__} {getattr(model, 'name', '')!r} has no graph of layer "
            "calls: model.summary() lists its layers"
        )
    settings = {
        "show_shapes": False,
        "show_dtype": False,
        "show_layer_names": True,
        "show_layer_activations": False,
        "show_trainable": False,
        **options,
    }
    index = {id(layer): i for i, layer in enumerate(graph.layers)}
    edges: list[tuple[int, int]] = []
    depths = [0] * len(graph.layers)
    # graph.nodes reads every call after the calls it depends on, so one pass sets depths.
    for node in graph.nodes:
        target = index[id(node.layer)]
        for tensor in node.inputs:
            source = index[id(tensor.node.layer)]
            if (source, target) not in edges:
                edges.append((source, target))
            depths[target] = max(depths[target], depths[source] + 1)
    labels = [
        _label(
            layer,
            [t for node in graph.nodes if node.layer is layer for t in node.flat_outputs][:1],
            settings,
        )
        for layer in graph.layers
    ]
    return ModelGraph(labels, edges, depths)


def _positions(depths: list[int], rankdir: str) -> list[tuple[float, float]]:
    """Box centres: one row (``"TB"``) or column (``"LR"``) per depth, centred."""
    rows: dict[int, list[int]] = {}
    for box, depth in enumerate(depths):
        rows.setdefault(depth, []).append(box)
    centres: list[tuple[float, float]] = [(0.0, 0.0)] * len(depths)
    for depth, boxes in rows.items():
        for slot, box in enumerate(boxes):
            across = (slot - (len(boxes) - 1) / 2) * (_BOX_WIDTH + 0.6)
            along = -depth * (_BOX_HEIGHT * 2.2)
            centres[box] = (across, along) if rankdir == "TB" else (-along * 1.6, -across / 2)
    return centres


def plot_model(
    model: Any,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """Draw ``model``'s graph of layer calls to ``to_file`` (PNG) and return its path.

    ``rankdir`` ``"TB"`` draws top to bottom, ``"LR"`` left to right; the ``show_*``
    flags add the output shape, dtype, activation and trainable flag to each box, as
    Keras's do. Keras returns an IPython image; here the path of the file written.

    Raises:
        ValueError: ``rankdir`` or ``dpi`` out of range, or ``model`` is not functional.
    """
    check_argument("rankdir", rankdir, rankdir in ("TB", "LR"), 'one of "TB", "LR"')
    check_argument("dpi", dpi, isinstance(dpi, int) and dpi > 0, "a positive int")
    drawn = model_graph(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    centres = _positions(drawn.depths, rankdir)
    xs = [x for x, _ in centres]
    ys = [y for _, y in centres]
    width = max(xs) - min(xs) + _BOX_WIDTH * 1.6
    height = max(ys) - min(ys) + _BOX_HEIGHT * 2
    figure = Figure(figsize=(max(width, 3.0), max(height, 1.5)))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(min(xs) - _BOX_WIDTH * 0.8, max(xs) + _BOX_WIDTH * 0.8)
    axes.set_ylim(min(ys) - _BOX_HEIGHT, max(ys) + _BOX_HEIGHT)
    axes.axis("off")
    # Arrows stop at the box edges: half a box's height (TB) or width (LR), in points.
    clearance = 18 if rankdir == "TB" else 70
    for source, target in drawn.edges:
        axes.annotate(
            "",
            xy=centres[target],
            xytext=centres[source],
            arrowprops={
                "arrowstyle": "-|>",
                "shrinkA": clearance,
                "shrinkB": clearance,
                "color": "0.3",
            },
        )
    for label, (x, y) in zip(drawn.labels, centres, strict=True):
        axes.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.3"},
        )
    with atomic_path(to_file) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return os.fspath(to_file)
