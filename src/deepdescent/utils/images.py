"""Images from files, as Keras's ``keras.utils``: ``load_img``, ``img_to_array``,
``array_to_img``, ``save_img`` and ``image_dataset_from_directory`` (a folder with one
subfolder per class). Pillow decodes the files (``pip install pillow``); resizing is
torch's bilinear (or nearest) interpolation with half-pixel centres, as Keras resizes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepdescent.utils._checks import check_argument, check_count
from deepdescent.utils.py_dataset import PyDataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "array_to_img",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "resize_images",
    "save_img",
]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_COLOR_MODES = {"rgb": "RGB", "rgba": "RGBA", "grayscale": "L"}
_LABEL_MODES = ("int", "categorical", "binary", None)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("Reading and writing images needs Pillow: pip install pillow") from error
    return Image


def load_img(
    path: str | os.PathLike[str],
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
) -> Any:
    """The image at ``path`` as a Pillow image in ``color_mode`` (``"rgb"``, ``"rgba"``,
    ``"grayscale"``), resized to ``target_size`` = (height, width) when given."""
    check_argument("color_mode", color_mode, color_mode in _COLOR_MODES, str(tuple(_COLOR_MODES)))
    image = _pillow().open(path)
    image.load()
    image = image.convert(_COLOR_MODES[color_mode])
    if target_size is not None:
        pil = _pillow()
        resample = {"nearest": pil.NEAREST, "bilinear": pil.BILINEAR, "bicubic": pil.BICUBIC}
        check_argument(
            "interpolation", interpolation, interpolation in resample, str(tuple(resample))
        )
        height, width = target_size
        if image.size != (width, height):
            image = image.resize((width, height), resample[interpolation])
    return image


def img_to_array(img: Any, dtype: str = "float32") -> np.ndarray:
    """A Pillow image as an array ``(height, width, channels)``."""
    array = np.asarray(img, dtype=dtype)
    return array[..., None] if array.ndim == 2 else array


def array_to_img(x: Any, scale: bool = True) -> Any:
    """An array ``(height, width, channels)`` as a Pillow image; ``scale`` maps its
    range onto 0–255 first."""
    array = np.asarray(x, dtype="float64")
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Invalid x: shape {array.shape} (expected (height, width, 1|3|4))")
    if scale:
        array = array - array.min()
        peak = array.max()
        array = array / peak * 255 if peak > 0 else array
    array = np.clip(array, 0, 255).astype("uint8")
    return _pillow().fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def save_img(path: str | os.PathLike[str], x: Any, scale: bool = True) -> None:
    """Write an array ``(height, width, channels)`` as an image file."""
    array_to_img(x, scale=scale).save(path)


def resize_images(
    images: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear"
) -> torch.Tensor:
    """Channels-last ``images`` (batch, h, w, c) resized to ``size`` = (height, width):
    bilinear or nearest with half-pixel centres (Keras's and TensorFlow's resize)."""
    modes = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}
    check_argument("interpolation", interpolation, interpolation in modes, str(tuple(modes)))
    x = images.movedim(-1, 1).float()
    if tuple(x.shape[2:]) == tuple(size):
        return images.float()
    aligned = {"align_corners": False} if modes[interpolation] != "nearest-exact" else {}
    out = F.interpolate(x, size=tuple(size), mode=modes[interpolation], **aligned)
    return out.movedim(1, -1)


def _image_files(directory: Path, follow_links: bool) -> list[Path]:
    files = [
        Path(root) / name
        for root, _, names in os.walk(directory, followlinks=follow_links)
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
    ]
    return sorted(files)


class ImageFolderDataset(PyDataset):
    """Batches of images (and labels) read from files when asked for: what
    :func:`image_dataset_from_directory` returns. ``class_names`` lists the classes."""

    def __init__(
        self,
        paths: list[Path],
        labels: np.ndarray | None,
        class_names: list[str],
        batch_size: int | None,
        image_size: tuple[int, int],
        color_mode: str,
        interpolation: str,
        shuffle: bool,
        seed: int | None,
    ) -> None:
        super().__init__()
        self.paths, self.labels, self.class_names = paths, labels, class_names
        self.batch_size, self.image_size = batch_size, image_size
        self.color_mode, self.interpolation, self.shuffle = color_mode, interpolation, shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(paths))
        self.file_paths = [str(p) for p in paths]

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.paths)
        return -(-len(self.paths) // self.batch_size)

    def _image(self, path: Path) -> torch.Tensor:
        array = img_to_array(load_img(path, self.color_mode))
        return resize_images(torch.from_numpy(array)[None], self.image_size, self.interpolation)[0]

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        size = self.batch_size or 1
        chosen = self._order[index * size : (index + 1) * size]
        images = torch.stack([self._image(self.paths[i]) for i in chosen]).numpy()
        if self.batch_size is None:
            images = images[0]
        if self.labels is None:
            return images
        labels = self.labels[chosen] if self.batch_size is not None else self.labels[chosen[0]]
        return images, labels

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)


def _label_arrays(indices: np.ndarray, label_mode: str | None, classes: int) -> np.ndarray | None:
    if label_mode is None:
        return None
    if label_mode == "int":
        return indices.astype("int32")
    if label_mode == "binary":
        if classes != 2:
            raise ValueError(f"label_mode='binary' needs 2 classes, found {classes}")
        return indices.astype("float32").reshape(-1, 1)
    return np.eye(classes, dtype="float32")[indices]


def image_dataset_from_directory(
    directory: str | os.PathLike[str],
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: tuple[int, int] = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
) -> Any:
    """A dataset of the images under ``directory``, as Keras builds it.

    With ``labels="inferred"`` each subfolder is a class (named and ordered by the folder
    names, or by ``class_names``); ``labels`` may also be a list of labels for the sorted
    files, or ``None``. Batches are ``(images, labels)``: images float32
    ``(batch, *image_size, channels)`` in 0–255, labels int32 (``"int"``), one-hot
    (``"categorical"``) or float32 ``(batch, 1)`` (``"binary"``). The file list is
    shuffled once with ``seed`` before ``validation_split`` cuts off its last share
    (``subset="training"``, ``"validation"`` or ``"both"`` for the pair).
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"Invalid directory: {os.fspath(directory)!r} is not a folder")
    check_argument("label_mode", label_mode, label_mode in _LABEL_MODES, str(_LABEL_MODES))
    check_argument("color_mode", color_mode, color_mode in _COLOR_MODES, str(tuple(_COLOR_MODES)))
    if batch_size is not None:
        check_count("batch_size", batch_size)
    size = (check_count("image_size", image_size[0]), check_count("image_size", image_size[1]))
    paths, label_index, names = _files_and_labels(root, labels, class_names, follow_links)
    if label_index is None:
        label_mode = None
    classes = len(names) if names else 0 if label_index is None else int(label_index.max()) + 1
    if validation_split is not None and shuffle and seed is None and subset != "both":
        raise ValueError(
            "Invalid seed: None (expected an int with validation_split and shuffle, so that "
            "the training and validation subsets are cut from the same order)"
        )
    order = np.arange(len(paths))
    if shuffle:
        np.random.default_rng(seed).shuffle(order)
    paths = [paths[i] for i in order]
    label_index = None if label_index is None else label_index[order]
    splits = _split(len(paths), validation_split, subset)

    def make(part: slice) -> ImageFolderDataset:
        labels_part = None if label_index is None else label_index[part]
        return ImageFolderDataset(
            paths[part],
            None if labels_part is None else _label_arrays(labels_part, label_mode, classes),
            names,
            batch_size,
            size,
            color_mode,
            interpolation,
            shuffle,
            seed,
        )

    made = [make(part) for part in splits]
    return tuple(made) if len(made) == 2 else made[0]


def _files_and_labels(
    root: Path, labels: Any, class_names: list[str] | None, follow_links: bool
) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """The image files under ``root``, their class indices (or ``None``) and the class
    names (empty unless inferred from the folders)."""
    if labels == "inferred":
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        names = list(class_names) if class_names is not None else found
        if class_names is not None and sorted(class_names) != found:
            raise ValueError(f"Invalid class_names: {class_names} (the folders are {found})")
        paths: list[Path] = []
        indices: list[int] = []
        for i, name in enumerate(names):
            files = _image_files(root / name, follow_links)
            paths += files
            indices += [i] * len(files)
        label_index: np.ndarray | None = np.array(indices, dtype=np.int64)
    else:
        names, paths = [], _image_files(root, follow_links)
        label_index = None if labels is None else np.asarray(labels, dtype=np.int64)
        if label_index is not None and len(label_index) != len(paths):
            raise ValueError(f"labels has {len(label_index)} entries for {len(paths)} images")
    if not paths:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    return paths, label_index, names


def _split(count: int, fraction: float | None, subset: str | None) -> list[slice]:
    if fraction is None:
        check_argument("subset", subset, subset is None, "None without validation_split")
        return [slice(None)]
    check_argument(
        "validation_split",
        fraction,
        isinstance(fraction, float) and 0 < fraction < 1,
        "a number in (0, 1)",
    )
    check_argument(
        "subset",
        subset,
        subset in ("training", "validation", "both"),
        "'training', 'validation' or 'both' with validation_split",
    )
    cut = count - int(fraction * count)
    training, validation = slice(0, cut), slice(cut, None)
    if subset == "training":
        return [training]
    return [validation] if subset == "validation" else [training, validation]
