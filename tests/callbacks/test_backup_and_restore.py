"""BackupAndRestore's arguments and schedule (the resume itself is tested with the
trainer, in tests/training/test_checkpoint.py)."""

from __future__ import annotations

import pytest

from deepdescent.callbacks import BackupAndRestore


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"backup_dir": ""}, "backup_dir"),
        ({"backup_dir": None}, "backup_dir"),
        ({"backup_dir": "b", "save_freq": 0}, "save_freq"),
        ({"backup_dir": "b", "save_freq": "batch"}, "save_freq"),
        ({"backup_dir": "b", "save_freq": True}, "save_freq"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=f"Invalid {name}"):
        BackupAndRestore(**kwargs)


def test_when_backups_are_due():
    every_epoch = BackupAndRestore("b")
    assert every_epoch.due_after_epoch() and not every_epoch.due_after_batch(1)
    every_third = BackupAndRestore("b", save_freq=3)
    assert not every_third.due_after_epoch()
    assert [s for s in range(1, 10) if every_third.due_after_batch(s)] == [3, 6, 9]


def test_config_uses_keras_names(tmp_path):
    import numpy as np

    callback = BackupAndRestore(tmp_path, save_freq=np.int64(5), delete_checkpoint=False)
    assert callback.get_config() == {
        "backup_dir": str(tmp_path),
        "save_freq": 5,
        "delete_checkpoint": False,
    }
