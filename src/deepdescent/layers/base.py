"""The Keras-style layer: a ``torch.nn.Module`` that builds its weights on first use.

Calling a layer (``layer(x)``, ``layer(x, training=True)``) accepts tensors, NumPy arrays
and, for the functional API, symbolic tensors (:mod:`deepdescent.layers.symbolic`): on
those it records the call in the graph instead of computing. ``training=`` switches the
layer (and everything inside it) to that mode for the call, and is handed to ``call`` when
``call`` takes it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from deepdescent import config, initializers, regularizers
from deepdescent.layers import symbolic
from deepdescent.utils._checks import check_argument
from deepdescent.variables import Variable

Shape = tuple[int | None, ...]

__all__ = ["Layer", "Shape", "batch_shape", "call_parameters", "shape_of"]


def batch_shape(shape: Any, argument: str = "input_shape") -> Shape:
    """``(None, *shape)`` from a per-sample shape, checking it holds positive ints (or
    ``None`` for an axis of any length)."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{argument} must be a tuple of ints, got {shape!r}") from None
    if not all(d is None or (isinstance(d, int) and d > 0) for d in dims):
        raise ValueError(f"{argument} must hold positive ints (or None), got {shape!r}")
    return (None, *dims)


def shape_of(inputs: Any) -> Any:
    """The batch shape(s) ``(None, *sample_shape)`` of a tensor or a list/tuple/dict of them."""
    if isinstance(inputs, torch.Tensor):
        return (None, *inputs.shape[1:])
    if isinstance(inputs, (list, tuple)):
        return [shape_of(item) for item in inputs]
    if isinstance(inputs, dict):
        return {key: shape_of(item) for key, item in inputs.items()}
    return None


def _as_tensor(value: Any, device: torch.device) -> Any:
    """NumPy arrays (and nested lists/dicts of them) as tensors; floats as floatx."""
    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.asarray(value, order="C"))
        if tensor.is_floating_point():
            tensor = tensor.to(config.floatx_dtype())
        return tensor.to(device)
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(_as_tensor(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _as_tensor(v, device) for k, v in value.items()}
    return value


_CALL_PARAMETERS: dict[type, frozenset[str]] = {}


def call_parameters(cls: type[Any]) -> frozenset[str]:
    """The parameter names of ``cls.call`` (looked up once per class)."""
    found = _CALL_PARAMETERS.get(cls)
    if found is None:
        found = _CALL_PARAMETERS[cls] = frozenset(inspect.signature(cls.call).parameters)
    return found


# Nesting depth of layer calls: the outermost call clears the losses added by add_loss.
_depth = [0]


@contextlib.contextmanager
def _mode(module: torch.nn.Module, training: bool) -> Iterator[None]:
    """``module`` (and its submodules) in training mode ``training`` for the block."""
    modes = [(m, m.training) for m in module.modules()]
    module.train(training)
    try:
        yield
    finally:
        for m, was in modes:
            m.training = was


class Layer(torch.nn.Module):
    """Base of deepdescent's layers.

    Subclasses create weights in :meth:`build` from the input's shape (batch axis
    ``None``; a list of shapes for a layer of several inputs), with :meth:`add_weight` or
    as ``torch.nn.Parameter`` attributes, compute in :meth:`call`, and describe themselves
    in :meth:`get_config`. ``input_shape`` (per sample, as in Keras) lets a model build
    before seeing data.

    Args:
        name: the layer's name (a model gives it a unique one when ``None``).
        input_shape, input_dim: the per-sample input shape (Keras's Sequential idiom).
        trainable: ``False`` freezes the layer's weights (see :attr:`trainable`).
        dtype: the float type of its weights (``None``: :func:`deepdescent.config.floatx`),
            or a mixed precision policy (``"mixed_float16"``, ``"mixed_bfloat16"``).
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        input_shape: Any = None,
        input_dim: int | None = None,
        trainable: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if input_dim is not None:
            input_shape = (input_dim,)
        check_argument("trainable", trainable, isinstance(trainable, bool), "True or False")
        if name is not None:
            check_argument(
                "name",
                name,
                isinstance(name, str) and bool(name) and "." not in name,
                "a non-empty string without '.'",
            )
        self.name = name
        self.build_input_shape: Any = batch_shape(input_shape) if input_shape is not None else None
        self.built = False
        self._trainable = trainable
        #: A mixed precision policy given as ``dtype`` ("mixed_float16" ...), else None.
        self.dtype_policy: config.DTypePolicy | None = None
        if isinstance(dtype, config.DTypePolicy) or (
            isinstance(dtype, str) and dtype.startswith("mixed_")
        ):
            self.dtype_policy = (
                dtype if isinstance(dtype, config.DTypePolicy) else config.DTypePolicy(dtype)
            )
            dtype = None
        self.weight_dtype: torch.dtype | None = (
            None if dtype is None else config.standardize_dtype(dtype)
        )
        self._added_losses: list[torch.Tensor] = []
        self._penalties: list[tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]] = []
        self._auto_weight_names: set[str] = set()
        #: The calls of this layer on symbolic tensors (functional API graph nodes).
        self.inbound_nodes: list[symbolic.Node] = []

    # -- calling -------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if symbolic.any_symbolic(args, kwargs):
            return symbolic.call_symbolic(self, args, kwargs)
        args = tuple(_as_tensor(a, self.device) for a in args)
        training = kwargs.pop("training", None)
        if "training" in call_parameters(type(self)):
            kwargs["training"] = self.training if training is None else bool(training)
        if _depth[0] == 0:
            for module in self.modules():
                if isinstance(module, Layer):
                    module._added_losses = []
        _depth[0] += 1
        try:
            if training is None or bool(training) == self.training:
                return super().__call__(*args, **kwargs)
            with _mode(self, bool(training)):
                return super().__call__(*args, **kwargs)
        finally:
            _depth[0] -= 1

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.built:
            first = args[0] if args else next(iter(kwargs.values()))
            self.build_for(shape_of(first), _device_of(first))
        return self.call(*args, **kwargs)

    def build_for(self, input_shape: Any, device: torch.device | None = None) -> None:
        """Build for ``input_shape``, then put the new weights on ``device``, in the layer's
        dtype and trainable state."""
        self.build(input_shape)
        self.built = True
        if device is not None:
            self.to(device)
        if self.weight_dtype is not None:
            self.to(self.weight_dtype)
        if not self._trainable:
            for param in self.parameters():
                param.requires_grad_(False)

    def build(self, input_shape: Any) -> None:
        """Create the layer's weights for inputs of ``input_shape``."""
        self.build_input_shape = input_shape
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The shape of the output for inputs of ``input_shape`` (batch axis included),
        found by running the layer on zeros of that shape."""
        return symbolic.output_shapes(self, input_shape)

    def call(self, inputs: Any) -> Any:
        return inputs

    # -- weights -------------------------------------------------------------------------

    def add_weight(
        self,
        shape: Any = (),
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        name: str | None = None,
    ) -> torch.nn.Parameter:
        """Create and register a weight (Keras's ``add_weight``); returns the parameter.

        ``initializer`` defaults to Glorot-uniform for floats (zeros for a scalar), as
        Keras; ``self.w = self.add_weight(...)`` keeps it under the name ``w``.
        """
        dims = tuple(int(d) for d in shape)
        if initializer is None:
            initializer = "glorot_uniform" if len(dims) >= 2 else "zeros"
        init = initializers.get(initializer)
        if init is None:
            raise ValueError("add_weight needs an initializer, got None")
        torch_dtype = config.standardize_dtype(dtype or self.weight_dtype)
        value = init(dims, dtype=torch_dtype)
        param = torch.nn.Parameter(value, requires_grad=trainable and self._trainable)
        key = name or f"weight_{len(self._parameters)}"
        while key in self._parameters or hasattr(type(self), key):
            key += "_"
        self.register_parameter(key, param)
        self._auto_weight_names.add(key)
        penalty = regularizers.get(regularizer)
        if penalty is not None:
            self.add_penalty(param, penalty)
        return param

    def add_penalty(
        self, weight: torch.Tensor, regularizer: Callable[[torch.Tensor], torch.Tensor] | None
    ) -> None:
        """Add ``regularizer(weight)`` to the layer's cost terms (``kernel_regularizer``)."""
        if regularizer is not None:
            self._penalties.append((weight, regularizer))

    def __setattr__(self, name: str, value: Any) -> None:
        # ``self.w = self.add_weight(...)``: the weight moves to the attribute's name.
        if isinstance(value, torch.nn.Parameter) and "_auto_weight_names" in self.__dict__:
            for key in list(self._auto_weight_names):
                if key != name and self._parameters.get(key) is value:
                    del self._parameters[key]
                    self._auto_weight_names.discard(key)
        super().__setattr__(name, value)

    @property
    def trainable(self) -> bool:
        """Whether the layer's weights are trained; ``False`` freezes them (and those of
        every layer inside): their ``requires_grad`` is off, so they get no gradient and
        the optimizer leaves them alone."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        check_argument("trainable", value, isinstance(value, bool), "True or False")
        for module in self.modules():
            if isinstance(module, Layer):
                module._trainable = value
        for param in self.parameters():
            param.requires_grad_(value)

    def _variables(self, tensors: list[tuple[str, torch.Tensor]]) -> list[Variable]:
        owner = self.name or type(self).__name__
        return [
            Variable(t, name.rsplit(".", 1)[-1], f"{owner}/{name.replace('.', '/')}")
            for name, t in tensors
        ]

    @property
    def type_name(self) -> str:
        """The type shown by ``summary()`` and ``plot_model``: the class's name."""
        return type(self).__name__

    @property
    def trainable_weights(self) -> list[Variable]:
        """The weights that training changes, as :class:`~deepdescent.variables.Variable`."""
        return self._variables([(n, p) for n, p in self.named_parameters() if p.requires_grad])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """Frozen weights and floating state (a normalization's running statistics)."""
        frozen = [(n, p) for n, p in self.named_parameters() if not p.requires_grad]
        state = [(n, b) for n, b in self.named_buffers() if b.is_floating_point()]
        return self._variables(frozen + state)

    @property
    def weights(self) -> list[Variable]:
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """Every weight (parameters and buffers) as NumPy arrays, in layer order."""
        return [t.detach().cpu().numpy().copy() for t in self.state_dict().values()]

    def set_weights(self, weights: Any) -> None:
        """Set every weight from arrays shaped as :meth:`get_weights` returns them: all of
        them are checked before any is written, so a bad array changes nothing."""
        targets = self.state_dict()
        if len(weights) != len(targets):
            raise ValueError(f"set_weights expected {len(targets)} arrays, got {len(weights)}")
        sources = []
        for (name, target), value in zip(targets.items(), weights, strict=True):
            source = torch.as_tensor(np.asarray(value))
            if tuple(source.shape) != tuple(target.shape):
                raise ValueError(
                    f"weight {name!r} has shape {tuple(target.shape)}, "
                    f"the array given has shape {tuple(source.shape)}"
                )
            if source.is_complex() and not target.is_complex():
                raise ValueError(
                    f"weight {name!r} is {target.dtype}, the array given is {source.dtype}"
                )
            sources.append(source)
        with torch.no_grad():
            for target, source in zip(targets.values(), sources, strict=True):
                target.copy_(source)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        first = next(iter(self.parameters()), None)
        return first.device if first is not None else torch.device("cpu")

    # -- cost terms ----------------------------------------------------------------------

    def add_loss(self, loss: Any) -> None:
        """Add a term to the cost from inside ``call`` (an activity penalty): ``fit``
        minimizes the compiled loss plus every such term of the forward pass."""
        self._added_losses.append(torch.as_tensor(loss))

    def regularization_losses(self) -> list[torch.Tensor]:
        """This layer's own terms of the cost: its weight penalties (``λ‖W‖²``) and the
        losses its last call added."""
        return [penalty(weight) for weight, penalty in self._penalties] + self._added_losses

    @property
    def losses(self) -> list[torch.Tensor]:
        """The cost terms of this layer and every layer inside it."""
        return [
            term
            for module in self.modules()
            if isinstance(module, Layer)
            for term in module.regularization_losses()
        ]

    # -- description ---------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config_: dict[str, Any] = {"name": self.name}
        if not self._trainable:
            config_["trainable"] = False
        return config_

    @classmethod
    def from_config(cls, config_: dict[str, Any]) -> Layer:
        return cls(**config_)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def _device_of(value: Any) -> torch.device | None:
    if isinstance(value, torch.Tensor):
        return value.device
    if isinstance(value, (list, tuple)) and value:
        return _device_of(value[0])
    if isinstance(value, dict) and value:
        return _device_of(next(iter(value.values())))
    return None
