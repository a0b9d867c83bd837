"""Images from files: load_img/img_to_array round trips and image_dataset_from_directory
(classes from folders, label modes, Keras's split, resizing) on PNGs the test writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepdescent.utils import (
    PyDataset,
    array_to_img,
    image_dataset_from_directory,
    img_to_array,
    load_img,
    save_img,
)

pytest.importorskip("PIL", reason="image files are decoded by Pillow")


def _write_folder(root, per_class=(3, 2), size=(6, 8)):
    rng = np.random.default_rng(0)
    written = {}
    for name, count in zip(("cats", "dogs"), per_class, strict=True):
        (root / name).mkdir(parents=True)
        for i in range(count):
            array = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            path = root / name / f"{i}.png"
            save_img(path, array, scale=False)
            written[str(path)] = array
    (root / "cats" / "notes.txt").write_text("not an image")
    return written


def test_load_img_and_img_to_array_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    save_img(tmp_path / "a.png", array, scale=False)
    loaded = img_to_array(load_img(tmp_path / "a.png"))
    np.testing.assert_array_equal(loaded, array.astype("float32"))
    gray = img_to_array(load_img(tmp_path / "a.png", color_mode="grayscale"))
    assert gray.shape == (2, 4, 1)
    assert img_to_array(load_img(tmp_path / "a.png", target_size=(3, 5))).shape == (3, 5, 3)
    scaled = img_to_array(array_to_img(np.array([[[0.0], [0.5], [1.0]]])))
    np.testing.assert_array_equal(scaled[..., 0], [[0, 127, 255]])


def test_folders_become_classes_and_batches_have_keras_shapes(tmp_path):
    written = _write_folder(tmp_path)
    data = image_dataset_from_directory(tmp_path, batch_size=2, image_size=(6, 8), shuffle=False)
    assert isinstance(data, PyDataset) and data.class_names == ["cats", "dogs"]
    assert len(data) == 3
    images, labels = data[0]
    assert images.shape == (2, 6, 8, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    all_labels = np.concatenate([data[i][1] for i in range(len(data))])
    np.testing.assert_array_equal(all_labels, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(images[0], written[data.file_paths[0]].astype("float32"))


def test_images_are_resized_bilinearly_with_half_pixel_centres(tmp_path):
    written = _write_folder(tmp_path)
    data = image_dataset_from_directory(tmp_path, batch_size=5, image_size=(3, 4), shuffle=False)
    images, _ = data[0]
    source = torch.from_numpy(written[data.file_paths[0]].astype("float32"))
    expected = F.interpolate(
        source.movedim(-1, 0)[None], size=(3, 4), mode="bilinear", align_corners=False
    )[0].movedim(0, -1)
    np.testing.assert_allclose(images[0], expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    ("label_mode", "shape", "dtype"),
    [("categorical", (5, 2), np.float32), ("binary", (5, 1), np.float32)],
)
def test_label_modes(tmp_path, label_mode, shape, dtype):
    _write_folder(tmp_path)
    data = image_dataset_from_directory(
        tmp_path, label_mode=label_mode, batch_size=5, image_size=(6, 8), shuffle=False
    )
    _, labels = data[0]
    assert labels.shape == shape and labels.dtype == dtype


def test_validation_split_cuts_one_shuffled_order(tmp_path):
    _write_folder(tmp_path, per_class=(6, 4))
    kwargs = dict(batch_size=None, image_size=(6, 8), validation_split=0.3, seed=7)
    train = image_dataset_from_directory(tmp_path, subset="training", **kwargs)
    validation = image_dataset_from_directory(tmp_path, subset="validation", **kwargs)
    assert len(train) == 7 and len(validation) == 3
    assert not set(train.file_paths) & set(validation.file_paths)
    both = image_dataset_from_directory(tmp_path, subset="both", **kwargs)
    assert both[1].file_paths == validation.file_paths
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(tmp_path, validation_split=0.3, subset="training")


def test_shuffle_reorders_after_each_epoch(tmp_path):
    _write_folder(tmp_path, per_class=(6, 6))
    data = image_dataset_from_directory(tmp_path, batch_size=12, image_size=(6, 8), seed=1)
    first = data[0][1].copy()
    data.on_epoch_end()
    assert sorted(first) == sorted(data[0][1]) and not np.array_equal(first, data[0][1])


def test_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        image_dataset_from_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No images"):
        image_dataset_from_directory(tmp_path, labels=None)
    with pytest.raises(ValueError, match="use_multiprocessing"):
        PyDataset(use_multiprocessing=True)
