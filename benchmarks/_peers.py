"""What the fit benchmarks share: each variant runs in a fresh Python process (so one-off
costs such as imports count alike), rounds are interleaved across variants (so drifts
in a shared machine's load fall on all of them), and the medians are printed with their
ratio to deepdescent.

Each run also reports the CPU seconds of its process for the runner (model, ``fit``,
test; the data loaded before), steadier than wall time on a shared machine. Given source
trees (``plan``), the deepdescent variant runs once per tree (on ``PYTHONPATH``),
interleaved with the others: a before/after comparison of a change.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

#: The Keras backend of each Keras variant.
BACKENDS = {"keras_torch": "torch", "keras_jax": "jax"}

#: (label, variant, source tree or None) of one entry of a benchmark.
Entry = tuple[str, str, "str | None"]


def available(variant: str) -> bool:
    """Whether the packages a variant needs are importable."""
    needs = {"keras_torch": ["keras"], "keras_jax": ["keras", "jax"]}.get(variant, [])
    return all(importlib.util.find_spec(name) is not None for name in needs)


def run_child(runner: Callable[[], tuple[float, float]]) -> None:
    """In the child process: run, and write ``{"seconds", "cpu", "accuracy"}`` as JSON."""
    started = time.process_time()
    seconds, accuracy = runner()
    cpu = time.process_time() - started
    sys.stdout.write(json.dumps({"seconds": seconds, "cpu": cpu, "accuracy": accuracy}) + "\n")


def source_tree(text: str) -> tuple[str, str]:
    """``NAME=SOURCE_TREE`` (a ``--sources`` argument) as a pair."""
    name, _, tree = text.partition("=")
    if not name or not tree:
        raise argparse.ArgumentTypeError(f"expected NAME=SOURCE_TREE, got {text!r}")
    return name, tree


def plan(variants: list[str], sources: dict[str, str]) -> list[Entry]:
    """The entries to run: deepdescent once per source tree (once when none is given)."""
    entries: list[Entry] = []
    for variant in variants:
        if variant == "deepdescent" and sources:
            entries += [(f"deepdescent[{name}]", variant, tree) for name, tree in sources.items()]
        else:
            entries.append((variant, variant, None))
    return entries


def run_once(script: str, variant: str, extra: list[str], source: str | None = None) -> dict:
    env = dict(os.environ)
    if variant in BACKENDS:
        env["KERAS_BACKEND"] = BACKENDS[variant]
    if source is not None:
        env["PYTHONPATH"] = os.path.abspath(source)
    out = subprocess.run(
        [sys.executable, script, "--child", variant, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(script: str, entries: list[Entry], repeats: int, extra: list[str] = ()) -> list[dict]:
    """``repeats`` interleaved rounds of every entry; the medians of time, CPU time and
    accuracy."""
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in entries}
    for _ in range(repeats):
        for label, variant, source in entries:
            runs[label].append(run_once(script, variant, list(extra), source))
    return [
        {
            "variant": label,
            "median_s": statistics.median(r["seconds"] for r in rs),
            "median_cpu_s": statistics.median(r["cpu"] for r in rs),
            "runs_s": [round(r["seconds"], 3) for r in rs],
            "accuracy": statistics.median(r["accuracy"] for r in rs),
        }
        for label, rs in runs.items()
    ]


def report(title: str, results: list[dict], skipped: list[str]) -> None:
    """The table: median seconds and CPU seconds, their ratios to (the first)
    deepdescent, test accuracy, every run."""
    ours = next((r for r in results if r["variant"].startswith("deepdescent")), None)
    print(title)
    print(
        f"{'variant':<22}{'median s':>10}{'vs ours':>9}{'CPU s':>8}{'vs ours':>9}"
        f"{'test acc':>10}  runs"
    )
    for r in results:
        wall = f"{r['median_s'] / ours['median_s']:.2f}x" if ours else "-"
        cpu = f"{r['median_cpu_s'] / ours['median_cpu_s']:.2f}x" if ours else "-"
        print(
            f"{r['variant']:<22}{r['median_s']:>10.2f}{wall:>9}{r['median_cpu_s']:>8.2f}"
            f"{cpu:>9}{r['accuracy']:>10.4f}  {r['runs_s']}"
        )
    for variant in skipped:
        print(f"{variant:<22}{'not installed':>10}")
