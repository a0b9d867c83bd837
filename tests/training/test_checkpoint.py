"""BackupAndRestore: a run interrupted anywhere and resumed ends bit-identical to the run
that was never interrupted (the reference), in-process and in processes killed with
SIGKILL; and a control that leaves out the random states, which must not."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from training._resume import EPOCHS, data, tensors_of, train

from deepdescent import callbacks, config, layers
from deepdescent.layers import Dense, Input
from deepdescent.models import Model, Sequential
from deepdescent.optimizers import catalogue
from deepdescent.strategies import StochasticCurriculum
from deepdescent.training import checkpoint
from deepdescent.utils import set_random_seed, to_categorical

STEPS_PER_EPOCH = 5
ROOT = Path(__file__).resolve().parents[2]


class Interrupted(Exception):
    """Stands for the process dying."""


class InterruptAt(callbacks.Callback):
    """Raise ``error`` before the run's ``steps``-th batch (after ``steps`` batches and
    their backups), or, with ``epoch``, at the start of that epoch."""

    def __init__(
        self,
        steps: int | None = None,
        epoch: int | None = None,
        error: type[BaseException] = Interrupted,
    ) -> None:
        super().__init__()
        self.steps, self.epoch, self.error, self.seen = steps, epoch, error, 0

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise self.error

    def on_train_batch_begin(self, batch, logs=None):
        if self.seen == self.steps:
            raise self.error
        self.seen += 1


def interrupted(backup_dir, save_freq=1, csv=None, error=Interrupted, **at) -> None:
    with pytest.raises(error):
        train(backup_dir, [InterruptAt(error=error, **at)], save_freq=save_freq, csv=csv)


def assert_identical(model, history, reference) -> None:
    expected_model, expected_history = reference
    got, want = tensors_of(model), tensors_of(expected_model)
    assert got.keys() == want.keys()
    unequal = [name for name in want if not torch.equal(got[name], want[name])]
    assert not unequal, f"tensors that differ from the uninterrupted run: {unequal}"
    assert history == expected_history


@pytest.fixture(scope="module")
def reference():
    return train(None)


def test_the_reference_run_is_reproducible(reference):
    assert_identical(*train(None), reference)


@pytest.mark.parametrize("steps", range(1, EPOCHS * STEPS_PER_EPOCH))
def test_resuming_after_any_step_is_bit_identical(tmp_path, reference, steps):
    interrupted(tmp_path / "backup", steps=steps)
    assert_identical(*train(tmp_path / "backup"), reference)


@pytest.mark.parametrize("epoch", [1, 2])
def test_resuming_from_an_epoch_backup_is_bit_identical(tmp_path, reference, epoch):
    interrupted(tmp_path / "backup", save_freq="epoch", epoch=epoch)
    assert sorted(p.name for p in (tmp_path / "backup").iterdir())[-1] == f"backup-{epoch:08d}.zip"
    assert_identical(*train(tmp_path / "backup", save_freq="epoch"), reference)


def test_interrupted_several_times_then_finished(tmp_path, reference):
    for steps in (3, 4, 2):  # each counted from where the previous resume started
        interrupted(tmp_path / "backup", steps=steps)
    assert_identical(*train(tmp_path / "backup"), reference)


def test_the_csv_log_ends_as_the_uninterrupted_one(tmp_path):
    train(None, csv=tmp_path / "reference.csv")
    interrupted(tmp_path / "backup", steps=7, csv=tmp_path / "log.csv")
    interrupted(tmp_path / "backup", steps=0, csv=tmp_path / "log.csv")
    train(tmp_path / "backup", csv=tmp_path / "log.csv")
    assert (tmp_path / "log.csv").read_text() == (tmp_path / "reference.csv").read_text()


def test_without_the_random_states_the_resumed_run_differs(tmp_path, reference, monkeypatch):
    """The negative control: dropout masks drawn after the resume come from another state
    of torch's generator, so the run cannot end identical. This is what gives the tests
    above their teeth."""
    interrupted(tmp_path / "backup", steps=7)
    monkeypatch.setattr(checkpoint, "set_rng_state", lambda state: None)
    model, _ = train(tmp_path / "backup")
    got, want = tensors_of(model), tensors_of(reference[0])
    assert any(not torch.equal(got[name], want[name]) for name in want)


def test_a_damaged_newest_backup_falls_back_to_the_one_before(tmp_path, reference):
    interrupted(tmp_path / "backup", steps=6)
    older, newest = sorted((tmp_path / "backup").iterdir())
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"backup-00000006\.zip.*damaged"):
        resumed = train(tmp_path / "backup")
    assert older.name == "backup-00000005.zip"
    assert_identical(*resumed, reference)


def test_only_the_last_two_backups_are_kept_and_stale_temporaries_go(tmp_path):
    """And the backups get the user's umask, as files written by ``open`` do."""
    backup = tmp_path / "backup"
    interrupted(backup, steps=6)
    assert sorted(p.name for p in backup.iterdir()) == [
        "backup-00000005.zip",
        "backup-00000006.zip",
    ]
    mask = os.umask(0)
    os.umask(mask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in backup.iterdir()} == {0o666 & ~mask}
    (backup / ".backup-00000007.zip.1234abcd.part").write_bytes(b"half written")
    interrupted(backup, steps=0)
    assert not list(backup.glob("*.part"))


@pytest.mark.parametrize(("delete", "kept"), [(True, False), (False, True)])
def test_backups_are_deleted_after_a_normal_end_only_when_asked(tmp_path, delete, kept):
    backup = tmp_path / "backup"
    model = _tiny_model()
    x, y = _tiny_data()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.BackupAndRestore(backup, 1, delete)])
    assert backup.exists() == kept


@pytest.mark.parametrize("error", [Interrupted, KeyboardInterrupt])
def test_a_run_stopped_by_an_error_or_ctrl_c_keeps_its_backups(tmp_path, reference, error):
    interrupted(tmp_path / "backup", steps=3, error=error)
    assert len(list((tmp_path / "backup").iterdir())) == 2
    assert_identical(*train(tmp_path / "backup"), reference)


def test_a_backup_of_another_run_is_refused(tmp_path):
    interrupted(tmp_path / "backup", steps=3)
    model = _tiny_model(inputs=5)
    x, y = data()
    with pytest.raises(ValueError, match=r"different run \(batch_size: 8 in the backup, 4 now"):
        model.fit(
            x[:35],
            y[:35],
            batch_size=4,
            verbose=0,
            callbacks=[callbacks.BackupAndRestore(tmp_path / "backup")],
        )


def test_a_backup_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    x, y = _tiny_data()
    with pytest.raises(NotADirectoryError, match="is a file"):
        _tiny_model().fit(
            x, y, verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "file")]
        )


@pytest.mark.parametrize("name", catalogue.names())
def test_every_optimizer_resumes_mid_epoch_bit_identically(tmp_path, name):
    """The optimizer's whole state (curvature memories, averages, Schedule-Free's two
    points, the wrappers' inner state) goes into the backup, and ReduceLROnPlateau's
    counters and cuts with it."""
    x, y = _tiny_data()

    def run(extra=()):
        model = _tiny_model()
        entry = catalogue.info(name)
        model.compile(optimizer=entry.build(None, **entry.lecture.kwargs), loss=model.loss)
        backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=1)
        # mode="max" on the loss: every epoch after the first is a plateau, so a cut.
        plateau = callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0)
        history = model.fit(
            x, y, batch_size=8, epochs=2, verbose=0, callbacks=[plateau, backup, *extra]
        )
        return model, history.history

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # line-search notes of the batch methods
        reference = run()
        with pytest.raises(Interrupted):
            run([InterruptAt(steps=6)])
        resumed = run()
    assert_identical(*resumed, reference)


def test_a_curriculum_run_resumes_mid_epoch_bit_identically(tmp_path):
    """The epoch's order comes from a curriculum (the epoch number and the iterator's
    generator): the backup's epoch and generator give the same order again."""
    x, y = _tiny_data()
    difficulty = np.arange(len(x), dtype="float64")[::-1]

    def run(extra=()):
        model = _tiny_model()
        order = StochasticCurriculum(difficulty, pacing="linear", start=0.3, epochs=3)
        backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=1)
        history = model.fit(
            x, y, batch_size=8, epochs=3, verbose=0, shuffle=order, callbacks=[backup, *extra]
        )
        return model, history.history

    reference = run()
    with pytest.raises(Interrupted):
        run([InterruptAt(steps=6)])
    assert_identical(*run(), reference)


class _OwnStep(Sequential):
    """A model whose own train_step takes the default step at half the sample weight."""

    def train_step(self, data):
        x, y = data
        return super().train_step((x, y, torch.full((len(x),), 0.5)))


def _functional_model():
    set_random_seed(0)
    left, right = Input(shape=(4,), name="left"), Input(shape=(2,), name="right")
    merged = layers.Concatenate()([Dense(3, activation="tanh")(left), right])
    model = Model({"left": left, "right": right}, Dense(3, activation="softmax")(merged))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def _own_step_model():
    set_random_seed(0)
    model = _OwnStep([Dense(5, activation="tanh", input_shape=(4,)), Dense(3, "softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _mixed_model(policy="mixed_bfloat16"):
    try:
        config.set_dtype_policy(policy)
        return _tiny_model()
    finally:
        config.set_dtype_policy("float32")


def _float16_model():
    """float16 with its loss scaler, whose scale the backup carries."""
    return _mixed_model("mixed_float16")


@pytest.mark.parametrize(
    ("build", "inputs", "weighted"),
    [
        (_functional_model, "structure", True),
        (_own_step_model, "arrays", False),
        (_mixed_model, "arrays", True),
        (_float16_model, "arrays", False),
    ],
    ids=[
        "functional-two-inputs-sample-and-class-weights",
        "own-train-step",
        "mixed-bfloat16",
        "mixed-float16-loss-scale",
    ],
)
def test_keras_inputs_and_steps_resume_mid_epoch_bit_identically(tmp_path, build, inputs, weighted):
    """What fit takes since issue 9 runs in the same epoch loop: several inputs, sample
    and class weights, a model's own train_step, mixed precision — resumed mid-epoch,
    the run ends as the uninterrupted one."""
    x, y = _tiny_data()
    if inputs == "structure":
        x = {"left": x, "right": x[:, :2] ** 2}
    weights = np.linspace(0.5, 1.5, len(y)).astype("float32") if weighted else None
    class_weight = {0: 1.0, 1: 2.0, 2: 0.5} if weighted else None

    def run(extra=()):
        model = build()
        backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=1)
        history = model.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            verbose=0,
            sample_weight=weights,
            class_weight=class_weight,
            callbacks=[backup, *extra],
        )
        return model, history.history

    reference = run()
    with pytest.raises(Interrupted):
        run([InterruptAt(steps=5)])
    resumed = run()
    assert_identical(*resumed, reference)
    # The trainer's counters and, under float16, the loss scale and its growth tracker.
    assert resumed[0].trainer.state_dict() == reference[0].trainer.state_dict()


def _loader(x, y):
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    return torch.utils.data.DataLoader(dataset, batch_size=8)


@pytest.mark.parametrize(
    ("make_x", "extra", "argument"),
    [
        (lambda x, y: _loader(x, y), {}, "Invalid x: a dataset, DataLoader or generator"),
        (lambda x, y: ((x[i : i + 8], y[i : i + 8]) for i in range(0, 30, 8)), {}, "Invalid x"),
        (lambda x, y: x, {"steps_per_epoch": 2}, "Invalid steps_per_epoch"),
    ],
    ids=["dataloader", "generator", "steps_per_epoch"],
)
def test_inputs_without_a_resumable_position_are_refused_with_backups(
    tmp_path, make_x, extra, argument
):
    """A DataLoader's or generator's position and order cannot go into a backup: refused
    before step one, naming the argument, rather than resumed wrongly."""
    x, y = _tiny_data()
    model = _tiny_model()
    before = [w.copy() for w in model.get_weights()]
    given_y = y if "steps_per_epoch" in extra else None
    with pytest.raises(ValueError, match=argument):
        model.fit(
            make_x(x, y),
            given_y,
            epochs=1,
            verbose=0,
            callbacks=[callbacks.BackupAndRestore(tmp_path / "backup")],
            **extra,
        )
    assert not (tmp_path / "backup").exists()
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _tiny_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)).astype("float32")
    return x, to_categorical(rng.integers(0, 3, 30), 3)


def _tiny_model(inputs=4):
    set_random_seed(0)
    model = Sequential(
        [Dense(5, activation="tanh", input_shape=(inputs,)), Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


# -- processes killed with SIGKILL ---------------------------------------------------------


def _start(backup: Path, result: Path, delay: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    script = ROOT / "tests" / "training" / "_resume.py"
    return subprocess.Popen(
        [sys.executable, str(script), str(backup), str(result), str(delay)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _newest(backup: Path) -> int:
    names = [p.name for p in backup.glob("backup-*.zip")]
    return max((int(n[7:15]) for n in names), default=0)


def _finish(process: subprocess.Popen, timeout: float = 120) -> None:
    _, errors = process.communicate(timeout=timeout)
    assert process.returncode == 0, errors.decode()


def test_processes_killed_at_random_moments_resume_identically(tmp_path, reference):
    """Three runs are killed (SIGKILL) at random moments, each once it has written a new
    backup; a fourth finishes. Its result equals the run that was never killed (run in
    this process: the tensors are too small for torch to split them across threads)."""
    chooser = random.Random(0)
    backup = tmp_path / "backup"
    for _ in range(3):
        before = _newest(backup)
        process = _start(backup, tmp_path / "killed.npz", delay=0.02)
        deadline = time.monotonic() + 60
        while _newest(backup) <= before and process.poll() is None:
            assert time.monotonic() < deadline, "the run wrote no backup within a minute"
            time.sleep(0.005)
        time.sleep(chooser.uniform(0.0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    _finish(_start(backup, tmp_path / "resumed.npz", delay=0.0))
    resumed = np.load(tmp_path / "resumed.npz")
    model, history = reference
    expected = {k: v.numpy() for k, v in tensors_of(model).items()}
    expected |= {f"history/{k}": np.asarray(v) for k, v in history.items()}
    assert sorted(resumed.files) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    assert not backup.exists()  # finished normally: deleted
