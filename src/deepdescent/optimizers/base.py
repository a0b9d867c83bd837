"""The optimizer base: everything deepdescent's optimizers share, written once.

Every optimizer is a :class:`torch.optim.Optimizer` and so works in a plain PyTorch loop.
Constructed without parameters it is a *specification* (Keras's door): ``compile`` binds
it to a model's parameters later with :meth:`Optimizer.bind`.

Shared here: the ``learning_rate`` alias of ``lr`` and learning-rate schedules, Keras-style
gradient clipping (``clipvalue``, ``clipnorm`` per tensor, ``global_clipnorm``), coupled
(L2) or decoupled weight decay, the step counter kept in ``state_dict``, configs for saving,
and the choice between a subclass's fused, multi-tensor (``torch._foreach_*``) and
per-tensor update bodies. A fused body is one of torch's fused kernels, or the
multi-tensor body compiled into one pass (:mod:`deepdescent.optimizers.compiled`).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import torch

from deepdescent.optimizers import compiled
from deepdescent.optimizers.averaging import polyak_weight
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.optimizers.conventions import convention_defaults
from deepdescent.utils._checks import check_argument, check_count, is_real, plain_number

if TYPE_CHECKING:
    from deepdescent.layers.recording import LayerRecord

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, torch.Tensor]]
LearningRate = float | Callable[[int], float]

_FUSED_DEVICES = ("cpu", "cuda", "xpu", "mps")


def needs_of(optimizer: torch.optim.Optimizer) -> TrainingNeeds:
    """What any ``torch.optim.Optimizer`` needs from a training loop: a deepdescent
    optimizer says so itself (:meth:`Optimizer.needs`); of torch's own, L-BFGS is a batch
    method that re-evaluates the loss and the others need only gradients."""
    if isinstance(optimizer, Optimizer):
        return optimizer.needs()
    lbfgs = isinstance(optimizer, torch.optim.LBFGS)
    return TrainingNeeds(closure=lbfgs, full_batch=lbfgs)


def check_betas(betas: Any, name: str = "betas") -> tuple[float, float]:
    """Check a pair of decay rates or weights (β₁, β₂), each in [0, 1); return it as floats.

    Adam and the methods built on it (``betas``), and AdamW fallbacks (``adamw_betas``),
    share this rule. A constraint beyond it (Schedule-Free's β₁ > 0) is checked after.
    """
    ok = (
        isinstance(betas, (tuple, list))
        and len(betas) == 2
        and all(is_real(b) and 0.0 <= b < 1.0 for b in betas)
    )
    check_argument(name, betas, ok, "a pair of numbers, each in [0, 1)")
    return float(betas[0]), float(betas[1])


def resolve_learning_rate(
    lr: LearningRate | None, learning_rate: LearningRate | None, default: float
) -> LearningRate:
    """Accept torch's ``lr`` or Keras's ``learning_rate`` (not both)."""
    if lr is not None and learning_rate is not None:
        raise ValueError("Pass either lr or learning_rate (its Keras name), not both")
    chosen = lr if lr is not None else learning_rate
    return default if chosen is None else chosen


def step_tensors(steps: list[int], device: torch.device) -> list[torch.Tensor]:
    """Step counts t as torch's fused kernels read them: float32 scalars on ``device``.

    deepdescent keeps t as a Python int (reading a tensor would cost a host sync per step);
    the kernels' tensors are made here, one per distinct count (a fill, not a host copy).
    """
    made = {t: torch.full((), float(t), dtype=torch.float32, device=device) for t in set(steps)}
    return [made[t] for t in steps]


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU ``torch.Generator`` for the random draws of update number ``step``, seeded from
    (``seed``, ``step``) by NumPy's ``SeedSequence`` hash: an optimizer that draws with it
    keeps no generator state, and a run resumed from a ``state_dict`` (which holds the
    step count) draws what the uninterrupted run would have drawn."""
    entropy = np.random.SeedSequence([int(seed), int(step)])
    return torch.Generator().manual_seed(int(entropy.generate_state(1)[0]))


def loss_value(loss: Any) -> float:
    """A closure's loss as a Python float (NaN and ±inf pass through).

    Raises:
        ValueError: if the loss is not a scalar (a tensor of one element or a number).
    """
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ValueError(
                "The closure must return the loss as a scalar, "
                f"got a tensor of shape {tuple(loss.shape)}"
            )
        return float(loss.detach().reshape(()))
    if is_real(loss):
        return float(loss)
    raise ValueError(f"The closure must return the loss (a scalar tensor), got {loss!r}")


def _one_floating_kind(params: list[torch.Tensor]) -> bool:
    """Whether ``params`` are floating-point tensors of one device and dtype, as a fused
    kernel or a compiled body takes them."""
    first = params[0]
    return first.dtype.is_floating_point and all(
        p.device == first.device and p.dtype == first.dtype for p in params
    )


def _check_optional_positive(name: str, value: float | None) -> None:
    if value is not None:
        check_argument(name, value, is_real(value) and value > 0, "a positive number or None")


def _is_learning_rate(value: Any) -> bool:
    """A number or a schedule (a callable that is not a collection of parameters): what
    Keras passes first, ``Adam(1e-3)``."""
    if isinstance(value, (bool, torch.Tensor)):
        return False
    if isinstance(value, Real):
        return True
    return callable(value) and not isinstance(value, (Iterable, torch.optim.Optimizer))


# Keras's argument names → this library's (torch.optim's), where a class lacks the former.
_KERAS_NAMES = {"epsilon": "eps", "rho": "alpha"}


def _keras_arguments(
    owner: str, parameters: Mapping[str, inspect.Parameter], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``kwargs`` with Keras's names turned into this optimizer's: ``beta_1``/``beta_2``
    into ``betas``, ``epsilon`` into ``eps``, ``rho`` into RMSprop's ``alpha``."""
    kwargs = dict(kwargs)
    if ("beta_1" in kwargs or "beta_2" in kwargs) and "betas" in parameters:
        if "betas" in kwargs:
            raise ValueError(f"{owner}: pass betas or beta_1/beta_2 (Keras's names), not both")
        default = parameters["betas"].default
        kwargs["betas"] = (kwargs.pop("beta_1", default[0]), kwargs.pop("beta_2", default[1]))
    for keras_name, name in _KERAS_NAMES.items():
        if keras_name in kwargs and keras_name not in parameters and name in parameters:
            if name in kwargs:
                raise ValueError(f"{owner}: pass {name} or {keras_name} (its Keras name), not both")
            kwargs[name] = kwargs.pop(keras_name)
    return kwargs


def _apply_convention(
    cls: type, parameters: Mapping[str, inspect.Parameter], args: tuple, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``kwargs`` with the defaults of the peer ``kwargs["convention"]`` filled in for
    every argument the caller left out."""
    convention = kwargs.pop("convention")
    given = set(kwargs) | set(list(parameters)[1 : 1 + len(args)])
    if "learning_rate" in given:
        given.add("lr")
    for name, value in convention_defaults(cls.__name__, convention).items():
        if name not in given:
            kwargs[name] = value
    return kwargs


def _accept_keras_idioms(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a subclass's ``__init__`` so that it takes Keras's idioms: a learning rate
    first (``Adam(1e-3)``), Keras's argument names, ``name=``, and ``convention=``."""
    parameters = inspect.signature(init).parameters
    takes_params_first = list(parameters)[1:2] == ["params"]

    @functools.wraps(init)
    def accept(self: Any, *args: Any, **kwargs: Any) -> None:
        if takes_params_first and args and _is_learning_rate(args[0]):
            if "lr" in kwargs or "learning_rate" in kwargs:
                raise TypeError(
                    f"{type(self).__name__}: a learning rate was given both first and by name"
                )
            kwargs["learning_rate"], args = args[0], args[1:]
        kwargs = _keras_arguments(type(self).__name__, parameters, kwargs)
        name = kwargs.pop("name", None)
        if "convention" in kwargs:
            kwargs = _apply_convention(type(self), parameters, args, kwargs)
        init(self, *args, **kwargs)
        if name is not None:
            self.name = name

    return accept


class Optimizer(torch.optim.Optimizer):
    """Base class of every deepdescent optimizer.

    Subclasses pass their hyperparameters as ``defaults`` (keys named as their
    constructor's arguments, ``lr`` among them) and implement :meth:`_update_loop`, the
    readable per-tensor update, and optionally :meth:`_update_foreach` and
    :meth:`_update_fused` (one of torch's fused kernels), or instead of both
    :meth:`_multi_tensor_step`, a multi-tensor body that ``torch.compile`` can fuse.
    ``step`` then does the shared work around them. A method whose
    weight decay belongs inside its update (LAMB's trust ratio, LARS's local rate) overrides
    :meth:`_apply_weight_decay` to hand the gradients on unchanged and decays itself; one
    whose *decoupled* decay alone belongs inside (the coupled form still adds λθ to g) sets
    ``decoupled_decay_in_update = True`` instead. State is made lazily with
    :meth:`_init_state`.

    Args:
        params: parameters, parameter groups or ``named_parameters()``; ``None`` makes a
            specification to :meth:`bind` later.
        defaults: the subclass's hyperparameters.
        clipvalue: clip every gradient element to ``[-clipvalue, clipvalue]``.
        clipnorm: rescale each gradient tensor whose norm exceeds ``clipnorm``.
        global_clipnorm: rescale all gradients together when their joint norm exceeds it.
            For all three, ``math.inf`` means no clipping (as ``None`` does).
        weight_decay: λ; with ``decoupled_weight_decay`` the step first sets
            ``θ ← θ − ελθ`` (Loshchilov & Hutter), otherwise ``λθ`` is added to the
            gradient (an L2 penalty, torch.optim's convention).
        foreach, fused: force or forbid the multi-tensor / fused bodies (``None``: fastest
            available; a compiled body only for groups large enough to repay the
            compile, see :mod:`~deepdescent.optimizers.compiled`). ``fused=True`` is
            refused by an optimizer that has no fused body, and, for a compiled body,
            on a device or machine where ``torch.compile`` cannot build it.
        gradient_accumulation_steps: k > 1 sums the gradients of k calls of ``step`` and
            updates once, with their mean, on the k-th (a k-times larger batch in memory
            of one); ``iterations`` counts updates.
        use_ema, ema_momentum, ema_overwrite_frequency: Polyak averaging (Goodfellow et
            al. §8.7.3), as Keras names it. After each update the average θ̂ of the
            iterates is kept: ``θ̂ ← αθ̂ + (1 − α)θ`` with α = ``ema_momentum`` (0.99), or,
            with ``ema_momentum=None``, the arithmetic mean ``θ̂(t) = (1/t) Σᵢ θ(i)``.
            :meth:`finalize_variable_values` copies θ̂ into the parameters (``fit`` does at
            the end of training); ``ema_overwrite_frequency=n`` does it every n updates.

    Attributes:
        compile_seconds: the time this optimizer spent compiling fused bodies (0 when
            none was compiled, or all came from the process's cache).
    """

    #: What the method needs from the loop that drives it (see
    #: :mod:`~deepdescent.optimizers.contract`); :meth:`needs` may refine it from the
    #: hyperparameters.
    training_needs: ClassVar[TrainingNeeds] = TrainingNeeds()
    #: The update applies decoupled weight decay itself (so the base applies only L2).
    decoupled_decay_in_update: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Keras's idioms, written once for every optimizer: see _accept_keras_idioms.
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _accept_keras_idioms(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(
        self,
        params: Params | None,
        defaults: dict[str, Any],
        *,
        clipvalue: float | None = None,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        gradient_accumulation_steps: int = 1,
        use_ema: bool = False,
        ema_momentum: float | None = 0.99,
        ema_overwrite_frequency: int | None = None,
    ) -> None:
        check_count("gradient_accumulation_steps", gradient_accumulation_steps)
        check_argument(
            "gradient_accumulation_steps",
            gradient_accumulation_steps,
            gradient_accumulation_steps == 1 or not type(self).training_needs.closure,
            f"1: {type(self).__name__} re-evaluates the loss itself, on one batch",
        )
        if ema_momentum is not None:
            check_argument(
                "ema_momentum",
                ema_momentum,
                0.0 <= ema_momentum < 1.0,
                "0 <= ema_momentum < 1, or None for the arithmetic mean",
            )
        if ema_overwrite_frequency is not None:
            check_count("ema_overwrite_frequency", ema_overwrite_frequency)
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.use_ema, self.ema_momentum = use_ema, plain_number(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self._average_swapped_in = False
        self._accumulated = 0
        _check_optional_positive("clipvalue", clipvalue)
        _check_optional_positive("clipnorm", clipnorm)
        _check_optional_positive("global_clipnorm", global_clipnorm)
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError("Pass at most one of clipnorm and global_clipnorm")
        defaults = {key: plain_number(value) for key, value in defaults.items()}
        defaults.setdefault("weight_decay", 0.0)
        defaults.setdefault("decoupled_weight_decay", False)
        defaults.setdefault("foreach", None)
        defaults.setdefault("fused", None)
        check_argument(
            "weight_decay",
            defaults["weight_decay"],
            defaults["weight_decay"] >= 0,
            "weight_decay >= 0",
        )
        if not self._has_fused_body():
            check_argument(
                "fused",
                defaults["fused"],
                not defaults["fused"],
                f"None or False: {type(self).__name__} has no fused kernel",
            )
        self.learning_rate_schedule: Callable[[int], float] | None = None
        defaults["lr"] = self._accept_learning_rate(defaults["lr"])
        # An infinite threshold clips nothing: it means no clipping (inf / inf would be NaN).
        self.clipvalue, self.clipnorm, self.global_clipnorm = (
            None if value is None or value == math.inf else float(value)
            for value in (clipvalue, clipnorm, global_clipnorm)
        )
        self.iterations = 0
        self.compile_seconds = 0.0
        self._spec_defaults = defaults
        # torch.optim wraps ``step`` with hooks read from these; bind() sets them anew.
        self._optimizer_step_pre_hooks: OrderedDict[int, Any] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Any] = OrderedDict()
        if params is not None:
            self.bind(params)

    # -- the two doors -------------------------------------------------------------

    @property
    def is_bound(self) -> bool:
        """Whether the optimizer holds parameters (``False`` for a Keras-style spec)."""
        return "param_groups" in self.__dict__

    def bind(self, params: Params) -> Optimizer:
        """Give a specification its parameters; returns ``self``."""
        if self.is_bound:
            raise RuntimeError(f"{type(self).__name__} is already bound to parameters")
        if isinstance(params, (set, torch.Tensor)):
            raise TypeError(
                "params must be an ordered collection (a list) of tensors or "
                f"parameter groups, got a {type(params).__name__}"
            )
        entries: list[Any] = list(params)
        if not entries:
            raise ValueError("params is empty: the model has no trainable parameters")
        super().__init__(entries, dict(self._spec_defaults))
        return self

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (``{"params": [...], "lr": ...}``) to optimize.

        The same contract as torch.optim's, written here without its ``torch._dynamo``
        decorator: importing dynamo costs about 1.5 s on the first optimizer.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        entries = group["params"]
        if isinstance(entries, set):
            raise TypeError("params must be an ordered collection (a list), not a set")
        entries = [entries] if isinstance(entries, torch.Tensor) else list(entries)
        names = [entry[0] for entry in entries if isinstance(entry, tuple)]
        params = [entry[1] if isinstance(entry, tuple) else entry for entry in entries]
        if names and len(names) != len(params):
            raise ValueError("params must be all named (name, tensor) pairs or all tensors")
        for param in params:
            if not isinstance(param, torch.Tensor):
                raise TypeError(f"params must hold tensors, got {type(param).__name__}")
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group holds the same parameter twice")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        if self.param_groups and bool(names) != ("param_names" in self.param_groups[0]):
            raise ValueError("all parameter groups must be named, or none")
        group["params"] = params
        if names:
            group["param_names"] = names
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        if group.get("fused") is True and self._has_compiled_body():
            self._check_compilable(params)
        self.param_groups.append(group)

    @torch.no_grad()
    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None) -> None:
        """Keras's ``apply``: one update with the given gradients, in a custom training
        step (``optimizer.apply(grads, model.trainable_weights)``). The variables may be
        ``deepdescent.Variable``s or tensors; a specification binds to them on first use.
        A ``None`` gradient leaves its variable alone."""
        if trainable_variables is None:
            if not self.is_bound:
                raise ValueError("apply needs trainable_variables the first time")
            trainable_variables = [p for g in self.param_groups for p in g["params"]]
        tensors = [getattr(v, "value", v) for v in trainable_variables]
        if len(tensors) != len(grads):
            raise ValueError(f"apply got {len(grads)} gradients for {len(tensors)} variables")
        if not self.is_bound:
            self.bind(tensors)
        bound = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(t) not in bound for t in tensors):
            raise ValueError(
                f"{type(self).__name__} is bound to other variables than those given to apply"
            )
        for tensor, grad in zip(tensors, grads, strict=True):
            tensor.grad = None if grad is None else torch.as_tensor(grad).to(tensor)
        self.step()

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Any]]) -> None:
        """Keras's ``apply_gradients([(grad, variable), ...])``: :meth:`apply`."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients (to ``None`` by default, else to zeros)."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_()
                    param.grad.zero_()

    def __getstate__(self) -> dict[str, Any]:
        # torch.optim keeps only defaults, state and groups; the base has more to copy.
        return dict(self.__dict__)

    def __repr__(self) -> str:
        if self.is_bound:
            return super().__repr__()
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})  # not bound to parameters yet"

    # -- learning rate ---------------------------------------------------------------

    def _accept_learning_rate(self, value: LearningRate, name: str = "lr") -> float:
        if callable(value):
            self.learning_rate_schedule = value
            return float(value(0))
        check_argument(
            name,
            value,
            is_real(value) and value >= 0,
            "a number >= 0 or a schedule",
        )
        return float(value)

    @property
    def learning_rate(self) -> float:
        """The current learning rate ε (of the first parameter group), as Keras reads it."""
        groups = self.param_groups if self.is_bound else [self._spec_defaults]
        return float(groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        if self.learning_rate_schedule is not None and not callable(value):
            raise TypeError(
                "This optimizer's learning rate follows a schedule, so a number "
                "cannot be set; set a new schedule, or build it with a number"
            )
        self.learning_rate_schedule = None
        lr = self._accept_learning_rate(value, "learning_rate")
        self._spec_defaults["lr"] = lr
        for group in self.param_groups if self.is_bound else []:
            group["lr"] = lr

    # -- the step -------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types the closure's loss as a float
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        self._require_bound()
        loss = self._evaluate(closure)
        if self.gradient_accumulation_steps > 1 and not self._accumulate_gradients():
            return loss
        self._apply_schedule()
        for group, params, grads in self._clipped_work():
            if params:
                self._update(group, params, grads)
        self._end_step()
        return loss

    def _end_step(self) -> None:
        """The end of every update: count it (``iterations``), then Polyak averaging."""
        self.iterations += 1
        if self.use_ema:
            self._update_average()

    def _closure_step(
        self,
        closure: Callable[[], Any] | None,
        update: Callable[
            [Callable[[], Any], list[tuple[dict[str, Any], torch.Tensor]], float], None
        ],
    ) -> Any:
        """The whole step of a method that updates all groups together from a closure
        (Newton, CG): :meth:`_begin_closure_step`, ``update(closure, entries, loss value)``
        over the ``(group, parameter)`` pairs that have gradients, :meth:`_end_step`."""
        loss, value = self._begin_closure_step(closure)
        entries = [(g, p) for g in self.param_groups for p in g["params"] if p.grad is not None]
        if entries:
            update(cast(Callable[[], Any], closure), entries, value)
        self._end_step()
        return loss

    def _accumulate_gradients(self) -> bool:
        """Add this call's gradients to the running sums; on the k-th call put their mean
        in ``.grad`` and return True (time to update)."""
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        sums = [self.state[p].setdefault("accumulated_grad", torch.zeros_like(p)) for p in params]
        torch._foreach_add_(sums, [p.grad for p in params])
        self._accumulated += 1
        if self._accumulated < self.gradient_accumulation_steps:
            return False
        for param, total in zip(params, sums, strict=True):
            param.grad.copy_(total).div_(self._accumulated)
        torch._foreach_zero_(sums)
        self._accumulated = 0
        return True

    def _update_average(self) -> None:
        """Polyak averaging of the iterates, after the update numbered ``iterations``."""
        params = [p for group in self.param_groups for p in group["params"]]
        averages = [self.state[p].get("ema") for p in params]
        if any(a is None for a in averages):
            for param in params:
                self.state[param]["ema"] = param.detach().clone()
            return
        weight = polyak_weight(self.iterations, self.ema_momentum)
        torch._foreach_lerp_(averages, [p.detach() for p in params], weight)
        frequency = self.ema_overwrite_frequency
        if frequency is not None and self.iterations % frequency == 0:
            self.finalize_variable_values()

    @torch.no_grad()
    def finalize_variable_values(self) -> None:
        """Copy the Polyak average θ̂ into the parameters (no-op without ``use_ema``)."""
        if self._average_swapped_in:
            self.swap_average()
        for group in self.param_groups if self.is_bound else []:
            for param in group["params"]:
                average = self.state[param].get("ema")
                if average is not None:
                    param.copy_(average)

    @torch.no_grad()
    def swap_average(self) -> None:
        """Exchange the parameters with their Polyak average θ̂ (``use_ema``); a second
        call puts everything back (:attr:`average_in_parameters` says which is where)."""
        pairs = [
            (param, self.state[param]["ema"])
            for group in (self.param_groups if self.is_bound else [])
            for param in group["params"]
            if "ema" in self.state[param]
        ]
        for param, average in pairs:
            held = param.detach().clone()
            param.copy_(average)
            average.copy_(held)
        if pairs:
            self._average_swapped_in = not self._average_swapped_in

    @property
    def average_in_parameters(self) -> bool:
        """Whether :meth:`swap_average` left the average θ̂ in the parameters."""
        return self._average_swapped_in

    # -- the contract with the training loop (deepdescent.optimizers.contract) -----------

    def needs(self) -> TrainingNeeds:
        """What this optimizer needs from the loop that drives it."""
        return self.training_needs

    @property
    def requires_closure(self) -> bool:
        """Whether ``step`` must be given a closure (it re-evaluates the loss)."""
        return self.needs().closure

    def prepare(self, layers: Sequence[LayerRecord]) -> None:
        """Receive the model's recordable layers before the first step; called by the loop
        when :meth:`needs` asks for ``layer_statistics``. The base keeps nothing."""

    def release(self) -> None:
        """Let go of what :meth:`prepare` took (hooks on layers) after the last step."""

    def use_evaluation_weights(self) -> None:
        """Put in the parameters the point to evaluate, checkpoint and return, where it
        differs from the point where gradients are taken (Schedule-Free's average)."""

    def use_training_weights(self) -> None:
        """Put back the point where gradients are taken (undoes
        :meth:`use_evaluation_weights`)."""

    def finalize(self) -> None:
        """The end of training: with ``use_ema``, the Polyak average becomes the weights."""
        if self.use_ema:
            self.finalize_variable_values()

    def _require_bound(self) -> None:
        if not self.is_bound:
            raise RuntimeError(
                f"{type(self).__name__} has no parameters: call bind(params) "
                "or pass it to Model.compile first"
            )

    def _apply_schedule(self) -> None:
        """Set every group's ``lr`` from the schedule, at update number ``iterations``."""
        if self.learning_rate_schedule is not None:
            lr = float(self.learning_rate_schedule(self.iterations))
            for group in self.param_groups:
                group["lr"] = lr

    def _begin_closure_step(self, closure: Callable[[], Any] | None) -> tuple[Any, float]:
        """The start of the step of a method that overrides ``step`` to re-evaluate the
        loss itself (Newton, CG, (L-)BFGS, Hessian-free ...): evaluate the closure
        (required), check its loss is a finite scalar, follow the schedule. Returns the
        loss and its value."""
        self._require_bound()
        loss = self._evaluate(closure)
        value = loss_value(loss)
        if not math.isfinite(value):
            raise ValueError(
                f"The closure returned a non-finite loss ({value}) at the current "
                f"parameters: {type(self).__name__} cannot take a step from there"
            )
        self._apply_schedule()
        return loss, value

    def _evaluate(self, closure: Callable[[], torch.Tensor] | None) -> torch.Tensor | None:
        if closure is None:
            if self.needs().closure:
                raise RuntimeError(
                    f"{type(self).__name__} re-evaluates the loss: call "
                    "step(closure) with a closure that returns the loss"
                )
            return None
        with torch.enable_grad():
            return closure()

    @staticmethod
    def _params_with_grads(group: dict[str, Any]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = [p for p in group["params"] if p.grad is not None]
        return params, [p.grad for p in params]

    def _clipped_work(
        self,
    ) -> list[tuple[dict[str, Any], list[torch.Tensor], list[torch.Tensor]]]:
        """Each group with its parameters that have gradients and those gradients,
        clipped as configured."""
        work = [(group, *self._params_with_grads(group)) for group in self.param_groups]
        if (self.clipvalue, self.clipnorm, self.global_clipnorm) != (None, None, None):
            self._clip_gradients([grad for _, _, grads in work for grad in grads])
        return work

    def _clip_gradients(self, grads: list[torch.Tensor]) -> None:
        """Keras's clipping, in place on the gradients (section 8.2.4: cliffs)."""
        if not grads:
            return
        if self.clipvalue is not None:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)
        if self.clipnorm is not None:
            norms = torch._foreach_norm(grads)
            torch._foreach_mul_(grads, [self.clipnorm / n.clamp(min=self.clipnorm) for n in norms])
        if self.global_clipnorm is not None:
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            torch._foreach_mul_(grads, self.global_clipnorm / total.clamp(min=self.global_clipnorm))

    @staticmethod
    def _apply_weight_decay(
        group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        decay = group["weight_decay"]
        if decay == 0:
            return grads
        if group["decoupled_weight_decay"]:
            torch._foreach_mul_(params, 1.0 - group["lr"] * decay)
            return grads
        return list(torch._foreach_add(grads, params, alpha=decay))

    def _decay_before_update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """:meth:`_apply_weight_decay`, less the decoupled form where the update applies it
        (``decoupled_decay_in_update``)."""
        if self.decoupled_decay_in_update and group["decoupled_weight_decay"]:
            return grads
        return self._apply_weight_decay(group, params, grads)

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        """Weight decay, then the fastest body that applies: fused, multi-tensor, or the
        per-tensor specification. A fused kernel that applies the group's weight decay in
        its own pass (:meth:`_fused_kernel_decays`) is handed the raw gradients."""
        if group["fused"] is not False and self._fused_applies(group, params, grads):
            if not self._fused_kernel_decays(group):
                grads = self._decay_before_update(group, params, grads)
            self._update_fused(group, params, grads)
            return
        grads = self._decay_before_update(group, params, grads)
        has_foreach = type(self)._update_foreach is not Optimizer._update_foreach
        if group["foreach"] is not False and (has_foreach or self._has_compiled_body()):
            self._update_foreach(group, params, grads)
        else:
            self._update_loop(group, params, grads)

    def _fused_kernel_decays(self, group: dict[str, Any]) -> bool:
        """Whether :meth:`_update_fused` applies the group's weight decay itself, in the
        kernel's single pass over the parameters (saving a read and write of θ); a
        compiled body always does."""
        return self._has_compiled_body()

    def _fused_applies(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> bool:
        """Whether :meth:`_update_fused` can run on these tensors (subclasses add their
        own conditions, e.g. a convention flag the kernel does not implement). A compiled
        body runs where ``torch.compile`` can build it and, unless ``fused=True``, where
        the group is large enough to repay the compile."""
        if not (self._has_fused_body() and _one_floating_kind(params)):
            return False
        if any(g.is_sparse for g in grads):
            return False
        if not self._has_compiled_body():
            return params[0].device.type in _FUSED_DEVICES
        return compiled.compiles(params, insist=group["fused"] is True)

    @classmethod
    def _has_fused_body(cls) -> bool:
        """Whether the subclass defines :meth:`_update_fused` or a compiled body."""
        return cls._update_fused is not Optimizer._update_fused or cls._has_compiled_body()

    @classmethod
    def _has_compiled_body(cls) -> bool:
        """Whether the subclass's multi-tensor body can be compiled
        (:meth:`_multi_tensor_step`)."""
        return cls._multi_tensor_step is not Optimizer._multi_tensor_step

    def _check_compilable(self, params: list[torch.Tensor]) -> None:
        """``fused=True`` with a compiled body: refuse, before any work, parameters that
        ``torch.compile`` cannot fuse here."""
        name = type(self).__name__
        for param in params:
            check_argument(
                "fused",
                True,
                param.dtype.is_floating_point,
                f"None or False for {param.dtype} parameters: {name}'s fused body is "
                "for floating-point tensors",
            )
            problem = compiled.compile_problem(param.device.type)
            check_argument(
                "fused",
                True,
                problem is None,
                f"None or False here: {name}'s fused body is compiled, and {problem}",
            )

    def _compiled_run(self, group: dict[str, Any]) -> compiled.CompiledRun:
        """The ``run`` of the fused body for ``group``: the compiled kernel, with the
        weight decay :meth:`_decay_before_update` would apply inside its pass."""
        cls = type(self)
        decoupled_inside = cls.decoupled_decay_in_update and group["decoupled_weight_decay"]
        decays = group["weight_decay"] != 0 and not decoupled_inside
        return compiled.CompiledRun(
            cls,
            cls._apply_weight_decay if decays else None,
            group,
            insist=group["fused"] is True,
            on_compile=self._count_compile,
        )

    def _pass_run(self, group: dict[str, Any], params: list[torch.Tensor]) -> compiled.Run:
        """The ``run`` of a pass over whole parameters beside the update (Lookahead's
        synchronization): compiled where a compiled update of ``group`` would be
        (``fused`` not ``False``, large enough, one device and floating dtype), else
        :func:`~deepdescent.optimizers.compiled.run_eagerly`."""
        if group.get("fused") is False or not _one_floating_kind(params):
            return compiled.run_eagerly
        if not compiled.compiles(params, insist=False):
            return compiled.run_eagerly
        return compiled.CompiledRun(type(self), None, group, False, self._count_compile)

    def _count_compile(self, seconds: float) -> None:
        self.compile_seconds += seconds

    def _init_state(
        self,
        param: torch.Tensor,
        *buffers: str,
        step: bool = True,
        fills: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """The state of ``param``, with what the update needs made on first use: the step
        count t = 0 (unless ``step=False``), each named buffer as zeros, and each buffer of
        ``fills`` filled with its value, all of the parameter's shape, dtype and device.

        Entries are made one by one where missing, never reset, so the state may already
        hold others (the base's ``accumulated_grad`` or ``ema``), or gain a buffer later
        (AMSGrad's maximum switched on).
        """
        state = self.state[param]
        if step:
            state.setdefault("step", 0)
        for name in buffers:
            if name not in state:
                state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)
        for name, value in (fills or {}).items():
            if name not in state:
                state[name] = torch.full_like(param, value, memory_format=torch.preserve_format)
        return state

    def _update_loop(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        """The specification: the algorithm's update, one tensor at a time."""
        raise NotImplementedError(f"{type(self).__name__} must define _update_loop")

    def _update_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        """The same update with multi-tensor (``torch._foreach_*``) kernels."""
        if self._has_compiled_body():
            self._multi_tensor_step(group, params, grads, compiled.run_eagerly)

    def _update_fused(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        """The same update with one of torch's fused kernels, or the multi-tensor body
        compiled into one pass."""
        if self._has_compiled_body():
            self._multi_tensor_step(group, params, grads, self._compiled_run(group))

    def _multi_tensor_step(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        run: compiled.Run,
    ) -> None:
        """A multi-tensor body written to be compiled: the host's share of the step (the
        state made, the counts advanced, the step's scalars worked out as Python floats)
        here, then all the tensor arithmetic in one ``run(kernel, tensors, dynamic,
        static)`` per disjoint set of parameters (see :mod:`~deepdescent.optimizers.
        compiled`). The multi-tensor body runs the kernel as it is, the fused body
        compiled, weight decay included."""
        raise NotImplementedError

    # -- state and config -----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """torch's state dict plus the update counter ``iterations`` and, with gradient
        accumulation, how many gradients are summed so far (``accumulated``).

        The same packing as torch.optim's (parameters by index, in group order), written
        here without its ``torch._dynamo`` decorator: a backup or the trainer's kept copy
        would otherwise import dynamo (about 1.5 s) on the first call."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed = {k: v for k, v in group.items() if k != "params"}
            groups.append({**packed, "params": [index_of[id(p)] for p in group["params"]]})
        packed_state = {
            (index_of[id(k)] if isinstance(k, torch.Tensor) else k): v
            for k, v in self.state.items()
        }
        state: dict[str, Any] = {"state": packed_state, "param_groups": groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            state = post_hook(self, state) or state
        state["iterations"] = self.iterations
        state["accumulated"] = self._accumulated
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loading, matching parameters by name when both sides were built from
        ``named_parameters()``, so a checkpoint survives a reordering of parameters.

        A group option the saved dict lacks (one written by ``torch.optim``, say, which
        has no deepdescent-only options) keeps this optimizer's value."""
        state_dict = dict(state_dict)
        self.iterations = int(state_dict.pop("iterations", 0))
        accumulated = int(state_dict.pop("accumulated", 0))
        state_dict["param_groups"] = self._fill_group_options(state_dict.get("param_groups"))
        super().load_state_dict(self._align_by_name(state_dict))
        self._accumulated = accumulated
        for entries in self.state.values():
            # torch.optim keeps step counts as tensors; deepdescent as ints (no host sync).
            if isinstance(entries.get("step"), torch.Tensor):
                entries["step"] = int(entries["step"].item())

    def _fill_group_options(self, saved_groups: Any) -> Any:
        if not isinstance(saved_groups, list) or len(saved_groups) != len(self.param_groups):
            return saved_groups  # torch's loading says what is wrong
        return [
            {**{k: v for k, v in own.items() if k != "params"}, **saved}
            for own, saved in zip(self.param_groups, saved_groups, strict=True)
        ]

    def _align_by_name(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups) or not all(
            "param_names" in group for group in [*saved_groups, *self.param_groups]
        ):
            return state_dict
        saved_index = {
            name: index
            for group in saved_groups
            for name, index in zip(group["param_names"], group["params"], strict=True)
        }
        state: dict[int, Any] = {}
        groups = []
        position = 0
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            indices = []
            for name in group["param_names"]:
                if name not in saved_index:
                    raise ValueError(f"The optimizer state has no entry for parameter {name!r}")
                if saved_index[name] in state_dict["state"]:
                    state[position] = state_dict["state"][saved_index[name]]
                indices.append(position)
                position += 1
            groups.append({**saved, "params": indices, "param_names": list(group["param_names"])})
        return {**state_dict, "state": state, "param_groups": groups}

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this optimizer (JSON-safe)."""
        config = {k: v for k, v in self._spec_defaults.items() if k not in ("foreach", "fused")}
        if self.learning_rate_schedule is not None:
            from deepdescent.schedules import serialize as serialize_schedule

            config["lr"] = serialize_schedule(cast(Any, self.learning_rate_schedule))
        for name in ("clipvalue", "clipnorm", "global_clipnorm", "ema_overwrite_frequency"):
            if getattr(self, name) is not None:
                config[name] = getattr(self, name)
        if self.gradient_accumulation_steps > 1:
            config["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        if self.use_ema:
            config.update(use_ema=True, ema_momentum=self.ema_momentum)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("lr"), dict):
            from deepdescent.schedules import deserialize as deserialize_schedule

            config["lr"] = deserialize_schedule(config["lr"])
        return cls(**config)
