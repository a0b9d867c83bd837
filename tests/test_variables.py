"""deepdescent.Variable: Keras's handle on a tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.variables import Variable, unwrap


def test_value_is_the_tensor_itself_and_torch_operations_see_it():
    param = torch.nn.Parameter(torch.ones(2, 2))
    v = Variable(param, "kernel", "dense/kernel")
    assert v.value is param and unwrap(v) is param and unwrap(3) == 3
    torch.testing.assert_close(torch.matmul(torch.ones(1, 2), v), torch.full((1, 2), 2.0))
    torch.testing.assert_close(v * 2 + 1, torch.full((2, 2), 3.0))
    torch.testing.assert_close(1 - v, torch.zeros(2, 2))
    assert v.shape == (2, 2) and v.dtype == "float32" and v.trainable


def test_assign_methods_change_the_tensor_in_place():
    state = torch.zeros(())
    v = Variable(state, "count")
    v.assign(2.0).assign_add(np.float32(3.0)).assign_sub(1)
    assert state.item() == 4.0 and float(v) == 4.0
    np.testing.assert_array_equal(np.asarray(v), np.array(4.0, dtype=np.float32))


def test_only_tensors_are_held():
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        Variable(np.zeros(2))
