"""Where an optimizer's defaults differ from torch.optim's or Keras 3's, and what
``convention="torch"`` / ``"keras"`` sets to give that peer's iterates.

deepdescent's defaults (``convention="book"``, the default) follow the book where it says
(δ's place in RMSProp and AdaGrad, a strong-Wolfe line search for L-BFGS) and Keras's
learning rates elsewhere. Each entry below lists, per peer, the arguments whose default
differs, with the peer's value; an argument the caller gives explicitly always wins. The
README's table is this one.
"""

from __future__ import annotations

from typing import Any

from deepdescent.utils._checks import check_argument

__all__ = ["CONVENTIONS", "PEERS", "convention_defaults"]

PEERS = ("book", "torch", "keras")

#: class name → peer → {argument: the peer's default}, for the defaults that differ.
CONVENTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "SGD": {"torch": {"lr": 1e-3}},
    "Adam": {"keras": {"eps": 1e-7, "eps_hat": True}},
    "AdamW": {"keras": {"eps": 1e-7, "eps_hat": True, "weight_decay": 0.004}},
    "RMSprop": {
        "torch": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "eps_inside_sqrt": False},
        "keras": {"eps": 1e-7},
    },
    "Adagrad": {
        "torch": {"lr": 1e-2, "eps": 1e-10},
        "keras": {"initial_accumulator_value": 0.1, "eps_inside_sqrt": True},
    },
    "Adadelta": {"keras": {"lr": 1e-3, "rho": 0.95, "eps": 1e-7}},
    "Adamax": {"torch": {"lr": 2e-3}, "keras": {"eps": 1e-7, "eps_in_max": False}},
    "NAdam": {"torch": {"lr": 2e-3}, "keras": {"eps": 1e-7, "momentum_decay": 1.0}},
    "Lion": {"keras": {"lr": 1e-3}},
    "LBFGS": {"torch": {"line_search_fn": None}},
}


def convention_defaults(class_name: str, convention: str) -> dict[str, Any]:
    """The arguments ``convention`` sets for the optimizer class ``class_name`` (empty
    where that peer's defaults are deepdescent's, or for ``"book"``)."""
    check_argument("convention", convention, convention in PEERS, "'book', 'torch' or 'keras'")
    return dict(CONVENTIONS.get(class_name, {}).get(convention, {}))
