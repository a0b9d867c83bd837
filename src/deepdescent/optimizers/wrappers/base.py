"""The base of the optimizers that wrap another one (:class:`~deepdescent.optimizers.
lookahead.Lookahead`, :class:`~deepdescent.optimizers.wrappers.sam.SAM`): the wrapper shares the
inner optimizer's parameter groups, learning rate, schedule, clipping and weight decay, and
binds it when ``compile`` binds the wrapper."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import torch

from deepdescent.optimizers.base import LearningRate, Optimizer, Params, needs_of
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.utils._checks import is_real

if TYPE_CHECKING:
    from deepdescent.layers.recording import LayerRecord

__all__ = ["OptimizerWrapper"]


def _resolve_base(base_optimizer: Any) -> torch.optim.Optimizer:
    if isinstance(base_optimizer, torch.optim.Optimizer):
        return base_optimizer
    if isinstance(base_optimizer, (str, dict)):
        from deepdescent import optimizers  # the catalogue imports this module

        return optimizers.get(base_optimizer)
    raise TypeError(
        f"Invalid base_optimizer: {base_optimizer!r} (expected a torch.optim.Optimizer, "
        "a name such as 'sgd' or an optimizer config dict)"
    )


class OptimizerWrapper(Optimizer):
    """Base of optimizers that wrap a *base optimizer* (any ``torch.optim.Optimizer``).

    The wrapper has no parameter groups of its own: :attr:`param_groups` is the base's
    list, so the learning rate, its schedule, clipping and weight decay are the base's,
    and :attr:`learning_rate` reads and sets the base's. Its own per-parameter state
    (``self.state``) is merged into the base's :meth:`state_dict` under keys prefixed by
    the wrapper's name (``"lookahead.slow_weights"``), so the dict has the same flat form
    as every optimizer's and saves with the model.

    Keras's door: wrapping an unbound deepdescent optimizer (``SGD(learning_rate=0.1)``)
    gives an unbound wrapper, and :meth:`bind` (which ``compile``/``fit`` call) binds the
    base. A base given as a name or config (``"adam"``) is built with
    :func:`deepdescent.optimizers.get`, unbound.

    Subclasses implement ``step`` and :meth:`_options` (their hyperparameters).
    """

    def __init__(self, base_optimizer: torch.optim.Optimizer | str | dict[str, Any]) -> None:
        self.base_optimizer = _resolve_base(base_optimizer)
        # The learning rate is the base's; the base class wants one to start from, and the
        # overridden accessors below never read it.
        super().__init__(None, {"lr": 0.0})
        base = self.base_optimizer
        self.use_ema = isinstance(base, Optimizer) and base.use_ema
        # torch's own set-up of the hooks and step profiling, without parameter groups.
        torch.optim.Optimizer.__setstate__(self, {"defaults": {}, "state": defaultdict(dict)})

    def _options(self) -> dict[str, Any]:
        """The wrapper's hyperparameters, as constructor keyword arguments."""
        raise NotImplementedError

    # -- the base optimizer's groups are the wrapper's --------------------------------

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The base optimizer's parameter groups (the same list)."""
        return self.base_optimizer.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        self.base_optimizer.param_groups = groups

    @property
    def is_bound(self) -> bool:
        """Whether the base optimizer holds parameters."""
        base = self.base_optimizer
        return base.is_bound if isinstance(base, Optimizer) else True

    def bind(self, params: Params) -> Optimizer:
        """Bind the base optimizer (a specification) to ``params``; returns ``self``."""
        if self.is_bound:
            raise RuntimeError(f"{type(self).__name__} is already bound to parameters")
        cast(Optimizer, self.base_optimizer).bind(params)  # only a spec is unbound
        return self

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the base optimizer (the wrapper shares its groups)."""
        self.base_optimizer.add_param_group(param_group)

    def _check_bound(self) -> None:
        if not self.is_bound:
            raise RuntimeError(
                f"{type(self).__name__} has no parameters: call bind(params) "
                "or pass it to Model.compile first"
            )

    # -- the base's learning rate and averaging ------------------------------------------

    @property
    def learning_rate(self) -> float:
        """The base optimizer's current learning rate ε."""
        base = self.base_optimizer
        if isinstance(base, Optimizer):
            return base.learning_rate
        return float(base.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        base = self.base_optimizer
        if isinstance(base, Optimizer):
            base.learning_rate = value
            return
        if not is_real(value) or value < 0:
            raise ValueError(f"Invalid learning_rate: {value!r} (expected a number >= 0)")
        for group in base.param_groups:
            group["lr"] = float(value)

    @property
    def compile_seconds(self) -> float:
        """The time the wrapper's own passes and its base spent compiling fused bodies."""
        return self._own_compile_seconds + getattr(self.base_optimizer, "compile_seconds", 0.0)

    @compile_seconds.setter
    def compile_seconds(self, seconds: float) -> None:
        self._own_compile_seconds = seconds

    def _count_compile(self, seconds: float) -> None:
        self._own_compile_seconds += seconds

    def finalize_variable_values(self) -> None:
        """The base optimizer's (Polyak averaging with ``use_ema``)."""
        if isinstance(self.base_optimizer, Optimizer):
            self.base_optimizer.finalize_variable_values()

    # -- the contract with the training loop: the base optimizer's ----------------------

    def needs(self) -> TrainingNeeds:
        """The base optimizer's needs (a torch.optim optimizer's, for a plain one)."""
        return needs_of(self.base_optimizer)

    def prepare(self, layers: Sequence[LayerRecord]) -> None:
        if isinstance(self.base_optimizer, Optimizer):
            self.base_optimizer.prepare(layers)

    def release(self) -> None:
        if isinstance(self.base_optimizer, Optimizer):
            self.base_optimizer.release()

    def use_evaluation_weights(self) -> None:
        if isinstance(self.base_optimizer, Optimizer):
            self.base_optimizer.use_evaluation_weights()

    def use_training_weights(self) -> None:
        if isinstance(self.base_optimizer, Optimizer):
            self.base_optimizer.use_training_weights()

    def finalize(self) -> None:
        if isinstance(self.base_optimizer, Optimizer):
            self.base_optimizer.finalize()

    # -- state --------------------------------------------------------------------------

    @property
    def _state_prefix(self) -> str:
        return type(self).__name__.lower() + "."

    def state_dict(self) -> dict[str, Any]:
        """The base's state dict with the wrapper's per-parameter state merged in, and
        ``iterations`` the wrapper's count (the base's is kept as ``base_iterations``)."""
        packed = self.base_optimizer.state_dict()
        params = [p for group in self.param_groups for p in group["params"]]
        indices = [index for group in packed["param_groups"] for index in group["params"]]
        key_of = {id(p): index for p, index in zip(params, indices, strict=True)}
        state = {key: dict(entries) for key, entries in packed["state"].items()}
        for param, entries in self.state.items():
            merged = state.setdefault(key_of[id(param)], {})
            for name, value in entries.items():
                if self._state_prefix + name in merged:
                    raise ValueError(
                        f"{type(self).__name__} wraps another {type(self).__name__}: their "
                        f"state entries {self._state_prefix + name!r} would collide"
                    )
                merged[self._state_prefix + name] = value
        result = {**packed, "state": state, "iterations": self.iterations}
        if "iterations" in packed:
            result["base_iterations"] = packed["iterations"]
        return result

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a dict from :meth:`state_dict` (or a model file) into base and wrapper."""
        state_dict = dict(state_dict)
        iterations = int(state_dict.pop("iterations", 0))
        base_iterations = int(state_dict.pop("base_iterations", iterations))
        if isinstance(self.base_optimizer, Optimizer):
            state_dict["iterations"] = base_iterations
        # The base loads the wrapper's entries with its own: matched to the parameters (by
        # name where it can) and cast to their dtype and device. Then they move out.
        self.base_optimizer.load_state_dict(state_dict)
        self.state = defaultdict(dict)
        prefix = self._state_prefix
        for param, entries in self.base_optimizer.state.items():
            for name in [n for n in entries if isinstance(n, str) and n.startswith(prefix)]:
                self.state[param][name.removeprefix(prefix)] = entries.pop(name)
        self.iterations = iterations

    def __getstate__(self) -> dict[str, Any]:
        # torch's keeps only defaults, state and param_groups; the base optimizer must travel.
        return dict(self.__dict__)

    # -- config ---------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """``{"base_optimizer": <its serialized form>, **hyperparameters}``."""
        from deepdescent import optimizers

        base = self.base_optimizer
        if not isinstance(base, Optimizer):
            raise TypeError(
                f"{type(self).__name__} cannot be serialized: its base optimizer "
                f"{type(base).__name__} is not a deepdescent optimizer and has no config"
            )
        return {"base_optimizer": optimizers.serialize(base), **self._options()}

    def __repr__(self) -> str:
        options = "".join(f", {name}={value!r}" for name, value in self._options().items())
        return f"{type(self).__name__}({self.base_optimizer!r}{options})"
