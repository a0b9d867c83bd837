"""The optimizer catalogue: one table that says everything the project knows about each
optimizer, read by every place that lists optimizers.

String look-up (``compile(optimizer="momentum")``, :func:`deepdescent.optimizers.get`), the
CLI's choices, the contract tests, the real-data tests, the step benchmark, the comparison
harness and the movies all read :data:`CATALOGUE`; an optimizer added here appears in all
of them. An entry is a *name*: ``"momentum"`` and ``"nesterov"`` are SGD with a preset, as
optax's aliases are (torch's ``OptimizerInfo`` table and optax's
``_OPTIMIZERS_UNDER_TEST`` are the models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deepdescent.optimizers.base import Optimizer, Params
from deepdescent.optimizers.first_order.adabelief import AdaBelief
from deepdescent.optimizers.first_order.adadelta import Adadelta
from deepdescent.optimizers.first_order.adafactor import Adafactor
from deepdescent.optimizers.first_order.adagrad import Adagrad
from deepdescent.optimizers.first_order.adam import Adam, AdamW
from deepdescent.optimizers.first_order.adamax import Adamax
from deepdescent.optimizers.first_order.lamb import Lamb
from deepdescent.optimizers.first_order.lars import LARS
from deepdescent.optimizers.first_order.lion import Lion
from deepdescent.optimizers.first_order.muon import Muon
from deepdescent.optimizers.first_order.nadam import NAdam
from deepdescent.optimizers.first_order.radam import RAdam
from deepdescent.optimizers.first_order.rmsprop import RMSprop
from deepdescent.optimizers.first_order.rprop import Rprop
from deepdescent.optimizers.first_order.schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from deepdescent.optimizers.first_order.sgd import SGD
from deepdescent.optimizers.second_order.bfgs import BFGS
from deepdescent.optimizers.second_order.conjugate_gradient import ConjugateGradient
from deepdescent.optimizers.second_order.coordinate_descent import CoordinateDescent
from deepdescent.optimizers.second_order.hessian_free import HessianFree
from deepdescent.optimizers.second_order.kfac import KFAC
from deepdescent.optimizers.second_order.lbfgs import LBFGS
from deepdescent.optimizers.second_order.newton import Newton
from deepdescent.optimizers.second_order.shampoo import Shampoo
from deepdescent.optimizers.wrappers.continuation import Continuation
from deepdescent.optimizers.wrappers.lookahead import Lookahead
from deepdescent.optimizers.wrappers.sam import SAM
from deepdescent.utils._lookup import lookup

__all__ = [
    "CATALOGUE",
    "FAMILIES",
    "LectureRecipe",
    "OptimizerInfo",
    "StepBenchmark",
    "classes",
    "info",
    "names",
]

FAMILIES = ("first_order", "second_order", "wrapper")


@dataclass(frozen=True)
class LectureRecipe:
    """Settings with which the optimizer trains the lecture's network (784-32-10, sigmoid
    hidden layer, softmax output, categorical cross-entropy) on Fashion-MNIST scaled to
    [0, 1], and the test accuracy that reaches at least (a real-data test checks it).

    Attributes:
        kwargs: the optimizer's hyperparameters (over the entry's preset).
        batch_size: the minibatch size; ``None``: the whole training set (a batch method).
        epochs: passes over the training data.
        hidden: hidden units (fewer where the method holds a dense n × n matrix).
        samples: training images used (``None``: all 60,000).
        accuracy: the test accuracy reached at least, with seed 0.
    """

    kwargs: dict[str, Any]
    accuracy: float
    batch_size: int | None = 128
    epochs: int = 1
    hidden: int = 32
    samples: int | None = None


@dataclass(frozen=True)
class StepBenchmark:
    """A row of ``benchmarks/optimizer_step.py``: our settings, torch.optim's twin (its
    class name and settings; ``None`` where torch has none) and the bytes a step must move
    per float32 element (reads and writes of θ, g and the state; for LAMB, LARS and
    Adafactor also the read of the pass their per-tensor norms need before the update)."""

    kwargs: dict[str, Any]
    torch_name: str | None
    torch_kwargs: dict[str, Any]
    bytes_per_element: int


@dataclass(frozen=True)
class OptimizerInfo:
    """One entry of the catalogue.

    Attributes:
        name: the string identifier (``"adam"``).
        cls: the optimizer class.
        family: ``"first_order"``, ``"second_order"`` or ``"wrapper"``.
        section: where the method is described: the book's section and algorithm, or the
            paper.
        lecture: settings that train the lecture network (see :class:`LectureRecipe`).
        contract: hyperparameters with which the loss falls on the contract problems (a
            quadratic and Rosenbrock's function in 200 steps), and ``variants``: more named
            settings the contract table also runs (AMSGrad, centered RMSProp ...).
        benchmark: its row of the step benchmark, or ``None`` (a method that is not
            element-wise).
        benchmark_variants: more named rows of the step benchmark (Adam with its EMA of
            the weights).
        preset: constructor arguments that make this entry what it is (``momentum=0.9``).
        factory: builds the optimizer from ``(params, **kwargs)`` where the class alone
            does not (a wrapper and its base); ``None``: ``cls(params, **preset, **kwargs)``.
    """

    name: str
    cls: type[Optimizer]
    family: str
    section: str
    lecture: LectureRecipe
    contract: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    benchmark: StepBenchmark | None = None
    benchmark_variants: dict[str, StepBenchmark] = field(default_factory=dict)
    preset: dict[str, Any] = field(default_factory=dict)
    factory: Callable[..., Optimizer] | None = None

    def build(self, params: Params | None = None, **kwargs: Any) -> Optimizer:
        """The optimizer with the entry's preset and ``kwargs`` (``params=None``: an
        unbound specification, as ``compile`` takes)."""
        if self.factory is not None:
            return self.factory(params, **{**self.preset, **kwargs})
        return self.cls(params, **{**self.preset, **kwargs})

    @property
    def needs_closure(self) -> bool:
        """Whether ``step`` must be given a closure, as the entry builds the optimizer (a
        wrapper's needs are its base's and its own, so the class alone cannot say)."""
        return self.build().needs().closure


def _wrapped(
    wrapper: Callable[..., Optimizer], **wrapper_defaults: Any
) -> Callable[..., Optimizer]:
    """A factory for ``wrapper(<base entry>.build(params, **inner), **wrapper options)``:
    ``base`` names the inner entry (``"sgd"``), the wrapper's own options are the keys of
    ``wrapper_defaults``, every other keyword goes to the inner optimizer."""

    def build(params: Params | None = None, base: str = "sgd", **kwargs: Any) -> Optimizer:
        options = {k: kwargs.pop(k, v) for k, v in wrapper_defaults.items()}
        return wrapper(info(base).build(params, **kwargs), **options)

    return build


def _entries() -> list[OptimizerInfo]:
    first, second, wrapper = FAMILIES
    return [
        OptimizerInfo(
            "sgd",
            SGD,
            first,
            "§8.3.1, Algorithm 8.1",
            lecture=LectureRecipe({"lr": 0.1}, accuracy=0.6),
            contract={"lr": 0.01},
            benchmark=StepBenchmark({"lr": 1e-3}, "SGD", {"lr": 1e-3}, 12),
        ),
        OptimizerInfo(
            "momentum",
            SGD,
            first,
            "§8.3.2, Algorithm 8.2 (Polyak 1964)",
            preset={"momentum": 0.9},
            lecture=LectureRecipe({"lr": 0.05}, accuracy=0.6),
            contract={"lr": 0.003},
            benchmark=StepBenchmark({"lr": 1e-3}, "SGD", {"lr": 1e-3, "momentum": 0.9}, 20),
        ),
        OptimizerInfo(
            "nesterov",
            SGD,
            first,
            "§8.3.3, Algorithm 8.3 (Sutskever et al. 2013)",
            preset={"momentum": 0.9, "nesterov": True},
            lecture=LectureRecipe({"lr": 0.05}, accuracy=0.6),
            contract={"lr": 0.003},
            benchmark=StepBenchmark(
                {"lr": 1e-3}, "SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, 20
            ),
        ),
        OptimizerInfo(
            "adagrad",
            Adagrad,
            first,
            "§8.5.1, Algorithm 8.4 (Duchi et al. 2011)",
            lecture=LectureRecipe({"lr": 0.05}, accuracy=0.6),
            contract={"lr": 0.1},
            benchmark=StepBenchmark({"lr": 1e-2, "eps": 1e-10}, "Adagrad", {"lr": 1e-2}, 20),
        ),
        OptimizerInfo(
            "rmsprop",
            RMSprop,
            first,
            "§8.5.2, Algorithms 8.5 and 8.6 (Hinton 2012)",
            lecture=LectureRecipe({"lr": 0.001}, accuracy=0.6),
            contract={"lr": 0.01},
            variants={
                "rmsprop_nesterov": {"lr": 0.01, "momentum": 0.9, "nesterov": True},
                "rmsprop_centered": {"lr": 0.01, "centered": True, "momentum": 0.5},
            },
            benchmark=StepBenchmark({"lr": 1e-3}, "RMSprop", {"lr": 1e-3}, 20),
        ),
        OptimizerInfo(
            "adam",
            Adam,
            first,
            "§8.5.3, Algorithm 8.7 (Kingma & Ba 2015)",
            lecture=LectureRecipe({"lr": 0.001}, accuracy=0.6),
            contract={"lr": 0.01},
            variants={"adam_amsgrad": {"lr": 0.01, "amsgrad": True}},
            benchmark=StepBenchmark({"lr": 1e-3}, "Adam", {"lr": 1e-3}, 28),
            benchmark_variants={
                "adam_ema": StepBenchmark({"lr": 1e-3, "use_ema": True}, None, {}, 40)
            },
        ),
        OptimizerInfo(
            "adamw",
            AdamW,
            first,
            "Loshchilov & Hutter 2019, Algorithm 2",
            lecture=LectureRecipe({"lr": 0.001}, accuracy=0.6),
            contract={"lr": 0.01},
            benchmark=StepBenchmark({"lr": 1e-3}, "AdamW", {"lr": 1e-3}, 28),
        ),
        OptimizerInfo(
            "nadam",
            NAdam,
            first,
            "Dozat 2016, Algorithm 2",
            lecture=LectureRecipe({"lr": 0.002}, accuracy=0.6),
            contract={"lr": 0.1},
            benchmark=StepBenchmark({"lr": 1e-3}, "NAdam", {"lr": 1e-3}, 28),
        ),
        OptimizerInfo(
            "radam",
            RAdam,
            first,
            "Liu et al. 2020, Algorithm 2",
            lecture=LectureRecipe({"lr": 0.003}, accuracy=0.6),
            contract={"lr": 0.1, "clipnorm": 1.0},
            benchmark=StepBenchmark({"lr": 1e-3}, "RAdam", {"lr": 1e-3}, 28),
        ),
        OptimizerInfo(
            "adamax",
            Adamax,
            first,
            "Kingma & Ba 2015, Algorithm 2",
            lecture=LectureRecipe({"lr": 0.002}, accuracy=0.6),
            contract={"lr": 0.1},
            benchmark=StepBenchmark({"lr": 1e-3}, "Adamax", {"lr": 1e-3}, 28),
        ),
        OptimizerInfo(
            "adadelta",
            Adadelta,
            first,
            "Zeiler 2012, Algorithm 1",
            lecture=LectureRecipe({"lr": 1.0}, accuracy=0.6),
            contract={"lr": 1.0},
            benchmark=StepBenchmark({"lr": 1.0}, "Adadelta", {"lr": 1.0}, 28),
        ),
        OptimizerInfo(
            "rprop",
            Rprop,
            first,
            "Riedmiller & Braun 1993; iRprop⁻ of Igel & Hüsken 2000",
            lecture=LectureRecipe({"lr": 0.001}, accuracy=0.6),
            contract={"lr": 0.01},
            benchmark=StepBenchmark({"lr": 1e-3}, "Rprop", {"lr": 1e-3}, 28),
        ),
        OptimizerInfo(
            "adabelief",
            AdaBelief,
            first,
            "Zhuang et al. 2020, Algorithm 2",
            lecture=LectureRecipe({"lr": 0.001}, accuracy=0.6),
            contract={"lr": 0.1},
            benchmark=StepBenchmark({"lr": 1e-3}, None, {}, 28),
        ),
        OptimizerInfo(
            "lion",
            Lion,
            first,
            "Chen et al. 2023, Algorithm 2",
            lecture=LectureRecipe({"lr": 1e-3}, accuracy=0.6),
            contract={"lr": 0.03},
            benchmark=StepBenchmark({"lr": 1e-4}, None, {}, 20),
        ),
        OptimizerInfo(
            "lamb",
            Lamb,
            first,
            "You et al. 2020, Algorithm 2",
            lecture=LectureRecipe({"lr": 0.01}, accuracy=0.6),
            contract={"lr": 0.05},
            benchmark=StepBenchmark({"lr": 1e-3}, None, {}, 40),
        ),
        OptimizerInfo(
            "lars",
            LARS,
            first,
            "You, Gitman & Ginsburg 2017, Algorithm 1",
            lecture=LectureRecipe({"lr": 1.0}, accuracy=0.6),
            contract={"lr": 10.0},
            benchmark=StepBenchmark({"lr": 1e-3}, None, {}, 28),
        ),
        OptimizerInfo(
            "adafactor",
            Adafactor,
            first,
            "Shazeer & Stern 2018, Algorithms 4 and 5",
            lecture=LectureRecipe({"lr": 0.01}, accuracy=0.6),
            contract={"lr": 0.1},
            benchmark=StepBenchmark({"lr": 1e-3}, "Adafactor", {"lr": 1e-3}, 32),
        ),
        OptimizerInfo(
            "muon",
            Muon,
            first,
            "Jordan et al. 2024",
            lecture=LectureRecipe({"lr": 0.02}, accuracy=0.6),
            contract={"lr": 0.05, "ns_dtype": None},
        ),
        OptimizerInfo(
            "schedule_free_sgd",
            ScheduleFreeSGD,
            first,
            "Defazio et al. 2024, §2",
            lecture=LectureRecipe({"lr": 0.5}, accuracy=0.6),
            contract={"lr": 0.01},
            benchmark=StepBenchmark({"lr": 1e-3}, None, {}, 20),
        ),
        OptimizerInfo(
            "schedule_free_adamw",
            ScheduleFreeAdamW,
            first,
            "Defazio et al. 2024, Algorithm 1",
            lecture=LectureRecipe({"lr": 0.0025}, accuracy=0.6),
            contract={"lr": 0.05},
            benchmark=StepBenchmark({"lr": 1e-3}, None, {}, 28),
        ),
        OptimizerInfo(
            "newton",
            Newton,
            second,
            "§8.6.1, Algorithm 8.8",
            lecture=LectureRecipe(
                {}, accuracy=0.3, batch_size=None, epochs=4, hidden=2, samples=500
            ),
        ),
        OptimizerInfo(
            "cg",
            ConjugateGradient,
            second,
            "§8.6.2, Algorithm 8.9",
            lecture=LectureRecipe({}, accuracy=0.6, batch_size=None, epochs=10, samples=3000),
        ),
        OptimizerInfo(
            "bfgs",
            BFGS,
            second,
            "§8.6.3; Nocedal & Wright, Algorithm 6.1",
            lecture=LectureRecipe(
                {}, accuracy=0.4, batch_size=None, epochs=3, hidden=4, samples=2000
            ),
        ),
        OptimizerInfo(
            "lbfgs",
            LBFGS,
            second,
            "§8.6.3; Nocedal & Wright, Algorithms 7.4 and 7.5",
            lecture=LectureRecipe({}, accuracy=0.65, batch_size=None, epochs=3, samples=3000),
        ),
        OptimizerInfo(
            "coordinate_descent",
            CoordinateDescent,
            second,
            "§8.7.2 (Wright 2015; Tseng & Yun 2009)",
            lecture=LectureRecipe(
                {"max_cg_iter": 10}, accuracy=0.7, batch_size=None, epochs=3, samples=2000
            ),
            variants={"block_coordinate_line_search": {"solver": "line_search"}},
        ),
        OptimizerInfo(
            "hessian_free",
            HessianFree,
            second,
            "Martens 2010",
            lecture=LectureRecipe(
                {"damping": 0.1}, accuracy=0.6, batch_size=None, epochs=3, samples=3000
            ),
            # A plain loop has no layers to tap for the diagonal preconditioner.
            contract={"max_cg_iter": 10, "preconditioner": None},
        ),
        OptimizerInfo(
            "kfac",
            KFAC,
            second,
            "Martens & Grosse 2015",
            # At the lecture's batch of 128 the quadratic model takes the whole minibatch
            # (min_curvature_examples), not M&G's quarter of it.
            lecture=LectureRecipe({}, accuracy=0.6),
            # A plain loop gives no model outputs for the adaptive step's quadratic model.
            contract={"adaptive": False, "lr": 0.003, "momentum": 0.9},
        ),
        OptimizerInfo(
            "shampoo",
            Shampoo,
            second,
            "Gupta, Koren & Singer 2018, Algorithms 1 and 2",
            lecture=LectureRecipe({"lr": 0.1}, accuracy=0.6),
            contract={"lr": 0.1},
        ),
        OptimizerInfo(
            "continuation",
            Continuation,
            wrapper,
            "§8.7.6 (Gaussian homotopy, Mobahi & Fisher 2015)",
            factory=_wrapped(
                Continuation,
                sigmas=(0.1, 0.0),
                steps_per_stage=100,
                samples=2,
                antithetic=True,
                seed=0,
            ),
            lecture=LectureRecipe({"lr": 0.1, "sigmas": (0.01, 0.0)}, accuracy=0.6),
            contract={"lr": 0.01},
        ),
        OptimizerInfo(
            "lookahead",
            Lookahead,
            wrapper,
            "Zhang et al. 2019, Algorithm 1",
            factory=_wrapped(Lookahead, k=5, alpha=0.5),
            lecture=LectureRecipe({"lr": 0.1}, accuracy=0.6),
            contract={"lr": 0.01},
            variants={"lookahead_momentum": {"base": "momentum", "lr": 0.003, "k": 2}},
            # k = 1: every step synchronizes, the pass that has something to gain.
            benchmark=StepBenchmark({"lr": 1e-3, "k": 1}, None, {}, 28),
        ),
        OptimizerInfo(
            "sam",
            SAM,
            wrapper,
            "Foret et al. 2021, Algorithm 1; ASAM of Kwon et al. 2021",
            factory=_wrapped(SAM, rho=0.05, adaptive=False, eta=0.01),
            lecture=LectureRecipe({"lr": 0.1}, accuracy=0.6),
            contract={"lr": 0.01},
            variants={"asam_momentum": {"base": "momentum", "lr": 0.003, "adaptive": True}},
        ),
    ]


#: name → entry, in the order the chapter presents the methods.
CATALOGUE: dict[str, OptimizerInfo] = {entry.name: entry for entry in _entries()}


def info(name: str) -> OptimizerInfo:
    """The entry named ``name`` (matched without case, ``_`` or ``-``); a ``ValueError``
    listing the valid names otherwise."""
    return lookup("optimizer", name, CATALOGUE)


def names(family: str | None = None) -> list[str]:
    """The catalogue's names, in its order, optionally of one family."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"Invalid family: {family!r} (expected one of {', '.join(FAMILIES)})")
    return [name for name, entry in CATALOGUE.items() if family in (None, entry.family)]


def classes() -> dict[str, type[Optimizer]]:
    """Class name → class of every catalogue entry, for reading saved configs."""
    return {entry.cls.__name__: entry.cls for entry in CATALOGUE.values()}
