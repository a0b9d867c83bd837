"""``Model``: Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict`` around any
``torch.nn.Module``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch

from deepdescent import losses, optimizers, training
from deepdescent import metrics as metrics_lib
from deepdescent.callbacks import History
from deepdescent.layers import Layer, SymbolicTensor
from deepdescent.layers.base import Shape
from deepdescent.layers.symbolic import flatten
from deepdescent.models.functional import Graph, graph_from_config
from deepdescent.utils._checks import snake_case


class Model(Layer):
    """A trainable model with Keras's methods, in Keras's three forms.

    * ``Model(inputs, outputs)``: the functional API, a graph of layer calls from
      ``Input`` tensors to outputs (several of each, as lists or dicts);
    * a subclass that makes its layers in ``__init__`` and computes in
      ``call(inputs, training=None)``;
    * ``Model(module)``: any ``torch.nn.Module``, whose outputs are what the loss sees.

    :class:`~deepdescent.models.Sequential` is the Keras stack of layers. A model is a
    layer too: it can be called on data, on symbolic tensors, or inside another model.

    Example:
        >>> import deepdescent as keras
        >>> inputs = keras.Input(shape=(3,))
        >>> model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
        >>> model.compile(optimizer="sgd", loss="mse")
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        module, inputs, outputs = _model_form(args, kwargs)
        name = kwargs.pop("name", None)
        if name is None:
            name = (
                "functional"
                if inputs is not None
                else "model"
                if type(self) is Model
                else snake_case(type(self).__name__)
            )
        super().__init__(name=name, **kwargs)
        self.module = module
        self.optimizer: torch.optim.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.compiled = False
        self.compiled_metrics: list[metrics_lib.Metric] = []
        self._metric_identifiers: list[Any] = []
        self.stop_training = False
        self.history: History | None = None
        #: How fit computes gradients: "auto" (the hand-written back-propagation when the
        #: model and every participant allow it, see deepdescent.training.gradient_path),
        #: "autograd" or "manual".
        self.backprop = "auto"
        self.graph: Graph | None = None
        if inputs is not None:
            self._init_graph(inputs, outputs)

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        graph = Graph(inputs, outputs)
        graph.name_layers(set())
        for layer in graph.layers:
            self.add_module(cast(str, layer.name), layer)
        self.graph = graph
        self.built = True

    # -- structure ---------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self._built or any(True for _ in self.parameters())

    @built.setter
    def built(self, value: bool) -> None:
        self._built = bool(value)

    @property
    def inputs(self) -> list[SymbolicTensor] | None:
        """The functional model's input tensors (``None`` for other forms)."""
        return None if self.graph is None else self.graph.flat_inputs

    @property
    def outputs(self) -> list[SymbolicTensor] | None:
        """The functional model's output tensors (``None`` for other forms)."""
        return None if self.graph is None else self.graph.flat_outputs

    @property
    def layers(self) -> list[torch.nn.Module]:
        """The model's layers: the graph's (input layers first) or the direct children."""
        if self.graph is not None:
            return list(self.graph.layers)
        return list(self.children())

    def get_layer(self, name: str | None = None, index: int | None = None) -> torch.nn.Module:
        """A layer by ``name`` or by position ``index`` in :attr:`layers`."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name and index")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Invalid index: {index} (the model has {len(layers)} layers)")
            return layers[index]
        for layer in layers:
            if getattr(layer, "name", None) == name:
                return layer
        named = dict(self.named_children())
        if name in named:
            return named[name]
        known = [getattr(layer, "name", None) for layer in layers]
        raise ValueError(f"No layer named {name!r}; the model's layers are {known}")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.graph is not None:
            return self.graph.run(args, kwargs)
        if self.module is not None:
            return self.module(*args, **kwargs)
        if type(self).call is not Layer.call:
            return self.call(*args, **kwargs)
        raise RuntimeError(
            "Model has nothing to compute: pass Model(inputs, outputs) or Model(module), "
            "define call() in a subclass, or use Sequential"
        )

    def output_activation(self) -> str | None:
        """Name of the final activation that a loss may fuse with, or ``None``."""
        last = self.graph.output_layer() if self.graph is not None else None
        return getattr(last, "activation_name", None)

    def forward_pre_activation(self, inputs: Any) -> Any:
        """Outputs before the final activation named by :meth:`output_activation`."""
        if self.graph is None or self.output_activation() is None:
            return self.forward(inputs)
        return self.graph.run(
            (inputs,),
            {},
            last_call=lambda layer, args, _: cast(Any, layer).call_pre_activation(*args),
        )

    @property
    def input_shape(self) -> Shape | None:
        """Expected input shape with batch axis ``None``, when known (one input)."""
        if self.graph is not None and len(self.graph.flat_inputs) == 1:
            return self.graph.flat_inputs[0].shape
        return None

    def build(self, input_shape: Shape) -> None:
        """Create any lazily built weights by running the model on zeros of that shape."""
        with torch.no_grad():
            was_training = self.training
            self.eval()
            sample_shape = cast(tuple[int, ...], input_shape[1:])
            self(torch.zeros((1, *sample_shape), device=self.device, dtype=self.dtype))
            self.train(was_training)
        self.built = True

    @property
    def dtype(self) -> torch.dtype:
        first = next((p for p in self.parameters() if p.is_floating_point()), None)
        return first.dtype if first is not None else torch.get_default_dtype()

    def has_regularizers(self) -> bool:
        return any(_layer_penalties(module) for module in self.modules())

    def regularization_loss(self) -> torch.Tensor:
        """Σ of every layer's cost terms (``kernel_regularizer``, ``add_loss``): Ω(θ)."""
        terms = [t for module in self.modules() for t in _layer_penalties(module)]
        return torch.stack([torch.as_tensor(t).sum() for t in terms]).sum()

    # -- compile / fit / evaluate / predict -------------------------------------------------

    def compile(
        self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Sequence[Any] | None = None
    ) -> None:
        """Choose the optimization procedure, the cost and the metrics to report.

        ``optimizer`` is a name (``"sgd"``), a config, or an optimizer — unbound (Keras:
        ``SGD(learning_rate=0.01)``) or already bound to this model's parameters (PyTorch).
        """
        if loss is None:
            raise ValueError("compile needs loss, e.g. loss='categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if metrics is not None and (
            isinstance(metrics, (str, dict)) or not isinstance(metrics, Sequence)
        ):
            raise TypeError("metrics must be a list, e.g. metrics=['accuracy']")
        self._metric_identifiers = list(metrics or [])
        self.compiled_metrics = [
            metrics_lib.get(m, loss=self.loss) for m in self._metric_identifiers
        ]

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *(m.name for m in self.compiled_metrics)]

    def require_compiled(self, method: str) -> tuple[losses.Loss, torch.optim.Optimizer]:
        """The compiled loss and optimizer; a clear error when ``compile`` was not called."""
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(f"You must call compile(optimizer=..., loss=...) before {method}()")
        return self.loss, self.optimizer

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: list | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        validation_batch_size: int | None = None,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` in minibatches; returns the History.

        ``batch_size=None`` means Keras's 32, except for batch methods (an optimizer whose
        ``needs().full_batch``: L-BFGS, Newton ...), which then take the whole training set
        at each step.
        """
        self.require_compiled("fit")
        return training.fit(
            self,
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            initial_epoch=initial_epoch,
            validation_batch_size=validation_batch_size,
        )

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        callbacks: list | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) on ``(x, y)``: a float, ``[loss, *metrics]`` or a dict."""
        self.require_compiled("evaluate")
        logs = training.evaluate(
            self, x, y, batch_size=batch_size, verbose=verbose, callbacks=callbacks
        )
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        callbacks: list | None = None,
    ) -> np.ndarray:
        """The model's outputs on ``x`` as a NumPy array; ``callbacks`` get the predict
        hooks (``on_predict_batch_end`` logs hold the batch's ``"outputs"``)."""
        return training.predict(
            self, x, batch_size=batch_size, verbose=verbose, callbacks=callbacks
        )

    # -- data checks -------------------------------------------------------------------

    def prepare_inputs(self, x: Any, argument: str = "x") -> torch.Tensor:
        """``x`` as a tensor on the model's device, checked against the input shape."""
        if x is None:
            raise ValueError(f"{argument} is required")
        tensor = training.as_tensor(x, argument)
        if len(tensor) == 0:
            raise ValueError(f"{argument} is empty: at least one sample is needed")
        if self.build_input_shape is None:
            self.build_input_shape = (None, *tensor.shape[1:])
        if not self.built:
            self.build((None, *tensor.shape[1:]))
        tensor = tensor.to(device=self.device, dtype=self.dtype)
        expected = self.input_shape
        if expected is not None and tuple(tensor.shape[1:]) != tuple(expected[1:]):
            raise ValueError(
                f"{argument} has shape {tuple(tensor.shape)} but the model expects inputs of "
                f"shape {expected} (per sample {tuple(expected[1:])}); reshape {argument}, "
                f"e.g. {argument}.reshape(len({argument}), -1), or change the input layer"
            )
        return tensor

    def prepare_data(
        self, x: Any, y: Any, names: tuple[str, str] = ("x", "y"), method: str = "fit"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets as device tensors, checked against each other and the loss
        (``method`` names the caller in the error when the model is not compiled)."""
        if y is None:
            raise ValueError(f"{names[1]} is required to compute the loss")
        loss, _ = self.require_compiled(method)
        x_t = self.prepare_inputs(x, names[0])
        # Float targets follow the model's precision (a float64 model gets float64 targets).
        target_dtype = self.dtype if loss.target_dtype.is_floating_point else loss.target_dtype
        y_t = training.as_tensor(y, names[1], target_dtype, self.device)
        if len(x_t) != len(y_t):
            raise ValueError(
                f"{names[0]} and {names[1]} must have the same number of samples, "
                f"got {len(x_t)} and {len(y_t)}"
            )
        output_shape = self._output_shape(x_t)
        loss.validate_targets(tuple(y_t.shape), output_shape)
        # Keras resolves "accuracy" once the shapes are known (binary for one output unit).
        self.compiled_metrics = [
            metrics_lib.get(m, loss=loss, y_true_shape=tuple(y_t.shape), output_shape=output_shape)
            for m in self._metric_identifiers
        ]
        return x_t, y_t

    def _output_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        with torch.no_grad():
            was_training = self.training
            self.eval()
            try:
                out = self(x[:1])
            except RuntimeError as error:
                raise ValueError(
                    f"x of shape {tuple(x.shape)} does not fit the model: {error}"
                ) from error
            finally:
                self.train(was_training)
        return (len(x), *out.shape[1:])

    # -- description -------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> str:
        """Keras's table of layers, output shapes and parameter counts; returns it too."""
        from deepdescent.models.summary import format_summary

        text = format_summary(self)
        if print_fn is None:
            import sys

            sys.stdout.write(text + "\n")
        else:
            print_fn(text)
        return text

    # -- saving --------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name}
        if self.graph is not None:
            config.update(self.graph.get_config())
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        """A functional model from :meth:`get_config` (the layers' classes come from
        ``deepdescent.layers.LAYERS``; nothing else is run)."""
        inputs, outputs = graph_from_config(config)
        return cls(inputs, outputs, name=config.get("name"))

    def compile_config(self) -> dict[str, Any] | None:
        if self.loss is None or self.optimizer is None:
            return None
        return {
            "optimizer": optimizers.serialize(cast(optimizers.Optimizer, self.optimizer))
            if optimizers.is_serializable(self.optimizer)
            else None,
            "loss": losses.serialize(self.loss),
            "metrics": [
                m if isinstance(m, str) else metrics_lib.serialize(m)
                for m in self._metric_identifiers
            ],
        }

    def save(self, filepath: str | os.PathLike[str], include_optimizer: bool = True) -> None:
        """Write the model (config, weights, optimizer state) to one file, atomically."""
        from deepdescent.models.saving import save_model

        save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Write the weights to a ``.safetensors`` file, atomically."""
        from deepdescent.models.saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Load weights written by :meth:`save_weights` (or a model file)."""
        from deepdescent.models.saving import load_weights

        load_weights(self, filepath)


def _layer_penalties(module: torch.nn.Module) -> list[torch.Tensor]:
    penalties = getattr(module, "regularization_losses", None)
    return penalties() if callable(penalties) else []


def _model_form(args: tuple, kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``(module, inputs, outputs)`` from the constructor's arguments (removed from
    ``kwargs``): ``Model(module)``, ``Model(inputs, outputs)``, or neither (a subclass)."""
    module = kwargs.pop("module", None)
    inputs = kwargs.pop("inputs", None)
    outputs = kwargs.pop("outputs", None)
    positional = list(args)
    if positional and isinstance(positional[0], torch.nn.Module):
        module = positional.pop(0)
    elif positional:
        inputs = positional.pop(0)
        if positional:
            outputs = positional.pop(0)
    if positional:
        raise TypeError(f"Model takes at most two positional arguments, got {len(args)}")
    if module is not None and not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if (inputs is None) != (outputs is None):
        raise TypeError("A functional Model needs both inputs and outputs")
    if inputs is not None and not any(isinstance(t, SymbolicTensor) for t in flatten(inputs)):
        raise TypeError(
            "Model(x, ...) takes symbolic tensors from Input(...) (the functional API) or "
            f"a torch.nn.Module; got {type(inputs).__name__}"
        )
    return module, inputs, outputs
