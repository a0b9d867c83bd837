"""Sparse coding by alternating exact minimizations (Goodfellow et al. §8.7.2).

The chapter's example of block coordinate descent:

    J(H, W) = λ Σᵢⱼ |Hᵢⱼ| + Σᵢⱼ (X − WᵀH)²ᵢⱼ

is not convex, but it is convex in the codes H alone and in the dictionary W alone, and
each of those sub-problems is easy: over one code Hᵢⱼ it is minimized exactly by soft
thresholding, over W it is least squares. ``CoordinateDescent`` does both: the codes as
coordinate blocks with ``l1=λ``, the dictionary as one tensor block (its Newton step is
the least-squares solution). Each half-step minimizes J exactly over its block, so J can
only go down.

The data: m = 100 signals of dimension d = 12, each a combination of 2 of k = 6 unit-norm
atoms plus noise. The figure plots J after each half-step (codes, then dictionary); the
script prints it, the fraction of codes the L1 term set to 0, and the atoms' norms.

What it shows (seed 0, λ = 1, 10 sweeps): J falls at every half-step, from 186 to 18,
and a quarter of the codes are exactly 0. The atoms' norms grow (from about 3.5 to
7–22): the chapter's J has no bound on W, and scaling an atom up while its codes shrink
always lowers λΣ|H| — which is why sparse coding in practice constrains ‖Wᵢ‖ ≤ 1
(Mairal et al. 2009); this example keeps the chapter's form, whose point is that each
exact block minimization can only lower J.

Run: ``python examples/coordinate_descent.py [--sweeps 12] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import sys

import torch

from deepdescent.optimizers import CoordinateDescent


def signals(
    dimension: int = 12, atoms: int = 6, samples: int = 100, active: int = 2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """X = DᵀC + noise (d × m) and the true dictionary D (k × d, unit-norm rows): each
    column of C has ``active`` non-zero codes."""
    generator = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(atoms, dimension, generator=generator, dtype=torch.float64)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    chosen = torch.rand(atoms, samples, generator=generator).argsort(dim=0) < active
    codes = torch.randn(atoms, samples, generator=generator, dtype=torch.float64) * chosen
    noise = 0.05 * torch.randn(dimension, samples, generator=generator, dtype=torch.float64)
    return dictionary.T @ codes + noise, dictionary


def objective(x: torch.Tensor, w: torch.Tensor, h: torch.Tensor, lam: float) -> float:
    """J(H, W) = λ Σ|H| + Σ (X − WᵀH)²."""
    return float(lam * h.abs().sum() + ((x - w.T @ h) ** 2).sum())


def learn(
    x: torch.Tensor, atoms: int, lam: float = 1.0, sweeps: int = 10, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Alternate exact minimizations over the codes H and the dictionary W from a random
    start; returns W, H and J at the start and after every half-step."""
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(atoms, x.shape[0], generator=generator, dtype=x.dtype).requires_grad_()
    h = torch.zeros(atoms, x.shape[1], dtype=x.dtype, requires_grad=True)
    codes = CoordinateDescent([h], blocks="coordinate", l1=lam, tolerance_grad=0.0)
    dictionary = CoordinateDescent([w], tolerance_grad=0.0)

    def closure_of(optimizer: CoordinateDescent):
        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            value = ((x - w.T @ h) ** 2).sum()
            value.backward()
            return value

        return closure

    values = [objective(x, w.detach(), h.detach(), lam)]
    for _ in range(sweeps):
        for optimizer in (codes, dictionary):
            optimizer.step(closure_of(optimizer))
            values.append(objective(x, w.detach(), h.detach(), lam))
    return w.detach(), h.detach(), values


def plot(values: list[float], path: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    ax.semilogy([i / 2 for i in range(len(values))], values, marker=".")
    ax.set(
        xlabel="sweep (half-steps: codes H, then dictionary W)",
        ylabel="J(H, W)",
        title="Sparse coding by block coordinate descent",
    )
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--lam", type=float, default=1.0)
    parser.add_argument("--out", default="coordinate_descent.png")
    args = parser.parse_args(argv)
    x, dictionary = signals()
    w, h, values = learn(x, dictionary.shape[0], args.lam, args.sweeps)
    sys.stdout.write("J per half-step: " + " ".join(f"{v:.4g}" for v in values) + "\n")
    sys.stdout.write(f"codes set to 0: {float((h == 0).double().mean()):.0%}\n")
    norms = " ".join(f"{n:.3g}" for n in w.norm(dim=1).tolist())
    sys.stdout.write(f"atom norms: {norms}\n")
    plot(values, args.out)
    sys.stdout.write(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()
