"""Skip connections make a deep network trainable (Goodfellow et al. §8.7.5).

Thirty hidden layers of 32 sigmoid units between an affine input layer and a softmax
output, two ways: plain, and each hidden layer wrapped in ``Residual``
(h ← h + σ(Wh + b)). On four Gaussian clusters in 16 dimensions
(:func:`deepdescent.datasets.gaussian_blobs`, 1,000 points), the script measures at
initialization the norm of the loss's gradient with respect to each hidden layer's
weights, and trains each network with Adam (ε = 10⁻³, batch 32). The figure shows both.

What it shows (seed 0, 10 epochs): in the plain network the gradient reaching the first
hidden layer is 10⁻¹⁸ of the last one's — each sigmoid multiplies it by at most 1/4 —
and the network does not train (loss stays at log 4 ≈ 1.39). With skip connections the
gradients are level across depth (within a factor of 13) and the loss falls from 0.29
after the first epoch to 0.035.

Run: ``python examples/residual.py [--epochs 10] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from deepdescent.datasets import gaussian_blobs
from deepdescent.layers import Dense, Residual
from deepdescent.models import Sequential
from deepdescent.optimizers import Adam
from deepdescent.utils import set_random_seed

VARIANTS = ("plain", "residual")


def network(variant: str, inputs: int, classes: int, depth: int = 30, width: int = 32):
    """The input layer, ``depth`` sigmoid layers (plain or residual) and a softmax output."""
    layers: list[torch.nn.Module] = [Dense(width, input_shape=(inputs,))]
    for _ in range(depth):
        hidden = Dense(width, activation="sigmoid")
        layers.append(Residual(hidden) if variant == "residual" else hidden)
    layers.append(Dense(classes, activation="softmax"))
    model = Sequential(layers)
    model.compile(Adam(lr=1e-3), "categorical_crossentropy")
    return model


def hidden_kernels(model: Sequential) -> list[torch.Tensor]:
    """The kernels of the sigmoid layers, from the input up (inside Residual too)."""
    kernels = []
    for layer in model.layers:
        inner = layer.layers[0] if isinstance(layer, Residual) else layer
        if isinstance(inner, Dense) and inner.activation_name == "sigmoid":
            kernels.append(inner.kernel)
    return kernels


def gradient_norms(model: Sequential, x: np.ndarray, y: np.ndarray) -> list[float]:
    """‖∂L/∂W⁽ˡ⁾‖ of the loss L on (x, y), for each hidden layer l."""
    assert model.loss is not None
    loss = model.loss(torch.as_tensor(y), model(torch.as_tensor(x)))
    return [float(g.norm()) for g in torch.autograd.grad(loss, hidden_kernels(model))]


def run(
    samples: int = 1000, depth: int = 30, epochs: int = 10, seed: int = 0
) -> dict[str, tuple[list[float], list[float]]]:
    """variant → (gradient norm per hidden layer at initialization, loss per epoch on the
    training set)."""
    x, y = gaussian_blobs(samples=samples, dimensions=16, classes=4, seed=seed)
    results = {}
    for variant in VARIANTS:
        set_random_seed(seed)
        model = network(variant, x.shape[1], y.shape[1], depth)
        norms = gradient_norms(model, x[:256], y[:256])
        losses = []
        for _ in range(epochs):
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            losses.append(float(model.evaluate(x, y, verbose=0)))  # type: ignore[arg-type]
        results[variant] = (norms, losses)
    return results


def plot(results: dict[str, tuple[list[float], list[float]]], path: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    gradients, curves = figure.subplots(1, 2)
    for variant, (norms, losses) in results.items():
        gradients.semilogy(range(1, len(norms) + 1), norms, marker=".", label=variant)
        curves.plot(range(1, len(losses) + 1), losses, marker="o", label=variant)
    gradients.set(xlabel="hidden layer l", ylabel="‖∂L/∂W⁽ˡ⁾‖ at initialization")
    curves.set(xlabel="epoch", ylabel="training loss", yscale="log")
    gradients.legend()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="residual.png")
    args = parser.parse_args(argv)
    results = run(epochs=args.epochs)
    for variant, (norms, losses) in results.items():
        sys.stdout.write(
            f"{variant:16} gradient first/last layer {norms[0] / norms[-1]:.2g}  "
            f"loss {losses[0]:.3f} -> {losses[-1]:.3f}\n"
        )
    plot(results, args.out)
    sys.stdout.write(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()
