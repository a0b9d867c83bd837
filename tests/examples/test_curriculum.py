"""The curriculum demonstration's claim with 4 of 24 bits (the example has 5 of 30): on a
parity with mixed inputs the curriculum reaches a given test accuracy epochs before
random order does."""

from __future__ import annotations


def test_the_curriculum_learns_the_parity_sooner_than_random_order(load_example):
    results = load_example("curriculum")["run"](
        samples=2000, bits=24, relevant=4, epochs=10, orders=("random order", "curriculum")
    )
    random_order, curriculum = results["random order"], results["curriculum"]

    def first_epoch_at(accuracy, level=0.8):
        return next((e for e, a in enumerate(accuracy, 1) if a >= level), len(accuracy) + 1)

    assert first_epoch_at(curriculum) <= first_epoch_at(random_order) - 2
    assert curriculum[6] > random_order[6] + 0.1
    assert curriculum[-1] > 0.95
