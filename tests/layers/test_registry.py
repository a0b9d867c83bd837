"""Every layer of the registry reloads from its config: same class, same config, and with
the weights copied, the same outputs."""

from __future__ import annotations

import json

import pytest
import torch

from deepdescent import layers

IMAGE, SEQUENCE, VECTOR = (2, 6, 6, 3), (2, 5, 3), (2, 4)

EXAMPLES = {
    "AuxiliaryHead": (lambda: layers.AuxiliaryHead(layers.Dense(2), "mse"), VECTOR),
    "BatchNormalization": (lambda: layers.BatchNormalization(), IMAGE),
    "LayerNormalization": (lambda: layers.LayerNormalization(), SEQUENCE),
    "Residual": (lambda: layers.Residual(layers.Dense(4), activation="relu"), VECTOR),
    "Activation": (lambda: layers.Activation("relu"), VECTOR),
    "Add": (lambda: layers.Add(), [VECTOR, VECTOR]),
    "Average": (lambda: layers.Average(), [VECTOR, VECTOR]),
    "AveragePooling1D": (lambda: layers.AveragePooling1D(2, padding="same"), SEQUENCE),
    "AveragePooling2D": (lambda: layers.AveragePooling2D(3, 2), IMAGE),
    "AveragePooling3D": (lambda: layers.AveragePooling3D(2), (1, 4, 4, 4, 2)),
    "Bidirectional": (lambda: layers.Bidirectional(layers.GRU(2), merge_mode="sum"), SEQUENCE),
    "CenterCrop": (lambda: layers.CenterCrop(4, 3), IMAGE),
    "Concatenate": (lambda: layers.Concatenate(axis=1), [VECTOR, VECTOR]),
    "Conv1D": (lambda: layers.Conv1D(2, 3, padding="causal"), SEQUENCE),
    "Conv1DTranspose": (lambda: layers.Conv1DTranspose(2, 3, strides=2), SEQUENCE),
    "Conv2D": (lambda: layers.Conv2D(2, 3, strides=2, padding="same", activation="relu"), IMAGE),
    "Conv2DTranspose": (lambda: layers.Conv2DTranspose(2, 4, strides=2, padding="same"), IMAGE),
    "Conv3D": (lambda: layers.Conv3D(2, 2), (1, 3, 3, 3, 2)),
    "Cropping1D": (lambda: layers.Cropping1D((1, 1)), SEQUENCE),
    "Cropping2D": (lambda: layers.Cropping2D(((1, 0), (0, 2))), IMAGE),
    "Dense": (lambda: layers.Dense(3, kernel_regularizer="l2"), VECTOR),
    "DepthwiseConv2D": (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), IMAGE),
    "Dot": (lambda: layers.Dot(1), [VECTOR, VECTOR]),
    "Dropout": (lambda: layers.Dropout(0.3), VECTOR),
    "ELU": (lambda: layers.ELU(0.5), VECTOR),
    "Embedding": (lambda: layers.Embedding(7, 3), "ids"),
    "Flatten": (lambda: layers.Flatten(), IMAGE),
    "GRU": (lambda: layers.GRU(3, return_sequences=True), SEQUENCE),
    "GlobalAveragePooling1D": (lambda: layers.GlobalAveragePooling1D(), SEQUENCE),
    "GlobalAveragePooling2D": (lambda: layers.GlobalAveragePooling2D(keepdims=True), IMAGE),
    "GlobalAveragePooling3D": (lambda: layers.GlobalAveragePooling3D(), (1, 2, 2, 2, 2)),
    "GlobalMaxPooling1D": (lambda: layers.GlobalMaxPooling1D(), SEQUENCE),
    "GlobalMaxPooling2D": (lambda: layers.GlobalMaxPooling2D(), IMAGE),
    "GlobalMaxPooling3D": (lambda: layers.GlobalMaxPooling3D(), (1, 2, 2, 2, 2)),
    "LSTM": (lambda: layers.LSTM(3, go_backwards=True), SEQUENCE),
    "LeakyReLU": (lambda: layers.LeakyReLU(0.1), VECTOR),
    "MaxPooling1D": (lambda: layers.MaxPooling1D(2), SEQUENCE),
    "MaxPooling2D": (lambda: layers.MaxPooling2D(2, padding="same"), IMAGE),
    "MaxPooling3D": (lambda: layers.MaxPooling3D(2), (1, 4, 4, 4, 2)),
    "Maximum": (lambda: layers.Maximum(), [VECTOR, VECTOR]),
    "Minimum": (lambda: layers.Minimum(), [VECTOR, VECTOR]),
    "Multiply": (lambda: layers.Multiply(), [VECTOR, VECTOR]),
    "PReLU": (lambda: layers.PReLU(shared_axes=[1, 2]), IMAGE),
    "Permute": (lambda: layers.Permute((2, 1)), SEQUENCE),
    "RandomContrast": (lambda: layers.RandomContrast((0.2, 0.3), seed=1), IMAGE),
    "RandomFlip": (lambda: layers.RandomFlip("horizontal"), IMAGE),
    "RandomRotation": (lambda: layers.RandomRotation(0.1, fill_mode="constant"), IMAGE),
    "RandomTranslation": (lambda: layers.RandomTranslation(0.1, (-0.2, 0.1)), IMAGE),
    "RandomZoom": (lambda: layers.RandomZoom(0.2, width_factor=0.1), IMAGE),
    "ReLU": (lambda: layers.ReLU(max_value=6.0), VECTOR),
    "RepeatVector": (lambda: layers.RepeatVector(2), VECTOR),
    "Rescaling": (lambda: layers.Rescaling(1 / 255, offset=-0.5), IMAGE),
    "Reshape": (lambda: layers.Reshape((2, 2)), VECTOR),
    "Resizing": (lambda: layers.Resizing(4, 5, crop_to_aspect_ratio=True), IMAGE),
    "SeparableConv2D": (lambda: layers.SeparableConv2D(2, 3, depth_multiplier=2), IMAGE),
    "SimpleRNN": (lambda: layers.SimpleRNN(3, activation="relu"), SEQUENCE),
    "Softmax": (lambda: layers.Softmax(axis=1), VECTOR),
    "Subtract": (lambda: layers.Subtract(), [VECTOR, VECTOR]),
    "TensorOperation": (lambda: layers.TensorOperation("multiply"), [VECTOR, VECTOR]),
    "TextVectorization": (
        lambda: layers.TextVectorization(vocabulary=["a", "b"], output_sequence_length=3),
        "texts",
    ),
    "TimeDistributed": (lambda: layers.TimeDistributed(layers.Dense(2)), SEQUENCE),
    "UpSampling1D": (lambda: layers.UpSampling1D(2), SEQUENCE),
    "UpSampling2D": (lambda: layers.UpSampling2D(interpolation="bilinear"), IMAGE),
    "ZeroPadding1D": (lambda: layers.ZeroPadding1D(2), SEQUENCE),
    "ZeroPadding2D": (lambda: layers.ZeroPadding2D((1, 2)), IMAGE),
}


def _example(spec):
    g = torch.Generator().manual_seed(9)
    if spec == "ids":
        return torch.randint(0, 7, (2, 5), generator=g)
    if spec == "texts":
        return ["a b c", "b"]
    if isinstance(spec, list):
        return [torch.randn(*s, generator=g) for s in spec]
    return torch.randn(*spec, generator=g)


def _call(layer, x):
    return layer(*x) if isinstance(layer, layers.TensorOperation) else layer(x)


def test_every_registered_layer_has_an_example():
    assert set(layers.LAYERS) - {"InputLayer"} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_config_round_trip_gives_the_same_layer(name):
    make, spec = EXAMPLES[name]
    layer = make()
    x = _example(spec)
    layer.eval()
    expected = _call(layer, x)
    spec_json = json.loads(json.dumps(layers.serialize(layer)))
    rebuilt = layers.deserialize(spec_json)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()
    rebuilt.eval()
    _call(rebuilt, x)
    rebuilt.load_state_dict(layer.state_dict())
    torch.testing.assert_close(_call(rebuilt, x), expected)


def test_input_layer_round_trip():
    layer = layers.InputLayer(shape=(None, 3), dtype="int32", name="tokens")
    rebuilt = layers.deserialize(layers.serialize(layer))
    assert rebuilt.shape == (None, None, 3) and rebuilt.input_dtype == torch.int32


def test_unknown_class_names_are_refused():
    with pytest.raises(ValueError, match="Unknown layer"):
        layers.deserialize({"class_name": "os.system", "config": {}})


def test_register_layer_makes_a_custom_layer_loadable():
    @layers.register_layer
    class Doubling(layers.Layer):
        def call(self, inputs):
            return 2 * inputs

    try:
        assert isinstance(layers.deserialize({"class_name": "Doubling", "config": {}}), Doubling)
    finally:
        del layers.LAYERS["Doubling"]
