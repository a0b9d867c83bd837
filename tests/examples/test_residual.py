"""The skip-connection demonstration's claim with 20 hidden sigmoid layers (the example
has 30): the plain network's gradient vanishes towards the input and it does not train;
with skips the gradients are level and it does."""

from __future__ import annotations

import math


def test_skips_keep_the_gradient_level_and_the_network_trainable(load_example):
    results = load_example("residual")["run"](samples=400, depth=20, epochs=3)
    (plain_norms, plain_losses), (skip_norms, skip_losses) = (
        results["plain"],
        results["residual"],
    )
    assert plain_norms[0] / plain_norms[-1] < 1e-9  # ≤ 1/4 per sigmoid layer
    assert max(skip_norms) / min(skip_norms) < 30
    assert plain_losses[-1] > 0.95 * math.log(4)
    assert skip_losses[-1] < 0.5 * math.log(4)
