"""Keras's ``keras.utils.plot_model``: a picture of a model's layers, one box per layer
and an arrow for each tensor passed from one layer to another.

What is drawn follows Keras 3: a functional model's graph of layer calls; a Sequential
model's layers as a chain; a subclassed model as one box (its ``call`` is code, not a
graph). With ``expand_nested`` a functional or Sequential model used as a layer is drawn
as its own layers instead of one box. Keras draws with pydot and Graphviz; here matplotlib
(imported only when a picture is drawn) lays the boxes out in rows by their depth, the
longest path from an input.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from deepdescent.utils._checks import check_argument
from deepdescent.utils._layer_outputs import child_outputs, shape_text
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


@dataclass(frozen=True)
class _Output:
    """What a box says of a layer's output: its shape and dtype as text."""

    shape: str
    dtype: str


@dataclass
class _Drawing:
    """The boxes and arrows collected so far, and the options of the labels."""

    options: dict[str, bool]
    expand_nested: bool
    labels: list[str] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)

    def box(self, layer: Any, outputs: list[_Output]) -> int:
        self.labels.append(_label(layer, outputs, self.options))
        return len(self.labels) - 1

    def arrow(self, source: int, target: int) -> None:
        if (source, target) not in self.edges:
            self.edges.append((source, target))


@dataclass(frozen=True)
class _Part:
    """The boxes a layer became: those its inputs arrive at (one per input of a nested
    functional model) and those its outputs leave from (one per output)."""

    entries: list[int]
    exits: list[int]

    def entry(self, position: int) -> int:
        return self.entries[position] if position < len(self.entries) else self.entries[0]

    def exit(self, position: int) -> int:
        return self.exits[position] if position < len(self.exits) else self.exits[-1]


def _dtype_text(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _label(layer: Any, outputs: list[_Output], options: dict[str, bool]) -> str:
    kind = getattr(layer, "type_name", type(layer).__name__)
    lines = [f"{layer.name} ({kind})" if options["show_layer_names"] else kind]
    activation = getattr(layer, "activation", None)
    if options["show_layer_activations"] and callable(activation):
        lines.append(f"activation: {getattr(activation, '__name__', type(activation).__name__)}")
    if options["show_shapes"]:
        lines.append("output: " + (", ".join(o.shape for o in outputs) or "?"))
    if options["show_dtype"]:
        lines.append("dtype: " + (", ".join(o.dtype for o in outputs) or "?"))
    if options["show_trainable"] and any(True for _ in layer.parameters()):
        lines.append("trainable" if getattr(layer, "trainable", True) else "non-trainable")
    return "\n".join(lines)


def _is_expandable(layer: Any) -> bool:
    return getattr(layer, "is_layer_chain", False) or getattr(layer, "graph", None) is not None


def _add_layer(
    drawing: _Drawing, layer: Any, outputs: list[_Output], input_shape: Any = None
) -> _Part:
    if drawing.expand_nested and _is_expandable(layer):
        return _add_model(drawing, layer, input_shape)
    box = drawing.box(layer, outputs)
    return _Part([box], [box])


def _add_functional(drawing: _Drawing, model: Any) -> _Part:
    graph = model.graph
    parts: dict[int, _Part] = {}
    for layer in graph.layers:
        first_call = next(node for node in graph.nodes if node.layer is layer)
        outputs = [_Output(str(t.shape), _dtype_text(t.dtype)) for t in first_call.flat_outputs]
        arguments = first_call.inputs
        input_shape = arguments[0].shape if len(arguments) == 1 else None
        parts[id(layer)] = _add_layer(drawing, layer, outputs[:1], input_shape)
    for node in graph.nodes:
        target = parts[id(node.layer)]
        for position, tensor in enumerate(node.inputs):
            source = parts[id(tensor.node.layer)]
            drawing.arrow(source.exit(tensor.index), target.entry(position))
    return _Part(
        [parts[id(t.node.layer)].entries[0] for t in graph.flat_inputs],
        [parts[id(t.node.layer)].exit(t.index) for t in graph.flat_outputs],
    )


def _torch_outputs(output: Any) -> list[_Output]:
    if isinstance(output, (list, tuple)):
        return [o for item in output for o in _torch_outputs(item)]
    return [_Output(shape_text(output), _dtype_text(getattr(output, "dtype", "?")))]


def _add_sequential(drawing: _Drawing, model: Any, input_shape: Any) -> _Part:
    outputs = child_outputs(model, input_shape)
    parts = [
        _add_layer(drawing, child, _torch_outputs(outputs[name]) if name in outputs else [])
        for name, child in model.named_children()
    ]
    for before, after in itertools.pairwise(parts):
        drawing.arrow(before.exits[0], after.entries[0])
    return _Part(parts[0].entries, parts[-1].exits)


def _add_model(drawing: _Drawing, model: Any, input_shape: Any = None) -> _Part:
    """Add ``model``'s boxes; ``input_shape`` (batch axis first) when the model is called
    in an enclosing graph on inputs of that shape."""
    if getattr(model, "graph", None) is not None:
        return _add_functional(drawing, model)
    if getattr(model, "is_layer_chain", False) and model.layers:
        return _add_sequential(drawing, model, input_shape)
    output = child_outputs(model, input_shape).get("")
    box = drawing.box(model, [] if output is None else _torch_outputs(output))
    return _Part([box], [box])


def _depths(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """Each box's longest path from a box with no arrow in; a cycle (a shared layer called
    on its own descendant) stops growing after ``count`` rounds."""
    depths = [0] * count
    for _ in range(count):
        changed = False
        for source, target in edges:
            if depths[target] < depths[source] + 1 <= count:
                depths[target] = depths[source] + 1
                changed = True
        if not changed:
            break
    return depths


def model_graph(model: Any, expand_nested: bool = False, **options: bool) -> ModelGraph:
    """The boxes and arrows :func:`plot_model` draws for ``model``.

    Raises:
        ValueError: ``model`` is not built (its layers' shapes are not known yet).
    """
    if not model.built:
        raise ValueError(
            f"{type(model).__name__} {getattr(model, 'name', '')!r} has not been built yet: "
            "give it an input shape (keras.Input or model.build(shape)) or call it on data "
            "before plot_model"
        )
    settings = {
        "show_shapes": False,
        "show_dtype": False,
        "show_layer_names": False,
        "show_layer_activations": False,
        "show_trainable": False,
        **options,
    }
    drawing = _Drawing(settings, expand_nested)
    _add_model(drawing, model)
    return ModelGraph(drawing.labels, drawing.edges, _depths(len(drawing.labels), drawing.edges))


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
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> str:
    """Draw ``model``'s layers to ``to_file`` (PNG) and return its path.

    ``rankdir`` ``"TB"`` draws top to bottom, ``"LR"`` left to right; the ``show_*``
    flags add the layer's name, output shape, dtype, activation and trainable flag to each
    box, as Keras's do (Keras 3's defaults: class names only); ``expand_nested`` draws
    nested functional and Sequential models as their layers. Keras returns an IPython
    image; here the path of the file written.

    Raises:
        ValueError: ``rankdir`` or ``dpi`` out of range, or ``model`` is not built.
    """
    check_argument("rankdir", rankdir, rankdir in ("TB", "LR"), 'one of "TB", "LR"')
    check_argument("dpi", dpi, isinstance(dpi, int) and dpi > 0, "a positive int")
    drawn = model_graph(
        model,
        expand_nested=expand_nested,
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
