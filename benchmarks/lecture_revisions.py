"""The lecture's ``fit`` under two versions of deepdescent, epoch by epoch in turn.

For a change that must not slow training down ("the lecture fit is no slower"): two
long-lived processes, one per source tree, each holding the lecture's network on
Fashion-MNIST, take turns running one epoch of ``fit`` (SGD, batch 128, 10% validation
split), so that the load of a shared machine falls on both alike. Printed: each version's
median and minimum epoch time, and the median of the paired ratios.

    git worktree add /tmp/before <commit>
    python benchmarks/lecture_revisions.py /tmp/before/src src [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time
from deepdescent.datasets import fashion_mnist
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed, to_categorical

(x, y), _ = fashion_mnist.load_data()
x = x.reshape(len(x), -1).astype("float32") / 255
y = to_categorical(y, 10)
set_random_seed(0)
model = Sequential(
    [Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
)
model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=128, epochs=1, verbose=0, validation_split=0.1)
print("ready", flush=True)
for _ in sys.stdin:
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0, validation_split=0.1)
    print(time.perf_counter() - start, flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="the first version's src folder")
    parser.add_argument("after", help="the second version's src folder")
    parser.add_argument("--epochs", type=int, default=30, help="epochs timed per version")
    args = parser.parse_args()
    sources = {"before": args.before, "after": args.after}
    workers = {
        name: subprocess.Popen(
            [sys.executable, "-c", CHILD],
            env=dict(os.environ, PYTHONPATH=os.path.abspath(path)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, path in sources.items()
    }
    for worker in workers.values():
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    times: dict[str, list[float]] = {name: [] for name in sources}
    for epoch in range(args.epochs):
        order = list(sources) if epoch % 2 == 0 else list(reversed(sources))
        for name in order:
            worker = workers[name]
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
            times[name].append(float(worker.stdout.readline()))
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    print(f"lecture fit, one epoch per turn, {args.epochs} turns each, {os.cpu_count()} CPUs")
    for name, seconds in times.items():
        print(
            f"{name:<7} median {statistics.median(seconds):.3f} s, min {min(seconds):.3f} s  "
            f"({sources[name]})"
        )
    ratios = [a / b for a, b in zip(times["after"], times["before"], strict=True)]
    print(f"after / before: median of paired ratios {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
