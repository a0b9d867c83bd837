"""What the fit benchmarks share: each variant runs in a fresh Python process (so one-off
costs such as imports count alike), rounds are interleaved across variants (so drifts
in a shared machine's load fall on all of them), and the medians are printed with their
ratio to deepdescent."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable

#: The Keras backend of each Keras variant.
BACKENDS = {"keras_torch": "torch", "keras_jax": "jax"}


def available(variant: str) -> bool:
    """Whether the packages a variant needs are importable."""
    needs = {"keras_torch": ["keras"], "keras_jax": ["keras", "jax"]}.get(variant, [])
    return all(importlib.util.find_spec(name) is not None for name in needs)


def run_child(runner: Callable[[], tuple[float, float]]) -> None:
    """In the child process: run, and write ``{"seconds", "accuracy"}`` as JSON."""
    seconds, accuracy = runner()
    sys.stdout.write(json.dumps({"seconds": seconds, "accuracy": accuracy}) + "\n")


def run_once(script: str, variant: str, extra: list[str]) -> dict:
    env = dict(os.environ)
    if variant in BACKENDS:
        env["KERAS_BACKEND"] = BACKENDS[variant]
    out = subprocess.run(
        [sys.executable, script, "--child", variant, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(script: str, variants: list[str], repeats: int, extra: list[str] = ()) -> list[dict]:
    """``repeats`` interleaved rounds of every variant; the medians of time and accuracy."""
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            runs[variant].append(run_once(script, variant, list(extra)))
    return [
        {
            "variant": v,
            "median_s": statistics.median(r["seconds"] for r in rs),
            "runs_s": [round(r["seconds"], 3) for r in rs],
            "accuracy": statistics.median(r["accuracy"] for r in rs),
        }
        for v, rs in runs.items()
    ]


def report(title: str, results: list[dict], skipped: list[str]) -> None:
    """The table: median seconds, the ratio to deepdescent, test accuracy, every run."""
    ours = next((r["median_s"] for r in results if r["variant"] == "deepdescent"), None)
    print(title)
    print(f"{'variant':<18}{'median s':>10}{'vs deepdescent':>16}{'test acc':>10}  runs")
    for r in results:
        ratio = f"{r['median_s'] / ours:.2f}x" if ours else "-"
        print(
            f"{r['variant']:<18}{r['median_s']:>10.2f}{ratio:>16}{r['accuracy']:>10.4f}"
            f"  {r['runs_s']}"
        )
    for variant in skipped:
        print(f"{variant:<18}{'not installed':>10}")
