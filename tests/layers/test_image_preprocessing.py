"""Image preprocessing and augmentation layers: exact geometry at fixed draws (rotation
by a quarter turn is np.rot90, zoom and translation move whole pixels), Keras's resize,
and the augmentations' training-only behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepdescent import layers


def _images(n=2, h=4, w=4, c=2, seed=0):
    return torch.randn(n, h, w, c, generator=torch.Generator().manual_seed(seed))


def _training(layer):
    layer.train()
    return layer


def test_resizing_is_half_pixel_bilinear_and_nearest():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])[None, :, :, None]
    out = layers.Resizing(4, 4)(x)[0, :, :, 0]
    # Half-pixel centres: output pixel i samples input (i + 0.5)/2 − 0.5, clamped.
    expected = torch.tensor(
        [
            [0.0, 0.25, 0.75, 1.0],
            [0.5, 0.75, 1.25, 1.5],
            [1.5, 1.75, 2.25, 2.5],
            [2.0, 2.25, 2.75, 3.0],
        ]
    )
    torch.testing.assert_close(out, expected)
    nearest = layers.Resizing(4, 4, interpolation="nearest")(x)[0, :, :, 0]
    torch.testing.assert_close(
        nearest, x[0, :, :, 0].repeat_interleave(2, 0).repeat_interleave(2, 1)
    )


def test_resizing_crop_to_aspect_ratio_takes_the_centre():
    x = torch.arange(24.0).reshape(1, 4, 6, 1)
    out = layers.Resizing(2, 2, interpolation="nearest", crop_to_aspect_ratio=True)(x)
    expected = F.interpolate(x[:, :, 1:5, :].movedim(-1, 1), size=(2, 2), mode="nearest-exact")
    torch.testing.assert_close(out, expected.movedim(1, -1))


def test_rescaling_and_center_crop():
    x = torch.arange(36.0).reshape(1, 6, 6, 1)
    torch.testing.assert_close(layers.Rescaling(0.5, offset=1.0)(x), x * 0.5 + 1.0)
    torch.testing.assert_close(layers.CenterCrop(2, 4)(x), x[:, 2:4, 1:5])
    assert layers.Rescaling(1 / 255)(np.full((1, 2), 255, dtype=np.uint8)).dtype == torch.float32


@pytest.mark.parametrize(
    "layer",
    [
        layers.RandomFlip(),
        layers.RandomRotation(0.3),
        layers.RandomZoom(0.4),
        layers.RandomTranslation(0.3, 0.3),
        layers.RandomContrast(0.5),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_augmentations_leave_inputs_alone_at_inference(layer):
    x = _images()
    layer.eval()
    torch.testing.assert_close(layer(x), x)


def test_random_flip_flips_each_image_or_leaves_it():
    x = _images(n=400, h=2, w=3, c=1)
    out = _training(layers.RandomFlip("horizontal", seed=0))(x)
    flipped = torch.all(out == x.flip(2), dim=(1, 2, 3))
    assert torch.all(flipped | torch.all(out == x, dim=(1, 2, 3)))
    assert 0.4 < flipped.float().mean().item() < 0.6


def test_a_quarter_turn_is_rot90_counter_clockwise():
    x = _images(n=1, h=5, w=5, c=1)
    layer = _training(layers.RandomRotation((0.25, 0.25), interpolation="nearest"))
    expected = torch.rot90(x, k=1, dims=(1, 2))
    torch.testing.assert_close(layer(x), expected)


def test_zooming_in_twice_magnifies_the_centre():
    x = _images(n=1, h=4, w=4, c=1)
    out = _training(layers.RandomZoom((-0.5, -0.5), interpolation="nearest"))(x)
    centre = x[:, 1:3, 1:3]
    torch.testing.assert_close(out, centre.repeat_interleave(2, 1).repeat_interleave(2, 2))


@pytest.mark.parametrize(
    ("fill_mode", "fill_value", "edge"),
    [
        ("constant", 0.0, lambda x: 0.0),
        ("constant", 7.0, lambda x: 7.0),
        ("nearest", 0.0, lambda x: x[:, :1, :].expand(1, 1, 4, 1)),
    ],
)
def test_translation_moves_whole_pixels_and_fills(fill_mode, fill_value, edge):
    x = _images(n=1, h=4, w=4, c=1)
    layer = _training(
        layers.RandomTranslation(
            (0.25, 0.25),
            (0.0, 0.0),
            interpolation="nearest",
            fill_mode=fill_mode,
            fill_value=fill_value,
        )
    )
    out = layer(x)
    torch.testing.assert_close(out[:, 1:], x[:, :-1])
    torch.testing.assert_close(out[:, :1], torch.as_tensor(edge(x)).expand(1, 1, 4, 1).float())


def test_reflect_fill_mirrors_about_the_edge():
    x = _images(n=1, h=4, w=4, c=1)
    out = _training(layers.RandomTranslation((0, 0), (0.5, 0.5), interpolation="nearest"))(x)
    # Shifted right by two: the uncovered columns show columns 1, 0 of the input.
    torch.testing.assert_close(out[:, :, :2], x[:, :, [1, 0]])


def test_random_contrast_scales_deviations_from_the_channel_mean_and_clips():
    x = 100 + 50 * torch.rand(3, 4, 4, 2, generator=torch.Generator().manual_seed(1))
    out = _training(layers.RandomContrast((0.5, 0.25), seed=0))(x)
    mean = x.mean(dim=(1, 2), keepdim=True)
    ratio = (out - mean) / (x - mean)
    # One factor c per image, the same for every pixel and channel, in [1 − 0.5, 1 + 0.25].
    c = ratio[:, :1, :1, :1]
    torch.testing.assert_close(ratio, c.expand_as(ratio), rtol=1e-4, atol=1e-4)
    assert torch.all((c >= 0.5) & (c <= 1.25))
    wide = _training(layers.RandomContrast((0.0, 5.0), seed=0))(torch.rand(8, 4, 4, 1) * 255)
    assert wide.min() >= 0 and wide.max() <= 255


def test_augmentation_in_a_model_acts_in_fit_not_in_predict():
    from deepdescent.models import Sequential

    model = Sequential([layers.Input(shape=(4, 4, 1)), layers.RandomFlip(seed=0), layers.Flatten()])
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1).repeat(64, axis=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(64, 16))
    model.train()
    assert not torch.equal(model(torch.from_numpy(x)), torch.from_numpy(x.reshape(64, 16)))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="fill_mode"):
        layers.RandomRotation(0.1, fill_mode="wrap")
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation((0.3, 0.1))
    with pytest.raises(ValueError, match="mode"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="images"):
        layers.Resizing(2, 2)(torch.zeros(4))
