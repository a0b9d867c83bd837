"""The optimizer catalogue: every entry builds (bound and unbound) with each of the
settings it names, its declarations agree with the class it builds, nothing exported is
left out, and the names are the look-up's, in the chapter's order."""

from __future__ import annotations

import re

import pytest
import torch

from deepdescent import optimizers
from deepdescent.optimizers import SAM, SGD, Adam, Lookahead, OptimizerWrapper, catalogue
from deepdescent.optimizers.catalogue import CATALOGUE, FAMILIES, info, names

ENTRIES = list(CATALOGUE.values())
ids = [entry.name for entry in ENTRIES]


def _param():
    return torch.nn.Parameter(torch.linspace(-1.0, 1.0, 6))


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_every_entry_builds_unbound_and_bound(entry):
    spec = entry.build()
    assert isinstance(spec, entry.cls) and not spec.is_bound
    param = _param()
    bound = entry.build([param])
    assert isinstance(bound, entry.cls) and bound.is_bound
    assert [p for group in bound.param_groups for p in group["params"]] == [param]


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_every_setting_an_entry_names_builds(entry):
    """The lecture recipe, the contract settings and variants and the benchmark row are
    read elsewhere (real-data tests, the benchmark); a misspelt argument fails here."""
    settings = [entry.lecture.kwargs, entry.contract, *entry.variants.values()]
    cases = [entry.benchmark] if entry.benchmark is not None else []
    for case in [*cases, *entry.benchmark_variants.values()]:
        settings.append(case.kwargs)
        if case.torch_name is not None:
            twin = getattr(torch.optim, case.torch_name)
            twin([_param()], **case.torch_kwargs)
    for kwargs in settings:
        assert isinstance(entry.build([_param()], **kwargs), entry.cls)
    assert 0.1 < entry.lecture.accuracy < 1.0


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_needs_closure_is_what_the_built_optimizer_requires(entry):
    built = entry.build([_param()])
    assert entry.needs_closure is built.requires_closure is built.needs().closure


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_get_by_name_is_the_entrys_build(entry):
    got, built = optimizers.get(entry.name), entry.build()
    assert type(got) is type(built)
    assert got.get_config() == built.get_config()
    assert optimizers.get(entry.name.upper().replace("_", "-")).get_config() == built.get_config()


def test_every_exported_optimizer_class_is_in_the_catalogue():
    exported = {
        getattr(optimizers, name)
        for name in optimizers.__all__
        if isinstance(getattr(optimizers, name), type)
        and issubclass(getattr(optimizers, name), torch.optim.Optimizer)
    }
    abstract = {optimizers.Optimizer, OptimizerWrapper}
    assert exported - abstract == {entry.cls for entry in ENTRIES}
    assert catalogue.classes() == {cls.__name__: cls for cls in exported - abstract}


def test_names_are_unique_across_entries_and_variants():
    """The contract table merges entries and variants by name: a clash would drop a case."""
    entries = [entry.name for entry in catalogue._entries()]
    variants = [name for entry in ENTRIES for name in entry.variants]
    every = entries + variants
    assert len(set(every)) == len(every) and list(CATALOGUE) == entries
    assert all(CATALOGUE[name].name == name for name in CATALOGUE)


def _book_section(entry):
    found = re.match(r"§(\d+)\.(\d+)\.(\d+)", entry.section)
    return tuple(int(part) for part in found.groups()) if found else None


def test_families_in_order_and_the_books_methods_in_the_books_order():
    families = [entry.family for entry in ENTRIES]
    assert set(families) == set(FAMILIES)
    assert families == sorted(families, key=FAMILIES.index)
    for family in FAMILIES:
        sections = [_book_section(CATALOGUE[name]) for name in names(family)]
        in_book = [s for s in sections if s is not None]
        # The book's methods first, in the order of its sections; papers after them.
        assert sections[: len(in_book)] == in_book == sorted(in_book)
    assert names()[:6] == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
    assert names("second_order")[:4] == ["newton", "cg", "bfgs", "lbfgs"]


def test_names_by_family():
    assert names() == list(CATALOGUE)
    assert names("wrapper") == ["continuation", "lookahead", "sam"]
    assert set(names("first_order")) | set(names("second_order")) | set(names("wrapper")) == set(
        CATALOGUE
    )
    with pytest.raises(ValueError) as caught:
        names("zeroth_order")
    assert str(caught.value) == (
        "Invalid family: 'zeroth_order' (expected one of first_order, second_order, wrapper)"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Adam", "adam"),
        ("schedule-free-sgd", "schedule_free_sgd"),
        ("ScheduleFreeAdamW", "schedule_free_adamw"),
        ("HESSIAN_FREE", "hessian_free"),
        ("l-bfgs", "lbfgs"),
    ],
)
def test_info_matches_loosely(name, expected):
    assert info(name) is CATALOGUE[expected]


def test_info_error_lists_every_name_and_suggests_one():
    with pytest.raises(ValueError) as caught:
        info("adamm")
    message = str(caught.value)
    assert message.startswith("Unknown optimizer 'adamm'. Did you mean 'adam")
    listed = message.split("Valid names: ")[1].rstrip(".").split(", ")
    assert listed == sorted(CATALOGUE)


def test_presets_make_momentum_and_nesterov_and_arguments_override_them():
    def group(name, **kwargs):
        return info(name).build([_param()], **kwargs).param_groups[0]

    assert (group("sgd")["momentum"], group("sgd")["nesterov"]) == (0.0, False)
    assert (group("momentum")["momentum"], group("momentum")["nesterov"]) == (0.9, False)
    assert (group("nesterov")["momentum"], group("nesterov")["nesterov"]) == (0.9, True)
    assert group("momentum", momentum=0.5)["momentum"] == 0.5


@pytest.mark.parametrize(("name", "nesterov"), [("momentum", False), ("nesterov", True)])
def test_a_preset_steps_as_torch_sgd_with_that_momentum(name, nesterov):
    ours, theirs = _param(), _param()
    optimizer = info(name).build([ours], lr=0.1)
    reference = torch.optim.SGD([theirs], lr=0.1, momentum=0.9, nesterov=nesterov)
    for _ in range(4):
        for param, opt in ((ours, optimizer), (theirs, reference)):
            opt.zero_grad()
            (param**4).sum().backward()
            opt.step()
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_wrapper_factories_build_the_base_entry_with_the_wrappers_options():
    lookahead = info("lookahead").build([_param()], base="adam", lr=0.01, k=3)
    assert isinstance(lookahead, Lookahead) and (lookahead.k, lookahead.alpha) == (3, 0.5)
    assert type(lookahead.base_optimizer) is Adam and lookahead.learning_rate == 0.01
    sam = info("sam").build(base="momentum", rho=0.1)
    assert isinstance(sam, SAM) and not sam.is_bound and sam.rho == 0.1
    base = sam.base_optimizer
    assert type(base) is SGD and base.get_config() == info("momentum").build().get_config()
    default = info("lookahead").build()
    assert type(default.base_optimizer) is SGD and (default.k, default.alpha) == (5, 0.5)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'"):
        info("sam").build(base="adamm")


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_every_method_with_a_fused_body_has_a_step_benchmark_row(entry):
    """The step benchmark shows each fused body against the memory bound: an entry whose
    class has one (a torch kernel or a compiled body) without a row would go unmeasured."""
    if entry.cls._has_fused_body():
        assert entry.benchmark is not None
