"""The registry of recordable layers: which layers of a model it finds and what it says
of them, how a new layer type joins, and taps that see (a, z) with z's graph."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepdescent.layers import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Dropout,
    SeparableConv2D,
    recording,
)
from deepdescent.layers.recording import LayerRecord, recordable_layers, register_recorder
from deepdescent.models import Model, Sequential


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry, so that what a test registers is gone after it."""
    monkeypatch.setattr(recording, "_RECORDERS", dict(recording._RECORDERS))


def _describe(records):
    return [(r.name, r.layout, tuple(r.weight.shape)) for r in records]


def test_dense_layers_of_a_sequential_with_their_names_kernel_and_bias():
    model = Sequential([Dense(4, input_shape=(3,)), Dropout(0.5), Dense(2, use_bias=False)])
    records = recordable_layers(model)
    assert _describe(records) == [("dense", "in_out", (3, 4)), ("dense_1", "in_out", (4, 2))]
    first, second = model.layers[0], model.layers[2]
    assert records[0].module is first and records[0].weight is first.kernel
    assert records[0].bias is first.bias
    assert records[1].module is second and records[1].bias is None


def test_torch_linear_layers_in_any_module_and_the_model_itself():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    records = recordable_layers(net)
    assert _describe(records) == [("0", "out_in", (4, 3)), ("2", "out_in", (2, 4))]
    assert records[1].weight is net[2].weight and records[1].bias is net[2].bias
    assert _describe(recordable_layers(Model(torch.nn.Linear(2, 1, bias=False)))) == [
        ("module", "out_in", (1, 2))
    ]
    (alone,) = recordable_layers(torch.nn.Linear(2, 1))
    assert alone.name == ""


def test_unbuilt_layers_and_layers_without_a_recorder_are_skipped():
    assert recordable_layers(Sequential([Dense(4), Dense(2)])) == []
    assert recordable_layers(Sequential([Conv2D(4, 3), Dense(2)])) == []
    other = torch.nn.Sequential(
        torch.nn.ConvTranspose1d(1, 2, 3),
        torch.nn.Conv1d(2, 4, 3, groups=2),
        torch.nn.LazyConv1d(2, 3),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
    )
    assert recordable_layers(other) == []
    grouped = Sequential(
        [
            Conv2D(4, 3, groups=2, input_shape=(6, 6, 2)),
            DepthwiseConv2D(3),
            SeparableConv2D(2, 1),
            Conv2DTranspose(2, 2),
        ]
    )
    assert recordable_layers(grouped) == []


def test_convolutions_with_one_group_in_both_front_ends():
    """Keras's and torch's convolutions, 1-D to 3-D: the kernel in torch's layout (out
    first), and the layout of z the geometry says."""
    model = Sequential(
        [
            Conv1D(3, 2, input_shape=(6, 2)),
            Conv1D(4, 2, data_format="channels_first", padding="same"),
        ]
    )
    records = recordable_layers(model)
    assert _describe(records) == [
        ("conv1d", "out_in", (3, 2, 2)),
        ("conv1d_1", "out_in", (4, 5, 2)),
    ]
    assert [r.convolution.channels_last for r in records] == [True, False]
    assert records[0].weight is model.layers[0].kernel
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, stride=2), torch.nn.Conv3d(2, 3, 1))
    records = recordable_layers(net)
    assert _describe(records) == [("0", "out_in", (2, 1, 3, 3)), ("1", "out_in", (3, 2, 1, 1, 1))]
    assert records[0].convolution.strides == (2, 2)
    assert records[1].convolution.channels_last is False
    assert recordable_layers(torch.nn.Linear(2, 1))[0].convolution is None


class Scale(torch.nn.Module):
    """z = a ⊙ w: a layer type the registry does not know."""

    def __init__(self, width):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(width))

    def forward(self, a):
        return a * self.w


def _scale_record(name, layer):
    def attach(function):
        return layer.register_forward_hook(lambda _m, inputs, z: function(inputs[0], z))

    return LayerRecord(name, layer, layer.w, None, "in_out", attach)


def test_register_recorder_makes_a_new_type_recordable(registry):
    net = torch.nn.Sequential(Scale(3), torch.nn.Linear(3, 1))
    assert _describe(recordable_layers(net)) == [("1", "out_in", (1, 3))]
    register_recorder(Scale, _scale_record)
    assert _describe(recordable_layers(net)) == [("0", "in_out", (3,)), ("1", "out_in", (1, 3))]


def test_subclasses_use_their_nearest_registered_type(registry):
    class Wide(Dense):
        pass

    class Skipped(Dense):
        pass

    model = Sequential([Wide(3, input_shape=(2,)), Skipped(2), Dense(1)])
    assert [r.name for r in recordable_layers(model)] == ["wide", "skipped", "dense"]
    register_recorder(Skipped, lambda name, layer: None)
    assert [r.name for r in recordable_layers(model)] == ["wide", "dense"]


def _dense_network():
    """Keras layers ending in softmax: the loss takes probabilities."""
    model = Sequential([Dense(5, "tanh", input_shape=(4,)), Dense(3, "softmax")]).double()
    first = model.layers[0]
    return model, lambda x: torch.tanh(x @ first.kernel + first.bias), _nll_of_probabilities


def _linear_network():
    """torch layers ending in logits: the loss takes logits."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    model = model.double()
    return model, lambda x: torch.tanh(model[0](x)), F.cross_entropy


def _nll_of_probabilities(probabilities, targets):
    return F.nll_loss(torch.log(probabilities), targets)


@pytest.mark.parametrize("network", [_dense_network, _linear_network], ids=["dense", "linear"])
def test_a_tap_sees_a_and_z_and_a_tensor_hook_on_z_reads_the_gradient_autograd_gives(network):
    """On the second layer: a is the first layer's output, z = a W + b its pre-activation;
    a hook on z during backward reads ∂L/∂z, which autograd computes again from z alone."""
    torch.manual_seed(0)
    model, hidden, loss_of = network()
    record = recordable_layers(model)[1]
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])

    seen, gradients = [], []

    def tap(a, z):
        seen.append((a.detach().clone(), z.detach().clone()))
        z.register_hook(gradients.append)

    handle = record.tap(tap)
    loss = loss_of(model(x), y)
    loss.backward()

    ((a, z),) = seen
    weight = record.weight if record.layout == "in_out" else record.weight.T
    torch.testing.assert_close(a, hidden(x).detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z, (a @ weight + record.bias).detach(), rtol=1e-12, atol=1e-12)
    z_alone = z.clone().requires_grad_()
    (expected,) = torch.autograd.grad(F.cross_entropy(z_alone, y), z_alone)
    (gradient,) = gradients
    torch.testing.assert_close(gradient, expected, rtol=1e-10, atol=1e-12)

    handle.remove()
    model(x)
    assert len(seen) == 1


def test_a_dense_tap_sees_z_when_the_trainer_folds_the_softmax_into_the_loss():
    model = Sequential([Dense(3, "softmax", input_shape=(2,))])
    (record,) = recordable_layers(model)
    seen = []
    record.tap(lambda a, z: seen.append(z.detach()))
    x = torch.randn(4, 2)
    logits = model.forward_pre_activation(x)
    torch.testing.assert_close(seen[0], logits.detach())
