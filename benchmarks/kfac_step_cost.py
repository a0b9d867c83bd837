"""K-FAC's cost per epoch on the deep autoencoder of ``second_order.py --only autoencoder``,
against Adam and, with ``--baseline``, against another version of ``kfac.py``, in one run.

The same initial weights, data and batch sizes as that section (K-FAC at ``--kfac-batch``,
Adam at ``--adam-batch`` with lr ``--adam-rate``); the epochs are interleaved across the
runs (each sees the same machine load) and timed in process CPU time, which the other jobs
of a shared machine move less than wall time. Prints each epoch's seconds and test error,
then the median over epochs 2 and later of each K-FAC's seconds over Adam's and of this
tree's K-FAC over the baseline (the first epoch holds one-time costs).

``--baseline FILE``: a ``kfac.py`` of another version, loaded as a module of its own
against this tree's other modules (so only versions whose ``kfac.py`` uses interfaces this
tree still has), e.g. the one before issue 13's cost work::

    git show 88ced64:src/deepdescent/optimizers/second_order/kfac.py > /tmp/kfac_88ced64.py
    python benchmarks/kfac_step_cost.py --baseline /tmp/kfac_88ced64.py [--epochs 6]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics

import torch

# torch imports this (and sympy, half a second) at the first torch.autograd.grad of the
# process: imported here, it is charged to no run.
import torch.fx.experimental.symbolic_shapes
from second_order import AutoencoderRun, autoencoder_problem, options_autoencoder

from deepdescent.optimizers.first_order.adam import Adam
from deepdescent.optimizers.second_order.kfac import KFAC


def load_kfac(path: str) -> type:
    """The ``KFAC`` class of the ``kfac.py`` at ``path``."""
    spec = importlib.util.spec_from_file_location("kfac_baseline", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"Invalid --baseline: {path!r} (expected a kfac.py file)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.KFAC


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--baseline", help="another version's kfac.py")
    parser.add_argument("--adam-rate", type=float, default=1e-3)
    parser.add_argument("--device", default="cpu")
    options_autoencoder(parser)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first is left out), got {args.epochs}")
    torch.set_num_threads(1)
    data, initial = autoencoder_problem(args)
    makers = [
        ("Adam", lambda: Adam(learning_rate=args.adam_rate), args.adam_batch),
        ("K-FAC", KFAC, args.kfac_batch),
    ]
    if args.baseline:
        makers.append(("K-FAC baseline", load_kfac(args.baseline), args.kfac_batch))
    runs = [AutoencoderRun(name, make, batch, initial, args) for name, make, batch in makers]
    print("| epoch | " + " | ".join(f"{r.name} CPU s (test error)" for r in runs) + " |")
    print("| ---: |" + " ---: |" * len(runs))
    for epoch in range(args.epochs):
        for run in runs:
            run.epoch(data)
        cells = [f"{r.cpu_seconds[-1]:.2f} ({r.test_errors[-1]:.2f})" for r in runs]
        print(f"| {epoch + 1} | " + " | ".join(cells) + " |", flush=True)
    adam, kfacs = runs[0], runs[1:]
    for run in kfacs:
        print(f"{run.name} / Adam, CPU per epoch: {median_ratio(run, adam):.2f}x")
    if args.baseline:
        print(f"K-FAC / K-FAC baseline, CPU per epoch: {median_ratio(kfacs[0], kfacs[1]):.3f}x")


def median_ratio(run: AutoencoderRun, peer: AutoencoderRun) -> float:
    """The median over epochs 2 and later of the run's CPU seconds over the peer's."""
    pairs = zip(run.cpu_seconds[1:], peer.cpu_seconds[1:], strict=True)
    return statistics.median(mine / theirs for mine, theirs in pairs)


if __name__ == "__main__":
    main()
