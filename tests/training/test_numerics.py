"""Numerical faults: bad data refused before step one, a non-finite step never applied
(against a run without that batch), a diverged run rolled back and stopped, for every
optimizer of the catalogue."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from deepdescent import callbacks, losses
from deepdescent.layers import Dense, Layer
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD, catalogue
from deepdescent.training.numerics import NonFiniteError, NonFinitePolicy
from deepdescent.utils import set_random_seed, to_categorical

BATCH = 8


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    labels = rng.integers(0, 3, size=n)
    return x, labels


def model_with(optimizer="sgd", loss="categorical_crossentropy", activation="linear"):
    set_random_seed(0)
    model = Sequential([Dense(5, activation=activation, input_shape=(4,)), Dense(3, "softmax")])
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def assert_unchanged(model, before):
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -- the data, before step one ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "index", "value"),
    [("x", (3, 2), np.nan), ("y", (5, 1), np.inf), ("x_val", (1, 0), -np.inf)],
)
def test_non_finite_data_is_refused_before_step_one(name, index, value):
    x, labels = data()
    arrays = {"x": x, "y": to_categorical(labels, 3)}
    arrays |= {"x_val": x[:4].copy(), "y_val": arrays["y"][:4].copy()}
    arrays[name][index] = value
    model = model_with()
    before = weights_of(model)
    expected = rf"{name} holds {value} at index \({index[0]}, {index[1]}\) \(sample {index[0]}\)"
    with pytest.raises(ValueError, match=expected):
        model.fit(
            arrays["x"],
            arrays["y"],
            batch_size=BATCH,
            verbose=0,
            validation_data=(arrays["x_val"], arrays["y_val"]),
        )
    assert_unchanged(model, before)


@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_sparse_labels_are_refused_naming_y_and_the_range(bad):
    x, labels = data()
    labels[7] = bad
    model = model_with(loss="sparse_categorical_crossentropy")
    before = weights_of(model)
    with pytest.raises(ValueError, match=rf"y holds the label {bad} at index \(7,\).* 0 to 2"):
        model.fit(x, labels, batch_size=BATCH, verbose=0)
    assert_unchanged(model, before)


def test_an_out_of_range_label_in_the_validation_data_is_named_so():
    x, labels = data()
    val_labels = labels[:4].copy()
    val_labels[2] = 3
    model = model_with(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y_val holds the label 3 at index \(2,\)"):
        model.fit(x, labels, verbose=0, validation_data=(x[:4], val_labels))


def test_ignore_class_is_a_valid_label():
    x, labels = data()
    labels[3] = -1
    model = model_with(loss=losses.SparseCategoricalCrossentropy(ignore_class=-1))
    history = model.fit(x, labels, batch_size=BATCH, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_soft_labels_that_do_not_sum_to_one_warn():
    x, labels = data()
    y = to_categorical(labels, 3)
    y[6] *= 2.0
    with pytest.warns(UserWarning, match=r"y row \(6,\) sums to 2, not 1"):
        model_with().fit(x, y, batch_size=BATCH, verbose=0)


# -- steps that are not finite -----------------------------------------------------------


def poisoned(n=32, bad_batch=2):
    """Data with one whole batch of finite inputs so large that the loss or gradient
    overflows to inf/NaN in float32 (the data check lets them through)."""
    x, labels = data(n)
    x[bad_batch * BATCH : (bad_batch + 1) * BATCH] = 3e38
    keep = np.r_[0 : bad_batch * BATCH, (bad_batch + 1) * BATCH : n]
    return x, to_categorical(labels, 3), keep


def optimizer_for(name):
    entry = catalogue.info(name)
    return entry.build(None, **entry.lecture.kwargs)


@pytest.mark.parametrize("name", catalogue.names())
def test_a_non_finite_step_is_skipped_as_if_its_batch_were_not_there(name):
    """Without shuffling, the run with the poisoned batch skipped must end where the run
    on the data without that batch ends: bit for bit, for every optimizer (the second-
    order ones never see the batch either)."""
    x, y, keep = poisoned()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skipping = model_with(optimizer_for(name))
        history = skipping.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        reference = model_with(optimizer_for(name))
        expected = reference.fit(
            x[keep], y[keep], batch_size=BATCH, epochs=2, shuffle=False, verbose=0
        )
    assert history.history["skipped_steps"] == [1.0, 1.0]
    for a, b in zip(skipping.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert history.history["loss"] == expected.history["loss"]
    assert all(math.isfinite(v) for v in history.history["loss"])


class _Switch(Layer):
    """Passes its input through, or multiplies it by inf while ``poisoned``."""

    poisoned = False

    def call(self, inputs):
        return inputs * math.inf if self.poisoned else inputs


class _PoisonOneBatch(callbacks.Callback):
    """Poisons batch ``batch`` of epoch ``epoch``; records each batch's log keys."""

    def __init__(self, switch, epoch, batch):
        super().__init__()
        self.switch, self.at, self.epoch, self.keys = switch, (epoch, batch), 0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.switch.poisoned = (self.epoch, batch) == self.at

    def on_train_batch_end(self, batch, logs=None):
        self.keys.append(list(logs))


def test_skipped_steps_are_logged_from_the_first_skip_on():
    """Keras's logs until a step is skipped; from then on the epoch's count, and the
    History gives the epochs before it 0."""
    x, labels = data()
    switch = _Switch()
    model = Sequential([Dense(5, input_shape=(4,)), switch, Dense(3, "softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    poison = _PoisonOneBatch(switch, epoch=1, batch=2)
    history = model.fit(
        x, to_categorical(labels, 3), batch_size=BATCH, epochs=3, verbose=0, callbacks=[poison]
    )
    assert history.history["skipped_steps"] == [0.0, 1.0, 0.0]
    batches = len(x) // BATCH
    first_skip = batches + 2
    assert poison.keys[:first_skip] == [["loss"]] * first_skip
    assert poison.keys[first_skip:] == [["loss", "skipped_steps"]] * (3 * batches - first_skip)


def diverging(nonfinite="raise", lr=math.inf, callbacks_=(), epochs=3):
    x, labels = data()
    model = model_with(SGD(learning_rate=lr))
    initial = weights_of(model)
    run = {"x": x, "y": to_categorical(labels, 3), "batch_size": BATCH, "epochs": epochs}
    return (
        model,
        initial,
        lambda: model.fit(**run, verbose=0, nonfinite=nonfinite, callbacks=list(callbacks_)),
    )


def test_a_diverged_run_is_rolled_back_stopped_and_explained():
    """lr = inf: step 1 is evaluated at finite weights (kept) and applied; every later
    loss is NaN, so steps 2-6 are skipped and the kept weights come back."""
    model, initial, fit = diverging()
    with pytest.raises(NonFiniteError) as caught:
        fit()
    error = caught.value
    assert error.step == 6 and math.isnan(error.loss) and error.learning_rate == math.inf
    message = str(error)
    for part in ("step 6", "5 steps in a row", "learning rate inf", "step 1", "clipnorm"):
        assert part in message
    assert_unchanged(model, initial)
    # Epoch 1 skipped its last 3 steps; epoch 2 its first 2 and had no good step at all.
    assert model.history.history["skipped_steps"] == [3.0, 2.0]
    assert math.isfinite(model.history.history["loss"][0])
    assert math.isnan(model.history.history["loss"][1])


def test_warn_instead_of_raise_and_a_policy_with_its_own_patience():
    model, initial, fit = diverging(nonfinite=NonFinitePolicy(action="warn", patience=2))
    with pytest.warns(RuntimeWarning, match=r"stopped at step 3: 2 steps in a row"):
        history = fit()
    assert history.history["skipped_steps"] == [2.0]
    assert_unchanged(model, initial)


def test_the_kept_copy_is_the_last_good_one():
    """A learning rate that diverges only after many steps: the weights restored are
    finite and are those of a step whose loss was finite."""
    model, _, fit = diverging(
        nonfinite=NonFinitePolicy(action="warn", keep_every=3), lr=1e4, epochs=200
    )
    with pytest.warns(RuntimeWarning, match=r"the weights and optimizer state of step (\d+)"):
        fit()
    assert all(np.isfinite(w).all() for w in model.get_weights())


class _OwnStep(Sequential):
    """Keras's default step, taken by the model's own train_step."""

    def train_step(self, data):
        return super().train_step(data)


def test_a_models_own_train_step_is_watched_rolled_back_and_explained():
    """An own train_step applies its step before the guard can look, so the guard
    watches the loss it returns: with lr = inf step 1 (finite loss, at the initial
    weights, kept) is applied, steps 2-6 return NaN; the initial weights come back and
    the error says the steps were applied."""
    x, labels = data()
    set_random_seed(0)
    model = _OwnStep([Dense(5, input_shape=(4,)), Dense(3, "softmax")])
    model.compile(optimizer=SGD(learning_rate=math.inf), loss="categorical_crossentropy")
    initial = weights_of(model)
    with pytest.raises(NonFiniteError, match="the model's own train_step applied them") as caught:
        model.fit(x, to_categorical(labels, 3), batch_size=BATCH, epochs=3, verbose=0)
    assert caught.value.step == 6 and math.isnan(caught.value.loss)
    assert "the weights and optimizer state of step 1" in str(caught.value)
    assert_unchanged(model, initial)
    # Nothing was skipped (the own step applied every one): no count in the logs.
    assert "skipped_steps" not in model.history.history


def test_a_run_stopped_for_non_finite_values_keeps_its_backups(tmp_path):
    backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=1)
    _, _, fit = diverging(callbacks_=[backup])
    with pytest.raises(NonFiniteError):
        fit()
    assert len(list((tmp_path / "backup").iterdir())) == 2


def test_terminate_on_nan_stops_at_the_first_skipped_step_and_keeps_backups(tmp_path):
    x, y, _ = poisoned()
    backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=1)
    stopper = callbacks.TerminateOnNaN()
    with pytest.warns(UserWarning, match="Batch 2: a non-finite loss or gradient"):
        history = model_with().fit(
            x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, callbacks=[stopper, backup]
        )
    assert history.history["skipped_steps"] == [1.0]
    assert (tmp_path / "backup").exists()


def test_an_unknown_nonfinite_action_is_refused():
    x, labels = data()
    with pytest.raises(ValueError, match="Invalid nonfinite: 'ignore'"):
        model_with().fit(x, to_categorical(labels, 3), verbose=0, nonfinite="ignore")


def test_a_torch_optimizer_is_rolled_back_too():
    """The PyTorch door: torch.optim.Adam's state is kept and restored as well."""
    x, labels = data()
    model = model_with()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e30)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    initial = weights_of(model)
    with pytest.raises(NonFiniteError, match="the weights and optimizer state of step 1"):
        model.fit(x, to_categorical(labels, 3), batch_size=BATCH, epochs=3, verbose=0)
    assert_unchanged(model, initial)
    assert all(len(state) == 0 or int(state["step"]) == 0 for state in optimizer.state.values())
