"""CliffMonitor: gradient-norm spikes, clipped steps and update-to-weight ratios in ``fit``."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

import numpy as np
import torch

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs
from deepdescent.diagnostics._objective import trainable
from deepdescent.diagnostics.cliffs import gradient_spikes
from deepdescent.diagnostics.noise import layer_name
from deepdescent.utils._checks import check_count, check_positive

__all__ = ["CliffMonitor"]

# A clipped gradient has exactly the threshold's size; rounding may leave it a hair below.
_AT_THRESHOLD = 1 - 1e-5


class CliffMonitor(Callback):
    """Cliffs and exploding gradients (Goodfellow et al. §8.2.4) from the gradients of the
    training steps themselves (read from ``.grad`` after each step; no extra pass).

    Every step's gradient norm ‖g_t‖ is kept on the device and read once per epoch (no
    host synchronisation per step); every ``update_interval`` steps the update-to-weight
    ratio ‖Δθ_l‖/‖θ_l‖ of each layer is measured. At each epoch's end the logs get
    ``gradient_norm_mean``, ``gradient_norm_max``, ``gradient_spikes`` (the epoch's steps
    with ‖g_t‖ above ``spike_factor`` × the median of the previous ``window``),
    ``update_ratio/<layer>`` (the epoch's mean) and, when a clipping threshold is known,
    ``clipped_fraction``.

    Clipping: when the optimizer clips (Keras's ``global_clipnorm``, ``clipnorm``,
    ``clipvalue``), the gradients it leaves are the clipped ones, so a step counts as
    clipped when its gradient reached the threshold and the recorded norms are the
    clipped norms (spikes show as clipped steps). Without clipping in the optimizer,
    ``clip_threshold`` asks what fraction of steps *would* be clipped at that norm.

    Attributes:
        gradient_norms: every step's ‖g_t‖ (a NumPy array, filled at epochs' ends).
        clipped: whether each step was clipped (when a threshold is known).
        spikes: the steps (counted from 0 over the run) flagged as spikes.
        update_steps, update_ratios: the steps with a ratio measurement and the ratios
            (layer → list).
    """

    def __init__(
        self,
        spike_factor: float = 5.0,
        window: int = 20,
        update_interval: int = 50,
        clip_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.spike_factor = check_positive("spike_factor", spike_factor)
        self.window = check_count("window", window)
        self.update_interval = check_count("update_interval", update_interval)
        self.clip_threshold = (
            None if clip_threshold is None else check_positive("clip_threshold", clip_threshold)
        )
        self._clip: tuple[str, float] | None = None
        self._reset()

    def _reset(self) -> None:
        self.gradient_norms = np.zeros(0)
        self.clipped = np.zeros(0, dtype=bool)
        self.spikes = np.zeros(0, dtype=np.int64)
        self.update_steps: list[int] = []
        self.update_ratios: dict[str, list[float]] = {}
        self.steps = 0
        self._pending_norms: list[tuple[torch.Tensor, ...]] = []
        self._pending_clips: list[torch.Tensor] = []
        self._pending_ratios: list[tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]] = []
        self._before: list[torch.Tensor] | None = None

    # -- setting up -------------------------------------------------------------------

    def _clipping(self) -> tuple[str, float] | None:
        """How the optimizer clips, by Keras's attribute names, or the asked threshold."""
        optimizer = getattr(self.model, "optimizer", None)
        for kind in ("global_clipnorm", "clipnorm", "clipvalue"):
            value = getattr(optimizer, kind, None)
            if value is not None:
                return kind, float(value)
        return None if self.clip_threshold is None else ("threshold", self.clip_threshold)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()
        self._params = trainable(self.model)
        names = [name for name, p in self.model.named_parameters() if p.requires_grad]
        self._layers = list(dict.fromkeys(layer_name(name) for name in names))
        first = self._params[0]
        self._layer_index = torch.tensor(
            [self._layers.index(layer_name(name)) for name in names], device=first.device
        )
        self._clip = self._clipping()

    # -- each step ----------------------------------------------------------------------

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if self.steps % self.update_interval == 0:
            self._before = [p.detach().clone() for p in self._params]

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        # One kernel launch per step: the norms stay on the device until the epoch's end.
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self._params]
        self._pending_norms.append(torch._foreach_norm(grads))
        if self._clip is not None and self._clip[0] == "clipvalue":
            self._pending_clips.append(torch.stack([g.abs().max() for g in grads]).max())
        if self._before is not None:
            after = [p.detach() for p in self._params]
            changes = torch._foreach_norm(torch._foreach_sub(after, self._before))
            self._pending_ratios.append((changes, torch._foreach_norm(self._before)))
            self.update_steps.append(self.steps)
            self._before = None
        self.steps += 1

    # -- each epoch ---------------------------------------------------------------------

    def _clipped(self, norms: torch.Tensor, totals: torch.Tensor) -> np.ndarray:
        """Which of the epoch's steps were clipped (``norms``: steps × tensors)."""
        assert self._clip is not None
        kind, threshold = self._clip
        if kind == "global_clipnorm":
            hit = totals >= threshold * _AT_THRESHOLD
        elif kind == "clipnorm":
            hit = norms.max(dim=1).values >= threshold * _AT_THRESHOLD
        elif kind == "clipvalue":
            hit = torch.stack(self._pending_clips) >= threshold * _AT_THRESHOLD
        else:
            hit = totals > threshold
        return hit.cpu().numpy()

    def _layer_ratios(self) -> np.ndarray:
        """``(updates, layers)``: ‖Δθ_l‖/‖θ_l‖ from the per-tensor norms of each update."""
        changes = torch.stack([torch.stack(c) for c, _ in self._pending_ratios]).double() ** 2
        sizes = torch.stack([torch.stack(w) for _, w in self._pending_ratios]).double() ** 2
        index = self._layer_index.expand(len(changes), -1)
        shape = (len(changes), len(self._layers))
        by_layer = [t.new_zeros(shape).scatter_add_(1, index, t) for t in (changes, sizes)]
        return (by_layer[0] / by_layer[1]).sqrt().cpu().numpy()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if not self._pending_norms:
            return
        first = len(self.gradient_norms)
        norms = torch.stack([torch.stack(step) for step in self._pending_norms]).double()
        totals = torch.linalg.vector_norm(norms, dim=1)
        epoch_norms = totals.cpu().numpy()
        self.gradient_norms = np.concatenate([self.gradient_norms, epoch_norms])
        values: dict[str, float] = {
            "gradient_norm_mean": float(epoch_norms.mean()),
            "gradient_norm_max": float(epoch_norms.max()),
        }
        self.spikes = gradient_spikes(self.gradient_norms, self.spike_factor, self.window)
        values["gradient_spikes"] = float((self.spikes >= first).sum())
        if self._clip is not None:
            epoch_clipped = self._clipped(norms, totals)
            self.clipped = np.concatenate([self.clipped, epoch_clipped])
            values["clipped_fraction"] = float(epoch_clipped.mean())
        if self._pending_ratios:
            ratios = self._layer_ratios()
            for index, layer in enumerate(self._layers):
                self.update_ratios.setdefault(layer, []).extend(ratios[:, index].tolist())
                values[f"update_ratio/{layer}"] = float(ratios[:, index].mean())
        self._pending_norms, self._pending_clips, self._pending_ratios = [], [], []
        if isinstance(logs, MutableMapping):
            logs.update(values)

    def get_config(self) -> dict[str, Any]:
        return {
            "spike_factor": self.spike_factor,
            "window": self.window,
            "update_interval": self.update_interval,
            "clip_threshold": self.clip_threshold,
        }

    @property
    def measured(self) -> bool:
        """Whether an epoch's gradient norms have been read (so :meth:`draw` can draw)."""
        return len(self.gradient_norms) > 0

    def draw(self, path: str | os.PathLike[str]) -> None:
        """Every step's gradient norm with spikes (and clipped steps) marked, and each
        layer's update-to-weight ratio."""
        from deepdescent.viz import plot_cliffs

        plot_cliffs(
            self.gradient_norms,
            self.spikes,
            self.update_steps,
            self.update_ratios,
            path,
            clipped=None if self._clip is None else self.clipped,
            title="Cliffs and exploding gradients (§8.2.4)",
        )
