"""Image preprocessing and augmentation layers, as Keras's: ``Resizing``, ``Rescaling``,
``CenterCrop``, and the random augmentations ``RandomFlip``, ``RandomRotation``,
``RandomZoom``, ``RandomTranslation`` and ``RandomContrast``.

Augmentation enlarges the training set with label-preserving transformations (Goodfellow
et al., §7.4); the random layers therefore act only in training mode and pass inputs
through unchanged at inference. Each image of a batch gets its own draw. Rotation, zoom
and translation are one affine map per image, sampled with ``grid_sample`` (bilinear or
nearest), the area they uncover filled as ``fill_mode`` says: ``"reflect"`` (about the
edge), ``"nearest"`` (the edge pixel repeated) or ``"constant"`` (``fill_value``). Inputs
are channels-last ``(batch, height, width, channels)`` (or one image without the batch
axis).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from deepdescent.layers._layout import check_data_format
from deepdescent.layers.base import Layer
from deepdescent.utils._checks import check_argument, check_count, is_number
from deepdescent.utils.images import resize_images

__all__ = [
    "CenterCrop",
    "RandomContrast",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
]

_FILL_MODES = {"reflect": "reflection", "nearest": "border", "constant": "zeros"}
_INTERPOLATIONS = ("bilinear", "nearest")


def _range(factor: Any, name: str, bound: float | None = None) -> tuple[float, float]:
    """Keras's factor: a number f means (−f, f), a pair (lower, upper) itself."""
    pair = (-factor, factor) if is_number(factor) else tuple(factor)
    check_argument(
        name,
        factor,
        len(pair) == 2
        and all(is_number(v) for v in pair)
        and pair[0] <= pair[1]
        and (bound is None or all(abs(v) <= bound for v in pair)),
        "a number or a pair (lower, upper)" + (f" within ±{bound}" if bound else ""),
    )
    return float(pair[0]), float(pair[1])


class _Image(Layer):
    """Shared: channels-last batches (a single image gets a batch axis for the call)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """The layer's work on a float channels-first batch."""
        raise NotImplementedError

    def active(self) -> bool:
        return True

    def call(self, inputs: Any) -> torch.Tensor:
        x = torch.as_tensor(inputs)
        if not self.active():
            return x
        single = x.ndim == 3
        if single:
            x = x.unsqueeze(0)
        if x.ndim != 4:
            raise ValueError(
                f"{type(self).__name__} needs images (batch, height, width, channels), got "
                f"shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            x = x.float()
        cf = x.movedim(-1, 1) if self.data_format == "channels_last" else x
        out = self.transform(cf)
        out = out.movedim(1, -1) if self.data_format == "channels_last" else out
        return out[0] if single else out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Resizing(_Image):
    """Resizes images to (height, width), as Keras (half-pixel centres; with
    ``crop_to_aspect_ratio`` the largest centred crop of the target's aspect first)."""

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.height, self.width = check_count("height", height), check_count("width", width)
        check_argument(
            "interpolation",
            interpolation,
            interpolation in ("bilinear", "nearest", "bicubic"),
            "'bilinear', 'nearest' or 'bicubic'",
        )
        self.interpolation, self.crop_to_aspect_ratio = interpolation, bool(crop_to_aspect_ratio)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        if self.crop_to_aspect_ratio:
            h, w = images.shape[2:]
            crop_h = min(h, round(w * self.height / self.width))
            crop_w = min(w, round(h * self.width / self.height))
            top, left = (h - crop_h) // 2, (w - crop_w) // 2
            images = images[:, :, top : top + crop_h, left : left + crop_w]
        resized = resize_images(
            images.movedim(1, -1), (self.height, self.width), self.interpolation
        )
        return resized.movedim(-1, 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
        }


class Rescaling(Layer):
    """``inputs · scale + offset``: ``Rescaling(1 / 255)`` maps pixels to [0, 1]."""

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_argument("scale", scale, is_number(scale), "a finite number")
        check_argument("offset", offset, is_number(offset), "a finite number")
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs: Any) -> torch.Tensor:
        x = torch.as_tensor(inputs)
        return (x if x.is_floating_point() else x.float()) * self.scale + self.offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class CenterCrop(_Image):
    """The centred (height, width) crop of each image."""

    def __init__(self, height: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height, self.width = check_count("height", height), check_count("width", width)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[2:]
        if h < self.height or w < self.width:
            raise ValueError(
                f"CenterCrop of ({self.height}, {self.width}) from images of ({h}, {w})"
            )
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return images[:, :, top : top + self.height, left : left + self.width]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


class _Random(_Image):
    """Shared by the augmentations: active in training only, with their own generator
    when ``seed`` is given."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def active(self) -> bool:
        return self.training

    def uniform(self, count: int, bounds: tuple[float, float]) -> torch.Tensor:
        """``count`` draws from U[lower, upper] (on the CPU)."""
        draws = torch.rand(count, generator=self.generator, dtype=torch.float64)
        return bounds[0] + (bounds[1] - bounds[0]) * draws

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_Random):
    """Flips each image left–right and/or top–bottom with probability ½ each
    (``mode``: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``)."""

    def __init__(self, mode: str = "horizontal_and_vertical", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        modes = ("horizontal", "vertical", "horizontal_and_vertical")
        check_argument("mode", mode, mode in modes, str(modes))
        self.mode = mode

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        for axis, kind in ((3, "horizontal"), (2, "vertical")):
            if kind in self.mode:
                chosen = (self.uniform(len(images), (0.0, 1.0)) < 0.5).to(images.device)
                images = torch.where(chosen[:, None, None, None], images.flip(axis), images)
        return images

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class _Affine(_Random):
    """Shared by rotation, zoom and translation: one affine map per image, sampled."""

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        fill_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_argument(
            "fill_mode",
            fill_mode,
            fill_mode in _FILL_MODES,
            "'reflect', 'nearest' or 'constant' (torch's sampler has no 'wrap')",
        )
        check_argument(
            "interpolation",
            interpolation,
            interpolation in _INTERPOLATIONS,
            "'bilinear' or 'nearest'",
        )
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def matrices(self, count: int, height: int, width: int) -> torch.Tensor:
        """(count, 2, 3): each output point's place in the input, in pixel units about
        the centre (x right, y down)."""
        raise NotImplementedError

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        pixel = self.matrices(n, h, w)
        # From pixels about the centre to grid_sample's [−1, 1] units on each axis.
        to_unit = torch.tensor([[2.0 / w, 0.0], [0.0, 2.0 / h]], dtype=torch.float64)
        to_pixel = torch.tensor([[w / 2.0, 0.0], [0.0, h / 2.0]], dtype=torch.float64)
        theta = torch.cat(
            [to_unit @ pixel[:, :, :2] @ to_pixel, (to_unit @ pixel[:, :, 2:])], dim=2
        ).to(images)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        mode = self.interpolation
        padding = _FILL_MODES[self.fill_mode]
        out = F.grid_sample(images, grid, mode, padding, align_corners=False)
        if self.fill_mode == "constant" and self.fill_value != 0.0:
            ones = torch.ones_like(images[:, :1])
            covered = F.grid_sample(ones, grid, mode, "zeros", align_corners=False)
            out = out + self.fill_value * (1.0 - covered)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


class RandomRotation(_Affine):
    """Rotates each image about its centre by an angle drawn from ``factor`` (fractions
    of a full turn: 0.1 means up to ±36°); positive angles turn counter-clockwise."""

    def __init__(self, factor: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = _range(factor, "factor")

    def matrices(self, count: int, height: int, width: int) -> torch.Tensor:
        angle = self.uniform(count, self.factor) * 2 * math.pi
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(angle)
        # Content turned counter-clockwise on screen (y down): input = R(−θ) · output.
        return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_Affine):
    """Zooms each image by 1 + z, z drawn from ``height_factor`` (and ``width_factor``;
    ``None`` keeps the aspect): positive z zooms out, negative zooms in, as Keras."""

    def __init__(self, height_factor: Any, width_factor: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height_factor = _range(height_factor, "height_factor")
        self.width_factor = None if width_factor is None else _range(width_factor, "width_factor")

    def matrices(self, count: int, height: int, width: int) -> torch.Tensor:
        zoom_y = 1.0 + self.uniform(count, self.height_factor)
        zoom_x = (
            zoom_y if self.width_factor is None else 1.0 + self.uniform(count, self.width_factor)
        )
        zero = torch.zeros(count, dtype=torch.float64)
        return torch.stack(
            [torch.stack([zoom_x, zero, zero], 1), torch.stack([zero, zoom_y, zero], 1)], 1
        )

    def get_config(self) -> dict[str, Any]:
        width = None if self.width_factor is None else list(self.width_factor)
        return {
            **super().get_config(),
            "height_factor": list(self.height_factor),
            "width_factor": width,
        }


class RandomTranslation(_Affine):
    """Shifts each image by fractions of its height and width drawn from the factors
    (positive: down and to the right)."""

    def __init__(self, height_factor: Any, width_factor: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height_factor = _range(height_factor, "height_factor", 1.0)
        self.width_factor = _range(width_factor, "width_factor", 1.0)

    def matrices(self, count: int, height: int, width: int) -> torch.Tensor:
        dy = self.uniform(count, self.height_factor) * height
        dx = self.uniform(count, self.width_factor) * width
        one, zero = torch.ones(count, dtype=torch.float64), torch.zeros(count, dtype=torch.float64)
        return torch.stack([torch.stack([one, zero, -dx], 1), torch.stack([zero, one, -dy], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": list(self.height_factor),
            "width_factor": list(self.width_factor),
        }


class RandomContrast(_Random):
    """Scales each image's deviation from its per-channel mean by c, drawn from
    [1 − lower, 1 + upper] (``factor``), then clips to ``value_range``."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        lower, upper = (factor, factor) if is_number(factor) else tuple(factor)
        check_argument(
            "factor",
            factor,
            is_number(lower) and is_number(upper) and 0 <= lower <= 1 and upper >= 0,
            "a number in [0, 1] or a pair (lower ≤ 1, upper)",
        )
        self.factor = (float(lower), float(upper))
        low, high = value_range
        check_argument("value_range", value_range, low < high, "a pair (low, high)")
        self.value_range = (float(low), float(high))

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        bounds = (1.0 - self.factor[0], 1.0 + self.factor[1])
        scale = self.uniform(len(images), bounds).to(images)[:, None, None, None]
        mean = images.mean(dim=(2, 3), keepdim=True)
        return ((images - mean) * scale + mean).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "value_range": list(self.value_range),
        }
