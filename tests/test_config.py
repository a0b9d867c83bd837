"""deepdescent.config: Keras's global settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import config, layers, ops


def test_backend_and_defaults_are_keras():
    assert config.backend() == "torch"
    assert config.floatx() == "float32"
    assert config.epsilon() == 1e-7
    assert config.image_data_format() == "channels_last"


def test_set_floatx_changes_new_weights_and_conversions():
    try:
        config.set_floatx("float64")
        layer = layers.Dense(2)
        layer(np.ones((1, 3)))
        assert layer.kernel.dtype == torch.float64
        assert ops.convert_to_tensor([1.5]).dtype == torch.float64
    finally:
        config.set_floatx("float32")
    assert torch.get_default_dtype() == torch.float32


def test_image_data_format_sets_the_spatial_layers_default():
    try:
        config.set_image_data_format("channels_first")
        assert layers.Conv2D(2, 3).data_format == "channels_first"
    finally:
        config.set_image_data_format("channels_last")
    assert layers.Conv2D(2, 3).data_format == "channels_last"


@pytest.mark.parametrize(
    ("setter", "value", "argument"),
    [
        (config.set_floatx, "float8", "value"),
        (config.set_epsilon, 0, "value"),
        (config.set_image_data_format, "nhwc", "data_format"),
    ],
)
def test_bad_settings_are_refused(setter, value, argument):
    with pytest.raises(ValueError, match=argument):
        setter(value)


def test_standardize_dtype_reads_names_numpy_and_torch():
    assert config.standardize_dtype("int32") is torch.int32
    assert config.standardize_dtype(np.float64) is torch.float64
    assert config.standardize_dtype(np.dtype("uint8")) is torch.uint8
    assert config.standardize_dtype(torch.bfloat16) is torch.bfloat16
    assert config.standardize_dtype(None) is torch.float32


def test_tracebacks_are_never_filtered():
    """Keras hides its own frames unless ``disable_traceback_filtering()`` is called;
    deepdescent's tracebacks always reach the frame that raised."""
    config.disable_traceback_filtering()
    assert config.is_traceback_filtering_enabled() is False
    with pytest.raises(ValueError) as raised:
        layers.Dense(-1)
    frames = [entry.path for entry in raised.traceback]
    assert any(str(path).endswith("deepdescent/layers/core.py") for path in frames)
