"""Recurrent layers against torch.nn.RNN, LSTM and GRU with the same weights (outputs,
input and weight gradients to 1e-6), Keras's initial forget-gate bias, and the options
Keras programs use (sequences, states, going backwards, dropout, initial state)."""

from __future__ import annotations

import pytest
import torch
from layers._compare import built_double, compare, grad_of

from deepdescent import layers

UNITS = 4


def _rand(*shape: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _torch_twin(layer):
    """A torch module with ``layer``'s weights, gates reordered where Keras's differ."""
    features = layer.kernel.shape[0]
    u = layer.units
    kernel, recurrent = layer.kernel.detach(), layer.recurrent_kernel.detach()
    if isinstance(layer, layers.LSTM):
        module = torch.nn.LSTM(features, u, batch_first=True).double()
        order = slice(None)  # Keras and torch both use i, f, c, o
        biases = (layer.bias.detach(), torch.zeros(4 * u, dtype=torch.float64))
    elif isinstance(layer, layers.GRU):
        module = torch.nn.GRU(features, u, batch_first=True).double()
        order = torch.cat([torch.arange(u, 2 * u), torch.arange(u), torch.arange(2 * u, 3 * u)])
        biases = (layer.bias.detach()[0], layer.bias.detach()[1])
    else:
        module = torch.nn.RNN(features, u, batch_first=True).double()
        order = slice(None)
        biases = (layer.bias.detach(), torch.zeros(u, dtype=torch.float64))
    with torch.no_grad():
        module.weight_ih_l0.copy_(kernel[:, order].T)
        module.weight_hh_l0.copy_(recurrent[:, order].T)
        module.bias_ih_l0.copy_(biases[0][order])
        module.bias_hh_l0.copy_(biases[1][order])
    return module, order


@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_torch(cls, return_sequences):
    x = _rand(3, 6, 5)
    layer = built_double(cls(UNITS, return_sequences=return_sequences), x)
    module, order = _torch_twin(layer)

    def reference(v):
        sequence = module(v)[0]
        return sequence if return_sequences else sequence[:, -1]

    compare(
        layer,
        reference,
        x,
        [
            (layer.kernel, grad_of(module.weight_ih_l0, lambda g: _unorder(g.T, order))),
            (layer.recurrent_kernel, grad_of(module.weight_hh_l0, lambda g: _unorder(g.T, order))),
        ],
    )


def _unorder(columns: torch.Tensor, order) -> torch.Tensor:
    """Columns in torch's gate order back in Keras's."""
    if isinstance(order, slice):
        return columns
    result = torch.empty_like(columns)
    result[:, order] = columns
    return result


def test_lstm_forget_gate_bias_starts_at_one():
    layer = layers.LSTM(UNITS)
    layer(torch.zeros(1, 2, 3))
    expected = torch.zeros(4 * UNITS)
    expected[UNITS : 2 * UNITS] = 1.0
    torch.testing.assert_close(layer.bias.detach(), expected)
    plain = layers.LSTM(UNITS, unit_forget_bias=False)
    plain(torch.zeros(1, 2, 3))
    assert torch.all(plain.bias == 0)


def test_recurrent_kernel_starts_orthogonal():
    layer = layers.SimpleRNN(UNITS)
    layer(torch.zeros(1, 2, 3))
    u = layer.recurrent_kernel.detach()
    torch.testing.assert_close(u @ u.T, torch.eye(UNITS), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_return_state_gives_the_final_states(cls):
    x = _rand(2, 5, 3)
    layer = built_double(cls(UNITS, return_sequences=True, return_state=True), x)
    module, _ = _torch_twin(layer)
    sequence, *states = layer(x)
    expected_sequence, hidden = module(x)
    torch.testing.assert_close(sequence, expected_sequence)
    expected_states = list(hidden) if isinstance(hidden, tuple) else [hidden]
    assert len(states) == len(expected_states)
    for state, expected in zip(states, expected_states, strict=True):
        torch.testing.assert_close(state, expected[0])


def test_initial_state_is_used():
    x = _rand(2, 5, 3)
    layer = built_double(layers.LSTM(UNITS), x)
    module, _ = _torch_twin(layer)
    h0, c0 = _rand(2, UNITS, seed=3), _rand(2, UNITS, seed=4)
    out = layer(x, initial_state=[h0, c0])
    torch.testing.assert_close(out, module(x, (h0[None], c0[None]))[0][:, -1])


def test_go_backwards_reads_the_sequence_reversed():
    x = _rand(2, 5, 3)
    backwards = built_double(layers.GRU(UNITS, go_backwards=True, return_sequences=True), x)
    forwards = layers.GRU(UNITS, return_sequences=True)
    forwards.build_for((None, 5, 3))
    forwards.double()
    forwards.load_state_dict(backwards.state_dict())
    torch.testing.assert_close(backwards(x), forwards(x.flip(1)))


def test_dropout_is_active_only_in_training_with_one_mask_per_sequence():
    x = torch.ones(64, 5, 3)
    layer = layers.SimpleRNN(2, dropout=0.5, use_bias=False, return_sequences=True)
    layer(x)
    with torch.no_grad():
        layer.recurrent_kernel.zero_()
        layer.kernel.fill_(1.0)
    layer.eval()
    torch.testing.assert_close(layer(x), torch.full((64, 5, 2), torch.tanh(torch.tensor(3.0))))
    layer.train()
    out = layer(x)
    # The same input units dropped at every step: each sequence's outputs are constant.
    torch.testing.assert_close(out, out[:, :1].expand_as(out))
    assert len(torch.unique(out[:, 0, 0])) > 1


def test_bidirectional_matches_torch():
    x = _rand(2, 5, 3)
    layer = built_double(layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True)), x)
    module = torch.nn.LSTM(3, UNITS, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for suffix, part in (("", layer.forward_layer), ("_reverse", layer.backward_layer)):
            getattr(module, f"weight_ih_l0{suffix}").copy_(part.kernel.T)
            getattr(module, f"weight_hh_l0{suffix}").copy_(part.recurrent_kernel.T)
            getattr(module, f"bias_ih_l0{suffix}").copy_(part.bias)
            getattr(module, f"bias_hh_l0{suffix}").zero_()
    compare(
        layer,
        lambda v: module(v)[0],
        x,
        [(layer.backward_layer.kernel, grad_of(module.weight_ih_l0_reverse, lambda g: g.T))],
    )


@pytest.mark.parametrize(
    ("mode", "merge"),
    [("sum", torch.add), ("mul", torch.mul), ("ave", lambda a, b: (a + b) / 2)],
)
def test_bidirectional_merge_modes(mode, merge):
    x = _rand(2, 4, 3)
    layer = built_double(layers.Bidirectional(layers.GRU(UNITS), merge_mode=mode), x)
    forward = layer.forward_layer(x)
    backward = layer.backward_layer(x)
    torch.testing.assert_close(layer(x), merge(forward, backward))


def test_time_distributed_applies_the_layer_at_every_step():
    x = _rand(2, 4, 3)
    dense = layers.Dense(5)
    layer = built_double(layers.TimeDistributed(dense), x)
    compare(layer, lambda v: torch.stack([dense(v[:, t]) for t in range(4)], dim=1), x)


def test_bad_input_rank_and_options_are_clear():
    with pytest.raises(ValueError, match=r"\(batch, steps, features\)"):
        layers.LSTM(2)(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="stateful"):
        layers.LSTM(2, stateful=True)
    with pytest.raises(ValueError, match="dropout"):
        layers.GRU(2, dropout=1.0)
    with pytest.raises(ValueError, match="layer"):
        layers.Bidirectional(layers.Dense(2))
