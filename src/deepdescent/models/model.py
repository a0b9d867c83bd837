"""``Model``: Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict`` around any
``torch.nn.Module``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch

from deepdescent import config, losses, optimizers, training
from deepdescent import metrics as metrics_lib
from deepdescent.callbacks import History
from deepdescent.layers import Layer, SymbolicTensor
from deepdescent.layers.base import Shape, call_parameters
from deepdescent.layers.symbolic import flatten
from deepdescent.models.functional import Graph, graph_from_config
from deepdescent.training import steps
from deepdescent.training.inputs import DataOptions
from deepdescent.training.outputs import OutputLosses, OutputMetric, output_metrics
from deepdescent.utils._checks import snake_case, unique_name


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
        self.loss_tracker = metrics_lib.Mean(name="loss")
        self.compiled_metrics: list[metrics_lib.Metric] = []
        self._metric_identifiers: list[Any] = []
        self._compile_arguments: dict[str, Any] = {}
        self.stop_training = False
        self.history: History | None = None
        #: How fit computes gradients: "auto" (the hand-written back-propagation when the
        #: model and every participant allow it, see deepdescent.training.gradient_path),
        #: "autograd" or "manual".
        self.backprop = "auto"
        self.graph: Graph | None = None
        if self.dtype_policy is None:
            # Keras's global policy at the model's making (mixed precision in fit).
            self.dtype_policy = config.dtype_policy()
        #: The trainer of the current (or last) ``fit``: its ``evaluations`` count the
        #: loss-and-gradient evaluations of the run.
        self.trainer: training.Trainer | None = None
        if inputs is not None:
            self._init_graph(inputs, outputs)

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        graph = Graph(inputs, outputs)
        graph.name_layers(set())
        for layer in graph.layers:
            self.add_module(self._module_key(cast(str, layer.name)), layer)
        self.graph = graph
        self.built = True

    def _module_key(self, name: str) -> str:
        """The attribute a layer is kept under: its name, unless the model already has an
        attribute of that name (a layer named ``"inputs"``, ``"loss"`` ...)."""
        taken = hasattr(type(self), name) or name in self.__dict__
        return f"{name}_layer" if taken else name

    # -- structure ---------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # A layer a subclass keeps (``self.dense1 = layers.Dense(...)``) gets Keras's
        # default name, unique in the model, in the order the layers are kept: dense,
        # dense_1 ... (``get_layer`` finds it by its attribute's name too).
        if isinstance(value, Layer) and value.name is None and "_modules" in self.__dict__:
            taken = {getattr(child, "name", None) or key for key, child in self.named_children()}
            value.name = unique_name(snake_case(type(value).__name__), taken)
        super().__setattr__(name, value)

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
            if self.build_input_shape is None and args and isinstance(args[0], torch.Tensor):
                # The first call builds, as Keras's: summary() then shows each output.
                self.build_input_shape = (None, *args[0].shape[1:])
            # Called directly (the trainer's objective), call() still learns the mode.
            if "training" in call_parameters(type(self)) and "training" not in kwargs:
                kwargs["training"] = self.training
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
        if not terms:
            raise ValueError(
                "There is no loss to compute: pass loss= to compile, add terms with "
                "add_loss, or override train_step"
            )
        return torch.stack([torch.as_tensor(t).sum() for t in terms]).sum()

    def has_auxiliary_heads(self) -> bool:
        """Whether a layer adds a loss of its own on the targets: a layer with an
        ``auxiliary_loss(y)`` method (an ``AuxiliaryHead``)."""
        return any(callable(getattr(m, "auxiliary_loss", None)) for m in self.modules())

    def auxiliary_cost(self, y_true: torch.Tensor) -> torch.Tensor | None:
        """Σₖ wₖ Lₖ(y, gₖ(h⁽ˡᵏ⁾)): the auxiliary heads' terms of the last forward pass in
        training mode, or ``None`` when there are none (inference)."""
        terms = [
            term
            for module in self.modules()
            if (term := _auxiliary_term(module, y_true)) is not None
        ]
        return torch.stack(terms).sum() if terms else None

    # -- compile / fit / evaluate / predict -------------------------------------------------

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
    ) -> None:
        """Choose the optimization procedure, the cost and the metrics to report.

        ``optimizer`` is a name (``"sgd"``), a config, or an optimizer — unbound (Keras:
        ``SGD(learning_rate=0.01)``) or already bound to this model's parameters (PyTorch).
        ``loss`` may be left out when the cost comes from ``add_loss`` or a custom
        ``train_step``. A model of several outputs takes ``loss``, ``loss_weights`` and
        ``metrics`` per output, as lists in output order or dicts by output name.
        """
        self.optimizer = optimizers.get(optimizer)
        names = self.output_names
        if names is not None and len(names) > 1 and loss is not None:
            self.loss = OutputLosses.from_compile(names, loss, loss_weights)
            self.compiled_metrics = output_metrics(names, metrics, self.loss)
            self._metric_identifiers = []
        else:
            if isinstance(loss, (list, tuple, dict)):
                raise TypeError(
                    "loss is a list or dict but the model has one output; pass one loss"
                )
            single = None if loss is None else losses.get(loss)
            if single is not None and loss_weights is not None:
                single = _ScaledLoss(single, loss_weights)
            self.loss = single
            if metrics is not None and (
                isinstance(metrics, (str, dict)) or not isinstance(metrics, Sequence)
            ):
                raise TypeError("metrics must be a list, e.g. metrics=['accuracy']")
            self._metric_identifiers = list(metrics or [])
            self.compiled_metrics = [
                metrics_lib.get(m, loss=self.loss) for m in self._metric_identifiers
            ]
        self._compile_arguments = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics}
        self.loss_tracker.reset_state()
        self.compiled = True

    @property
    def output_names(self) -> list[str] | None:
        """The functional model's output names (the layers that make them, or the keys of
        a dict of outputs); ``None`` for other forms."""
        if self.graph is None:
            return None
        outputs = self.graph.outputs
        if isinstance(outputs, dict):
            return list(outputs)
        return [
            t.node.layer.name if t.node is not None else f"output_{i}"
            for i, t in enumerate(self.graph.flat_outputs)
        ]

    @property
    def metrics(self) -> list[metrics_lib.Metric]:
        """What the training step reports: the loss tracker (``"loss"``), then the compiled
        metrics. A subclass with its own training step lists its metrics here, and ``fit``
        resets them at the start of every epoch."""
        return [self.loss_tracker, *self.compiled_metrics]

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def require_compiled(self, method: str) -> tuple[losses.Loss | None, torch.optim.Optimizer]:
        """The compiled loss (``None`` when the cost is left to ``add_loss`` or a custom
        step) and optimizer; a clear error when ``compile`` was not called."""
        if not self.compiled or self.optimizer is None:
            raise RuntimeError(f"You must call compile(optimizer=..., loss=...) before {method}()")
        return self.loss, self.optimizer

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> torch.Tensor:
        """The cost of a batch: the compiled loss of ``(y, y_pred)`` plus every term the
        layers added (``add_loss``, weight penalties), as Keras's ``compute_loss``."""
        return steps.compute_loss(self, y, y_pred, sample_weight)

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, Any]:
        """Update the compiled metrics with the batch; return every metric's result."""
        return steps.compute_metrics(self, y, y_pred, sample_weight)

    @steps.default_step
    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on ``data`` (``(x, y)``, ``(x, y, sample_weight)`` or ``(x,)``)
        returning the logs, as Keras's default: override it to change what ``fit`` does
        per batch (``fit`` then calls it; otherwise it runs its own, faster step)."""
        return steps.default_train_step(self, data)

    @steps.default_step
    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step on ``data`` returning the logs (override to change
        ``evaluate``)."""
        return steps.default_test_step(self, data)

    @steps.default_step
    def predict_step(self, data: Any) -> Any:
        """The outputs on one batch (override to change ``predict``)."""
        return steps.default_predict_step(self, data)

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
        shuffle: bool | training.ExampleOrder = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        nonfinite: Any = "raise",
        distributed: bool | None = None,
    ) -> History:
        """Train for ``epochs`` passes over the data in minibatches; returns the History.

        ``x`` may be arrays (``y`` the targets; lists or dicts for several inputs or
        outputs), a ``torch.utils.data.DataLoader`` or ``Dataset``, a ``PyDataset``, or a
        generator or other iterable of batches ``x``, ``(x, y)`` or ``(x, y,
        sample_weight)``. ``batch_size=None`` means Keras's 32, except for batch methods
        (an optimizer whose ``needs().full_batch``: L-BFGS, Newton ...), which then take
        the whole training set at each step. ``sample_weight`` weighs each sample's loss
        and ``class_weight`` each class's; ``steps_per_epoch`` and ``validation_steps``
        cut the passes short.
        ``validation_data`` overrides ``validation_split`` (with a warning), as in Keras;
        ``callbacks`` is a list.

        Numerical faults (:mod:`deepdescent.training.numerics`): NaN or ±inf in arrays of
        data is refused before step one; a step whose loss or gradient is not finite is
        never applied but skipped and counted (``skipped_steps`` in the logs); after 5
        such steps in a row the last good weights and optimizer state are restored,
        training stops, and ``fit`` raises
        :class:`~deepdescent.training.numerics.NonFiniteError` (``nonfinite="raise"``) or
        warns (``nonfinite="warn"``); a
        :class:`~deepdescent.training.numerics.NonFinitePolicy` sets the patience. A
        model's own ``train_step`` applies its steps itself: the guard watches the loss
        it returns, and stops and restores the same way.

        Launched by ``torchrun`` (or with ``distributed=True``), ``fit`` trains
        data-parallel with DistributedDataParallel, ``batch_size`` being the global batch
        split across the processes (:mod:`deepdescent.training.distributed`), on arrays,
        unweighted, with the default steps and a plain precision (anything else is
        refused before step one); ``distributed=False`` keeps to one process.
        ``BackupAndRestore`` resumes bit for bit from arrays (a dataset, a generator or
        ``steps_per_epoch`` is refused with it, before step one).

        ``shuffle``: ``True`` draws a permutation of the training set per epoch, ``False``
        keeps its order, and an :class:`~deepdescent.training.ExampleOrder` — a curriculum
        of :mod:`deepdescent.strategies` — chooses each epoch's examples (after
        ``validation_split`` has taken its share, so its scores cover the rest); it needs
        arrays.

        ``verbose=2`` also says which gradient path the trainer took and, once, the
        seconds the first step spent compiling the optimizer's fused body (where one was
        compiled: :mod:`deepdescent.optimizers.compiled`).
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
            data=DataOptions(
                sample_weight=sample_weight,
                class_weight=class_weight,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                validation_freq=validation_freq,
            ),
            nonfinite=nonfinite,
            distributed=distributed,
        )

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) on the data (as ``fit`` takes it): a float, ``[loss,
        *metrics]`` or a dict."""
        self.require_compiled("evaluate")
        logs = training.evaluate(
            self,
            x,
            y,
            batch_size=batch_size,
            verbose=verbose,
            callbacks=callbacks,
            data=DataOptions(sample_weight=sample_weight, steps_per_epoch=steps),
        )
        return logs if return_dict else _in_order(self, logs)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: list | None = None,
    ) -> Any:
        """The model's outputs on ``x`` (as ``fit`` takes it) as NumPy arrays;
        ``callbacks`` get the predict hooks (``on_predict_batch_end`` logs hold the batch's
        ``"outputs"``)."""
        return training.predict(
            self, x, batch_size=batch_size, verbose=verbose, callbacks=callbacks, steps=steps
        )

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict[int, float] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on one batch; the running loss and metrics (they accumulate
        over calls, as Keras's do, until ``fit`` or :meth:`reset_metrics`)."""
        logs = training.train_on_batch(self, x, y, sample_weight, class_weight)
        return logs if return_dict else _in_order(self, logs)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss and metrics on one batch, without training."""
        logs = training.test_on_batch(self, x, y, sample_weight)
        return logs if return_dict else _in_order(self, logs)

    def predict_on_batch(self, x: Any) -> Any:
        """The model's outputs on one batch as NumPy arrays."""
        return training.predict_on_batch(self, x)

    def reset_metrics(self) -> None:
        """Clear the running values of :attr:`metrics`."""
        for metric in self.metrics:
            metric.reset_state()

    # -- data checks -------------------------------------------------------------------

    def prepare_inputs(self, x: Any, argument: str = "x") -> Any:
        """``x`` as tensors on the model's device (a list or dict of them for several
        inputs), checked against the input shape; builds a model that is not built yet."""
        if x is None:
            raise ValueError(f"{argument} is required")
        if isinstance(x, (list, tuple, dict)):
            return training.convert_structure(x, argument, self.device, self.dtype)
        tensor = training.as_tensor(x, argument)
        if len(tensor) == 0:
            raise ValueError(f"{argument} is empty: at least one sample is needed")
        if self.build_input_shape is None:
            self.build_input_shape = (None, *tensor.shape[1:])
        if not self.built:
            self.build((None, *tensor.shape[1:]))
        tensor = tensor.to(device=self.device, dtype=self.dtype)
        expected = self.input_shape
        if (
            expected is not None
            and any(
                e is not None and e != g
                for e, g in zip(expected[1:], tensor.shape[1:], strict=False)
            )
        ) or (expected is not None and len(expected) != tensor.ndim):
            raise ValueError(
                f"{argument} has shape {tuple(tensor.shape)} but the model expects inputs of "
                f"shape {expected} (per sample {tuple(expected[1:])}); reshape {argument}, "
                f"e.g. {argument}.reshape(len({argument}), -1), or change the input layer"
            )
        return tensor

    def prepare_targets(self, y: Any, argument: str = "y") -> Any:
        """``y`` as tensors on the model's device: class labels as the loss wants them,
        float targets in the model's precision."""
        if isinstance(y, (list, tuple, dict)):
            return training.convert_structure(y, argument, self.device, self.dtype, keep_ints=True)
        wanted = getattr(self.loss, "target_dtype", torch.get_default_dtype())
        # Float targets follow the model's precision (a float64 model gets float64 targets).
        target_dtype = self.dtype if wanted.is_floating_point else wanted
        return training.as_tensor(y, argument, target_dtype, self.device)

    def prepare_data(
        self, x: Any, y: Any, names: tuple[str, str] = ("x", "y"), method: str = "fit"
    ) -> tuple[Any, Any]:
        """Inputs and targets as device tensors, checked against each other and the loss
        — shapes, finite values, labels in range — (``method`` names the caller in the
        error when the model is not compiled)."""
        loss, _ = self.require_compiled(method)
        if y is None:
            if loss is not None:
                raise ValueError(f"{names[1]} is required to compute the loss")
            return self.prepare_inputs(x, names[0]), None
        x_t = self.prepare_inputs(x, names[0])
        y_t = self.prepare_targets(y, names[1])
        count_x, count_y = training.structure_length(x_t), training.structure_length(y_t)
        if count_x != count_y:
            raise ValueError(
                f"{names[0]} and {names[1]} must have the same number of samples, "
                f"got {count_x} and {count_y}"
            )
        # NaN or inf would turn the loss, then every weight, NaN: refused before any step.
        for name, value in ((names[0], x_t), (names[1], y_t)):
            for suffix, leaf in _leaves(value):
                training.check_finite(leaf, name + suffix)
        self.check_targets(x_t, y_t, names[1])
        return x_t, y_t

    def check_targets(self, x: Any, y: Any, argument: str = "y") -> None:
        """Check targets (named ``argument`` in errors) against the outputs' shapes and
        the loss — shapes, labels in range — and resolve Keras's ``"accuracy"`` from them
        (binary for one output unit ...), from one sample."""
        custom = steps.overrides(self, "train_step") or steps.overrides(self, "test_step")
        if not isinstance(y, torch.Tensor) or custom:
            return
        output_shape = self._output_shape(x, len(y))
        if self.loss is not None:
            self.loss.validate_targets(tuple(y.shape), output_shape)
            self.loss.validate_target_values(y, output_shape, argument)
        self.compiled_metrics = [
            metrics_lib.get(
                m, loss=self.loss, y_true_shape=tuple(y.shape), output_shape=output_shape
            )
            for m in self._metric_identifiers
        ]

    def _output_shape(self, x: Any, count: int) -> tuple[int, ...]:
        with torch.no_grad():
            was_training = self.training
            self.eval()
            try:
                out = self(training.take(x, slice(None, 1)))
            except RuntimeError as error:
                shape = tuple(x.shape) if isinstance(x, torch.Tensor) else "(several inputs)"
                raise ValueError(f"x of shape {shape} does not fit the model: {error}") from error
            finally:
                self.train(was_training)
        if not isinstance(out, torch.Tensor):
            return (count,)
        return (count, *out.shape[1:])

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
        """``compile``'s arguments as JSON (``None`` before ``compile``)."""
        if not self.compiled or self.optimizer is None:
            return None
        arguments = self._compile_arguments
        return {
            "optimizer": optimizers.serialize(cast(optimizers.Optimizer, self.optimizer))
            if optimizers.is_serializable(self.optimizer)
            else None,
            "loss": _encode_compiled(arguments.get("loss"), losses.serialize),
            "loss_weights": arguments.get("loss_weights"),
            "metrics": _encode_compiled(arguments.get("metrics"), metrics_lib.serialize),
        }

    def save(self, filepath: str | os.PathLike[str], include_optimizer: bool = True) -> None:
        """Write the model (config, weights, optimizer state) to one file, atomically; a
        path ending in ``.keras`` gives a Keras 3 file (architecture and weights)."""
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
    if inputs is not None and not any(isinstance(t, SymbolicTensor) for t in flatten(inputs)):
        raise TypeError(
            "Model(x, ...) takes symbolic tensors from Input(...) (the functional API) or "
            f"a torch.nn.Module; got {type(inputs).__name__}"
        )
    if (inputs is None) != (outputs is None):
        raise TypeError("A functional Model needs both inputs and outputs")
    return module, inputs, outputs


def _in_order(model: Model, logs: dict[str, Any]) -> Any:
    """Keras's list form of logs (which come sorted by name): the loss, each output's
    loss and a one-output model's metrics in the order of ``metrics``, then the rest (a
    several-output model's ``<output>_<metric>``, a custom step's) by name; the one
    value alone."""
    names = [
        metric.name
        for metric in model.metrics
        if metric.name in logs and not isinstance(metric, OutputMetric)
    ]
    names += [name for name in logs if name not in names]
    values = [logs[name] for name in names]
    return values[0] if len(values) == 1 else values


class _ScaledLoss(losses.Loss):
    """A loss times ``loss_weights`` (one output)."""

    def __init__(self, loss: losses.Loss, weight: Any) -> None:
        super().__init__(name=loss.name)
        if isinstance(weight, (list, tuple)) and len(weight) == 1:
            weight = weight[0]
        if isinstance(weight, dict) and len(weight) == 1:
            weight = next(iter(weight.values()))
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise ValueError(f"Invalid loss_weights: {weight!r} (expected a number)")
        self.inner, self.weight = loss, float(weight)
        # The wrapped loss's target dtype (a class attribute of each loss class).
        self.__dict__["target_dtype"] = loss.target_dtype

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        return self.weight * self.inner(y_true, y_pred, sample_weight)

    def validate_targets(self, y_true_shape: Any, output_shape: Any) -> None:
        self.inner.validate_targets(y_true_shape, output_shape)


def _encode_compiled(value: Any, serialize: Callable[[Any], dict[str, Any]]) -> Any:
    """A ``compile`` argument (names, objects, lists and dicts of them) as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode_compiled(v, serialize) for v in value]
    if isinstance(value, dict):
        return {"outputs": {k: _encode_compiled(v, serialize) for k, v in value.items()}}
    return serialize(value)


def decode_compiled(value: Any, deserialize: Callable[[dict[str, Any]], Any]) -> Any:
    """The inverse of :func:`_encode_compiled`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [decode_compiled(v, deserialize) for v in value]
    if "outputs" in value and "class_name" not in value:
        return {k: decode_compiled(v, deserialize) for k, v in value["outputs"].items()}
    return deserialize(value)


def _auxiliary_term(module: torch.nn.Module, y_true: torch.Tensor) -> torch.Tensor | None:
    term = getattr(module, "auxiliary_loss", None)
    return term(y_true) if callable(term) else None


def _leaves(value: Any) -> list[tuple[str, torch.Tensor]]:
    """The tensors of a tensor or of a list, tuple or dict of them, each with the index
    that names it (``""`` for a lone tensor, ``"[0]"``, ``"['a']"`` ...)."""
    if isinstance(value, torch.Tensor):
        return [("", value)]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return [(f"[{key!r}]" + suffix, leaf) for key, v in items for suffix, leaf in _leaves(v)]
