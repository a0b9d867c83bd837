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

Shape = tuple[int | None, ...]


class Model(torch.nn.Module):
    """A trainable model with Keras's methods.

    ``Model(module)`` wraps any ``torch.nn.Module`` (its outputs are what the loss sees);
    :class:`~deepdescent.models.Sequential` is the Keras stack of layers.

    Example:
        >>> import torch, deepdescent
        >>> model = deepdescent.models.Model(torch.nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
    """

    def __init__(self, module: torch.nn.Module | None = None, *, name: str = "model") -> None:
        super().__init__()
        if module is not None and not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        self.module = module
        self.name = name
        self.optimizer: torch.optim.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.compiled_metrics: list[metrics_lib.Metric] = []
        self._metric_identifiers: list[Any] = []
        self.stop_training = False
        self.history: History | None = None
        #: How fit computes gradients: "auto" (the hand-written back-propagation when the
        #: model and every participant allow it, see deepdescent.training.gradient_path),
        #: "autograd" or "manual".
        self.backprop = "auto"
        #: The trainer of the current (or last) ``fit``: its ``evaluations`` count the
        #: loss-and-gradient evaluations of the run.
        self.trainer: training.Trainer | None = None

    # -- structure ---------------------------------------------------------------------

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.module is None:
            raise RuntimeError("Model has no module: pass one, Model(module), or use Sequential")
        return self.module(inputs)

    def output_activation(self) -> str | None:
        """Name of the final activation that a loss may fuse with, or ``None``."""
        return None

    def forward_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """Outputs before the final activation named by :meth:`output_activation`."""
        return self.forward(inputs)

    @property
    def input_shape(self) -> Shape | None:
        """Expected input shape with batch axis ``None``, when known."""
        return None

    def build(self, input_shape: Shape) -> None:
        """Create any lazily built weights by running the model on zeros of that shape."""
        with torch.no_grad():
            was_training = self.training
            self.eval()
            sample_shape = cast(tuple[int, ...], input_shape[1:])
            self(torch.zeros((1, *sample_shape), device=self.device, dtype=self.dtype))
            self.train(was_training)

    @property
    def built(self) -> bool:
        return any(True for _ in self.parameters())

    @property
    def device(self) -> torch.device:
        first = next(iter(self.parameters()), None)
        return first.device if first is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        first = next((p for p in self.parameters() if p.is_floating_point()), None)
        return first.dtype if first is not None else torch.get_default_dtype()

    def has_regularizers(self) -> bool:
        return any(_layer_penalties(module) for module in self.modules())

    def regularization_loss(self) -> torch.Tensor:
        """Σ of every layer's penalty (``kernel_regularizer`` ...): the cost's Ω(θ) term."""
        terms = [t for module in self.modules() for t in _layer_penalties(module)]
        return torch.stack(terms).sum()

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
        shuffle: bool | training.ExampleOrder = True,
        initial_epoch: int = 0,
        validation_batch_size: int | None = None,
        nonfinite: Any = "raise",
        distributed: bool | None = None,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` in minibatches; returns the History.

        ``batch_size=None`` means Keras's 32, except for batch methods (an optimizer whose
        ``needs().full_batch``: L-BFGS, Newton ...), which then take the whole training set
        at each step. ``validation_data`` overrides ``validation_split`` (with a warning),
        as in Keras; ``callbacks`` is a list.

        Numerical faults (:mod:`deepdescent.training.numerics`): NaN or ±inf in the data
        is refused before step one; a step whose loss or gradient is not finite is never
        applied but skipped and counted (``skipped_steps`` in the logs); after 5 such
        steps in a row the last good weights and optimizer state are restored, training
        stops, and ``fit`` raises :class:`~deepdescent.training.numerics.NonFiniteError`
        (``nonfinite="raise"``) or warns (``nonfinite="warn"``); a
        :class:`~deepdescent.training.numerics.NonFinitePolicy` sets the patience.

        Launched by ``torchrun`` (or with ``distributed=True``), ``fit`` trains
        data-parallel with DistributedDataParallel, ``batch_size`` being the global batch
        split across the processes (:mod:`deepdescent.training.distributed`);
        ``distributed=False`` keeps to one process.

        ``shuffle``: ``True`` draws a permutation of the training set per epoch, ``False``
        keeps its order, and an :class:`~deepdescent.training.ExampleOrder` — a curriculum
        of :mod:`deepdescent.strategies` — chooses each epoch's examples (after
        ``validation_split`` has taken its share, so its scores cover the rest).

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
            nonfinite=nonfinite,
            distributed=distributed,
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

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto") -> np.ndarray:
        """The model's outputs on ``x`` as a NumPy array."""
        training.verbose_level(verbose)
        return training.predict(self, x, batch_size=batch_size)

    # -- data checks -------------------------------------------------------------------

    def prepare_inputs(self, x: Any, argument: str = "x") -> torch.Tensor:
        """``x`` as a tensor on the model's device, checked against the input shape."""
        if x is None:
            raise ValueError(f"{argument} is required")
        tensor = training.as_tensor(x, argument)
        if len(tensor) == 0:
            raise ValueError(f"{argument} is empty: at least one sample is needed")
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
        — shapes, finite values, labels in range — (``method`` names the caller in the
        error when the model is not compiled)."""
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
        # NaN or inf would turn the loss, then every weight, NaN: refused before any step.
        training.check_finite(x_t, names[0])
        training.check_finite(y_t, names[1])
        loss.validate_target_values(y_t, output_shape, names[1])
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

    # -- weights -----------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Every weight (parameters and buffers) as NumPy arrays, in layer order."""
        return [t.detach().cpu().numpy().copy() for t in self.state_dict().values()]

    def set_weights(self, weights: Sequence[Any]) -> None:
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
        return {"name": self.name}

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


def _auxiliary_term(module: torch.nn.Module, y_true: torch.Tensor) -> torch.Tensor | None:
    term = getattr(module, "auxiliary_loss", None)
    return term(y_true) if callable(term) else None
