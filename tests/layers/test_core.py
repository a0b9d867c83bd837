"""Core layers: Embedding against torch.nn.Embedding; Dense's Keras layout."""

from __future__ import annotations

import pytest
import torch

from deepdescent import layers


def test_embedding_matches_torch_and_draws_keras_uniform():
    torch.manual_seed(0)
    layer = layers.Embedding(10, 3)
    ids = torch.tensor([[1, 4, 4], [0, 9, 2]])
    out = layer(ids)
    module = torch.nn.Embedding(10, 3)
    with torch.no_grad():
        module.weight.copy_(layer.embeddings)
    torch.testing.assert_close(out, module(ids))
    out.sum().backward()
    module(ids).sum().backward()
    torch.testing.assert_close(layer.embeddings.grad, module.weight.grad)
    assert layer.embeddings.abs().max() <= 0.05


def test_embedding_accepts_integer_numpy_and_float_ids():
    import numpy as np

    layer = layers.Embedding(5, 2)
    ids = np.array([[1, 2], [3, 4]])
    torch.testing.assert_close(layer(ids), layer(torch.tensor(ids, dtype=torch.float32)))


def test_embedding_masks_are_refused_clearly():
    with pytest.raises(ValueError, match="mask_zero"):
        layers.Embedding(5, 2, mask_zero=True)


def test_dense_works_on_the_last_axis_of_any_rank():
    layer = layers.Dense(4)
    x = torch.randn(2, 3, 5)
    out = layer(x)
    torch.testing.assert_close(out, x @ layer.kernel + layer.bias)
    assert tuple(layer.kernel.shape) == (5, 4)
