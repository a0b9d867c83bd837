"""State trees: packed into strict JSON and tensors, unpacked unchanged."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from deepdescent.utils.state import pack, unpack


def round_trip(tree):
    skeleton, tensors = pack(tree)
    text = json.dumps(skeleton, allow_nan=False)  # strict JSON: no bare NaN
    return unpack(json.loads(text), tensors)


def test_nested_trees_come_back_equal():
    tree = {
        "int": 3,
        "float": 0.1,
        "none": None,
        "flag": True,
        "name": "adam",
        "list": [1, [2.5, "x"]],
        "tuple": (0.9, 0.999),
        "int_keys": {0: {"step": 4}, 1: {}},
        "numpy_scalars": [np.int64(7), np.float32(0.5)],
    }
    back = round_trip(tree)
    assert back == {**tree, "numpy_scalars": [7, 0.5]}
    assert isinstance(back["tuple"], tuple) and list(back["int_keys"]) == [0, 1]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_floats_that_are_not_finite_survive_strict_json(value):
    back = round_trip({"best": value})["best"]
    assert (math.isnan(back) and math.isnan(value)) or back == value


@pytest.mark.parametrize(
    "tensor",
    [
        torch.randn(3, 2, dtype=torch.float64),
        torch.arange(5, dtype=torch.int64),
        torch.get_rng_state(),
        torch.tensor([True, False]),
        torch.randn(4, 4)[:, 1],  # a strided view: stored as its values
    ],
)
def test_tensors_come_back_bit_equal_on_the_cpu(tensor):
    back = round_trip({"t": tensor, "same": [tensor]})
    assert torch.equal(back["t"], tensor) and back["t"].dtype == tensor.dtype
    assert torch.equal(back["same"][0], tensor)


def test_random_generator_states_come_back():
    numpy_state, python_state = np.random.get_state(), random.getstate()
    back = round_trip({"numpy": numpy_state, "python": python_state})
    np.random.set_state(back["numpy"])
    random.setstate((back["python"][0], tuple(back["python"][1]), back["python"][2]))
    assert back["numpy"][0] == "MT19937"
    np.testing.assert_array_equal(back["numpy"][1], numpy_state[1])
    assert back["python"] == python_state


def test_keys_that_look_like_markers_are_kept_apart():
    tree = {"__tensor__": "0", "other": 1}
    assert round_trip(tree) == tree


def test_objects_are_refused_by_name():
    with pytest.raises(TypeError, match="not a object"):
        pack({"x": object()})


def test_a_skeleton_naming_a_missing_tensor_is_refused():
    with pytest.raises(ValueError, match="not stored"):
        unpack({"__tensor__": "9"}, {})
