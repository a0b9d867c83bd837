"""Memory over a long run: 1,000+ short epochs of a tiny model, against a hand-written
PyTorch loop of the same epochs in the same process.

Two ways of running long are measured, each after a warm-up (the first epochs allocate
torch's caches): one ``fit`` of many epochs, with the callbacks that keep state
(History, EarlyStopping, ReduceLROnPlateau, Polyak averaging, a progress bar writing to
nowhere) and Adam; and many ``fit`` calls of one epoch each on the same model (what a
hyperparameter loop does). The script prints the resident set size (RSS) and the Python
heap (tracemalloc) at checkpoints, and the growth per epoch against the peer's. What the
run keeps by design grows too: the History holds one float per metric and epoch and the
epoch's index (about 250 bytes an epoch here); the script prints that figure beside the
heap's growth.

    python benchmarks/long_run_memory.py [--epochs 1200] [--every 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tracemalloc

import numpy as np
import torch

SAMPLES, FEATURES, CLASSES, BATCH = 64, 8, 3, 16


def rss_bytes() -> int:
    """The process's resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype("float32")
    return x, np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, SAMPLES)]


def deepdescent_model():
    from deepdescent.layers import Dense
    from deepdescent.models import Sequential
    from deepdescent.utils import set_random_seed

    set_random_seed(0)
    model = Sequential(
        [Dense(16, activation="relu", input_shape=(FEATURES,)), Dense(CLASSES, "softmax")]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def stateful_callbacks() -> list:
    from deepdescent import callbacks

    return [
        callbacks.EarlyStopping(monitor="val_loss", patience=10**6),
        callbacks.ReduceLROnPlateau(monitor="val_loss", patience=10**6),
        callbacks.PolyakAveraging(),
        callbacks.ProgbarLogger(stream=open(os.devnull, "w")),
    ]


class Samples:
    """Memory at checkpoints: (epoch, RSS, Python heap)."""

    def __init__(self) -> None:
        self.points: list[tuple[int, int, int]] = []

    def take(self, epoch: int) -> None:
        self.points.append((epoch, rss_bytes(), tracemalloc.get_traced_memory()[0]))

    def growth_per_epoch(self) -> tuple[float, float]:
        """Bytes per epoch of RSS and heap, from the first checkpoint to the last."""
        (e0, r0, h0), (e1, r1, h1) = self.points[0], self.points[-1]
        return (r1 - r0) / (e1 - e0), (h1 - h0) / (e1 - e0)


def one_long_fit(epochs: int, every: int) -> tuple[Samples, int]:
    from deepdescent import callbacks

    samples = Samples()

    class Checkpoints(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % every == 0:
                samples.take(epoch + 1)

    model = deepdescent_model()
    x, y = data()
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        verbose=1,
        validation_split=0.25,
        callbacks=[*stateful_callbacks(), Checkpoints()],
    )
    kept = [*history.history.values(), history.epoch]
    by_design = sum(sys.getsizeof(v) + sum(sys.getsizeof(f) for f in v) for v in kept)
    return samples, by_design


def many_fits(epochs: int, every: int) -> Samples:
    samples = Samples()
    model = deepdescent_model()
    x, y = data()
    for epoch in range(1, epochs + 1):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, validation_split=0.25)
        if epoch % every == 0:
            samples.take(epoch)
    return samples


def torch_loop(epochs: int, every: int) -> Samples:
    """The peer: a hand-written loop of the same work (Adam, a permutation per epoch,
    validation each epoch)."""
    samples = Samples()
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in data())
    labels = y.argmax(1)
    split = int(SAMPLES * 0.75)
    net = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, CLASSES)
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        for index in torch.randperm(split).split(BATCH):
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x[index]), labels[index]).backward()
            optimizer.step()
        with torch.no_grad():
            torch.nn.functional.cross_entropy(net(x[split:]), labels[split:]).item()
        if epoch % every == 0:
            samples.take(epoch)
    return samples


def report(name: str, samples: Samples, peer: tuple[float, float]) -> None:
    rss, heap = samples.growth_per_epoch()
    points = ", ".join(f"{e}: {r / 2**20:.1f}/{h / 2**10:.0f}" for e, r, h in samples.points)
    print(f"{name:<22}{rss:>14.1f}{heap:>14.1f}{heap - peer[1]:>14.1f}  {points}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1200)
    parser.add_argument("--every", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tracemalloc.start()
    # Warm-up: torch's and the trainer's one-off allocations come before the measures.
    deepdescent_model().fit(*data(), epochs=20, verbose=0, validation_split=0.25)
    torch_loop(20, 20)
    peer = torch_loop(args.epochs, args.every)
    long_fit, by_design = one_long_fit(args.epochs, args.every)
    fits = many_fits(args.epochs, args.every)
    print(
        f"memory over {args.epochs} epochs of a {FEATURES}-16-{CLASSES} network, "
        f"{SAMPLES} samples, batch {BATCH}; torch {torch.__version__}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'run':<22}{'RSS B/epoch':>14}{'heap B/epoch':>14}{'heap vs peer':>14}  "
        "epoch: RSS MiB/heap KiB"
    )
    peer_growth = peer.growth_per_epoch()
    report("hand-written loop", peer, peer_growth)
    report("one long fit", long_fit, peer_growth)
    report("one fit per epoch", fits, peer_growth)
    print(
        f"kept by design in the long fit's History: {by_design / args.epochs:.1f} B/epoch "
        f"({by_design / 2**10:.0f} KiB after {args.epochs} epochs)"
    )


if __name__ == "__main__":
    main()
