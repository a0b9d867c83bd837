"""``TensorBoard``: training curves and weight histograms as TensorBoard event files.

Written with ``torch.utils.tensorboard`` (which needs the ``tensorboard`` package:
``pip install deepdescent[tensorboard]``), under Keras's layout and tag names:
``log_dir/train`` holds ``epoch_loss``, ``epoch_<metric>``, ``epoch_learning_rate`` (and
``batch_<name>`` with ``update_freq``), ``log_dir/validation`` holds the validation
metrics as ``epoch_<name>`` and ``evaluation_<name>_vs_iterations``. With
``histogram_freq=n`` every n epochs the weights (``<layer>/<weight>/histogram``) and the
gradients of the epoch's last minibatch (``<layer>/<weight>/gradient``) are histograms.
The diagnostics monitors given as ``diagnostics`` (anything with ``measured`` and
``draw(path)``: :mod:`deepdescent.diagnostics.monitors`) have their figures written as
images ``diagnostics/<Monitor>`` in ``log_dir/train`` once per epoch, wherever they are in
the callbacks; their numbers are in the epoch's logs, hence scalars here, when they come
before this callback in the list (callbacks see the logs in order, as in Keras).
Run ``tensorboard --logdir LOG_DIR`` to see them.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs
from deepdescent.utils._checks import check_argument, check_count, is_integer

__all__ = ["TensorBoard"]


def _check_diagnostics(diagnostics: Sequence[Any]) -> list[Any]:
    """``diagnostics`` as a list of objects that can draw their figure."""
    if isinstance(diagnostics, (str, bytes)) or not isinstance(diagnostics, Sequence):
        raise TypeError(
            f"diagnostics must be a list of diagnostics monitors, got {type(diagnostics).__name__}"
        )
    for monitor in diagnostics:
        if not (hasattr(monitor, "measured") and callable(getattr(monitor, "draw", None))):
            raise TypeError(
                "diagnostics must be a list of diagnostics monitors (with measured and "
                f"draw(path)), got a {type(monitor).__name__}"
            )
    return list(diagnostics)


def _summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "The TensorBoard callback needs the tensorboard package: "
            "pip install tensorboard (or pip install deepdescent[tensorboard])"
        ) from error
    return SummaryWriter(log_dir=str(log_dir))


class TensorBoard(Callback):
    """Write the run's logs for TensorBoard, as Keras's callback does.

    Args:
        log_dir: the folder of the event files (``train`` and ``validation`` inside).
        histogram_freq: every how many epochs to write weight and gradient histograms
            (0: never).
        write_graph: Keras's flag; the model's graph is not written (torch would need to
            trace it on an example input).
        write_steps_per_second: also write ``epoch_steps_per_second``.
        update_freq: ``"epoch"``, ``"batch"``, or an int n: the training logs every n
            batches as ``batch_<name>``, besides the epoch's.
        diagnostics: monitors of :mod:`deepdescent.diagnostics.monitors` (also passed to
            ``fit`` as callbacks, in any order) whose figures are written every epoch.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
        diagnostics: Sequence[Any] = (),
    ) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.histogram_freq = check_count("histogram_freq", histogram_freq, minimum=0)
        for name, value in (
            ("write_images", write_images),
            ("profile_batch", profile_batch),
            ("embeddings_freq", embeddings_freq),
            ("embeddings_metadata", embeddings_metadata),
        ):
            check_argument(name, value, not value, "False, 0 or None: not written here")
        ok = update_freq in ("epoch", "batch") or (is_integer(update_freq) and int(update_freq) > 0)
        check_argument("update_freq", update_freq, ok, "'epoch', 'batch' or an int > 0")
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.write_graph = bool(write_graph)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.diagnostics = _check_diagnostics(diagnostics)
        self._writers: dict[str, Any] = {}
        self._figure_epoch: int | None = None
        self._batches = 0
        self._epoch_batches = 0
        self._epoch_started = 0.0

    def _writer(self, part: str) -> Any:
        if part not in self._writers:
            self._writers[part] = _summary_writer(self.log_dir / part)
        return self._writers[part]

    def _scalars(self, part: str, prefix: str, logs: Mapping[str, float], step: int) -> None:
        writer = self._writer(part)
        for name, value in logs.items():
            writer.add_scalar(f"{prefix}{name}", float(value), step)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._batches = 0
        self._figure_epoch = None
        self._writer("train")

    def state_dict(self) -> dict[str, Any]:
        """The batch counters: a run resumed from a backup writes its batch scalars at
        the steps the uninterrupted run would have."""
        return {"batches": self._batches, "epoch_batches": self._epoch_batches}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._batches = int(state["batches"])
        self._epoch_batches = int(state["epoch_batches"])

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._figures()
        self._epoch_started = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._batches += 1
        self._epoch_batches = batch + 1
        if isinstance(self.update_freq, int) and self._batches % self.update_freq == 0:
            self._scalars("train", "batch_", dict(logs or {}), self._batches)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        rate = _learning_rate(getattr(self.model, "optimizer", None))
        if rate is not None:  # not in fit's logs (as Keras 3): this callback reads it
            train["learning_rate"] = rate
        if self.write_steps_per_second:
            elapsed = max(time.perf_counter() - self._epoch_started, 1e-12)
            train["steps_per_second"] = self._epoch_batches / elapsed
        self._scalars("train", "epoch_", train, epoch)
        validation = {k.removeprefix("val_"): v for k, v in logs.items() if k.startswith("val_")}
        if validation:
            self._scalars("validation", "epoch_", validation, epoch)
            iterations = int(getattr(getattr(self.model, "optimizer", None), "iterations", epoch))
            for name, value in validation.items():
                self._writer("validation").add_scalar(
                    f"evaluation_{name}_vs_iterations", float(value), iterations
                )
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._histograms(epoch)
        self._figure_epoch = epoch
        for writer in self._writers.values():
            writer.flush()

    def _histograms(self, epoch: int) -> None:
        writer = self._writer("train")
        for name, param in self.model.named_parameters():
            tag = name.replace(".", "/")
            writer.add_histogram(f"{tag}/histogram", param.detach().cpu(), epoch)
            if param.grad is not None:
                writer.add_histogram(f"{tag}/gradient", param.grad.detach().cpu(), epoch)

    def _figures(self) -> None:
        """The monitors' figures for the epoch that ended, written once every callback has
        seen its end (drawn at the next epoch's begin or the run's end, so the order of
        the callbacks does not matter)."""
        epoch, self._figure_epoch = self._figure_epoch, None
        if epoch is None or not self.diagnostics:
            return
        from PIL import Image

        with tempfile.TemporaryDirectory() as folder:
            for monitor in self.diagnostics:
                if not monitor.measured:
                    continue
                path = Path(folder) / f"{type(monitor).__name__}.png"
                monitor.draw(path)
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                self._writer("train").add_image(
                    f"diagnostics/{type(monitor).__name__}", pixels, epoch, dataformats="HWC"
                )

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._figures()
        idle = [type(m).__name__ for m in self.diagnostics if not m.measured]
        if idle:
            warnings.warn(
                f"TensorBoard: {', '.join(idle)} measured nothing during fit, so no figure "
                "was written; pass the monitors to fit's callbacks too",
                RuntimeWarning,
                stacklevel=2,
            )
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _learning_rate(optimizer: Any) -> float | None:
    """The optimizer's current rate (its first group's, for a torch optimizer); ``None``
    without an optimizer."""
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None and getattr(optimizer, "param_groups", None):
        rate = optimizer.param_groups[0].get("lr")
    return None if rate is None else float(rate)
