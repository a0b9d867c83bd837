"""The trainer against a hand-written PyTorch computation of the same math."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepdescent import callbacks, losses
from deepdescent.layers import Dense
from deepdescent.models import Model, Sequential
from deepdescent.optimizers import LBFGS, SGD
from deepdescent.optimizers.contract import TrainingNeeds
from deepdescent.training import Trainer
from deepdescent.utils import set_random_seed, to_categorical


def blobs(n=200, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, d))
    labels = rng.integers(0, classes, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype("float32")
    return x, labels


def small_model(d=5, classes=3, **compile_args):
    set_random_seed(0)
    model = Sequential(
        [Dense(8, activation="sigmoid", input_shape=(d,)), Dense(classes, activation="softmax")]
    )
    model.compile(
        **{
            "optimizer": SGD(learning_rate=0.1),
            "loss": "categorical_crossentropy",
            "metrics": ["accuracy"],
            **compile_args,
        }
    )
    return model


def test_fit_follows_a_hand_written_sgd_loop():
    """shuffle=False, so minibatches are in order: the weights after fit must equal plain
    torch SGD on softmax cross-entropy computed from the logits."""
    x, labels = blobs(n=40)
    y = to_categorical(labels, 3)
    model = small_model()
    w1, b1, w2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    for _ in range(3):
        for start in range(0, 40, 16):
            xb, yb = xt[start : start + 16], yt[start : start + 16]
            loss = F.cross_entropy(torch.sigmoid(xb @ w1 + b1) @ w2 + b2, yb)
            grads = torch.autograd.grad(loss, [w1, b1, w2, b2])
            with torch.no_grad():
                for w, g in zip((w1, b1, w2, b2), grads, strict=True):
                    w -= 0.1 * g
    for got, want in zip(model.get_weights(), (w1, b1, w2, b2), strict=True):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_fit_learns_and_reports_keras_history():
    x, labels = blobs()
    model = small_model()
    history = model.fit(
        x, to_categorical(labels, 3), batch_size=32, epochs=15, verbose=0, validation_split=0.2
    )
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9


def test_validation_split_holds_out_the_last_samples():
    x, labels = blobs(n=100)
    y = to_categorical(labels, 3)
    model = small_model()
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.3)
    val_loss, val_acc = model.evaluate(x[70:], y[70:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-5)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc, rel=1e-6)


def test_reported_loss_is_the_sample_weighted_mean_over_the_epoch():
    x, labels = blobs(n=50)
    y = to_categorical(labels, 3)
    model = small_model(optimizer=SGD(learning_rate=0.0))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    logits = torch.from_numpy(model.predict(x, verbose=0)).log()
    expected = F.nll_loss(logits, torch.from_numpy(labels)).item()
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_softmax_cross_entropy_is_computed_from_logits():
    """Saturated softmax: the clipped probability form would cap the loss near
    -log(1e-7) ≈ 16.1; the fused form gives the exact cross-entropy of the logits."""
    model = Sequential(
        [Dense(2, activation="softmax", input_shape=(1,), kernel_initializer="ones")]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with torch.no_grad():
        model.layers[0].kernel.copy_(torch.tensor([[50.0, -50.0]]))
    x = np.array([[1.0]], dtype="float32")
    loss = model.evaluate(x, np.array([[0.0, 1.0]], dtype="float32"), verbose=0)
    assert loss == pytest.approx(100.0, rel=1e-5)


def test_regularizer_penalty_is_added_to_the_cost():
    x, labels = blobs(n=30)
    y = to_categorical(labels, 3)
    set_random_seed(0)
    model = Sequential([Dense(3, activation="softmax", input_shape=(5,), kernel_regularizer="l2")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    kernel, bias = model.get_weights()
    logits = torch.from_numpy(x @ kernel + bias)
    expected = F.cross_entropy(logits, torch.from_numpy(labels)).item() + 0.01 * np.sum(kernel**2)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_sparse_labels_and_model_of_a_torch_module():
    x, labels = blobs()
    torch.manual_seed(0)
    model = Model(
        torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    )
    model.compile(
        optimizer=SGD(learning_rate=0.1, momentum=0.9),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, labels, batch_size=32, epochs=10, verbose=0)
    _, accuracy = model.evaluate(x, labels, verbose=0)
    assert accuracy > 0.9


def test_torch_door_optimizer_bound_by_the_user():
    x, labels = blobs()
    model = small_model()
    model.compile(
        optimizer=torch.optim.Adam(model.parameters(), lr=0.01), loss="categorical_crossentropy"
    )
    history = model.fit(x, to_categorical(labels, 3), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_evaluate_return_forms_and_predict():
    x, labels = blobs(n=20)
    y = to_categorical(labels, 3)
    model = small_model()
    assert isinstance(model.evaluate(x, y, verbose=0), list)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    probabilities = model.predict(x, batch_size=7, verbose=0)
    assert probabilities.shape == (20, 3)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)


class WeightsAtEpochEnd(callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def test_callbacks_early_stopping_restores_best_weights():
    """The model ends with the weights it had at the end of the epoch of lowest loss,
    as recorded by another callback, not with the last epoch's."""
    x, labels = blobs(n=60)
    y = to_categorical(labels, 3)
    model = small_model(optimizer=SGD(learning_rate=50.0))
    stopper = callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    recorder = WeightsAtEpochEnd()
    history = model.fit(x, y, batch_size=60, epochs=30, verbose=0, callbacks=[recorder, stopper])
    losses = history.history["loss"]
    assert len(losses) < 30
    best = int(np.argmin(losses))
    assert best < len(losses) - 1 and stopper.best == pytest.approx(losses[best])
    for got, want in zip(model.get_weights(), recorder.weights[best], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(model.get_weights()[0], recorder.weights[-1][0])


def test_initial_epoch_and_keras_log_keys():
    """As Keras 3: the logs hold the loss and metrics, sorted by name; the learning rate
    only where a scheduler callback writes it."""
    x, labels = blobs(n=20)
    model = small_model(metrics=["mse", "accuracy"])
    history = model.fit(x, to_categorical(labels, 3), epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2]
    assert list(history.history) == ["accuracy", "loss", "mse"]


def test_progress_bar_prints_keras_lines(capsys):
    x, labels = blobs(n=64)
    small_model().fit(x, to_categorical(labels, 3), batch_size=32, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "loss:" in out and "accuracy:" in out


def test_validation_data_and_accuracy_resolved_from_shapes():
    """A single sigmoid unit trained with MSE: "accuracy" must be binary accuracy, which
    Keras picks from the output width once it sees the data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2)).astype("float32")
    y = (x[:, :1] + x[:, 1:] > 0).astype("float32")
    set_random_seed(0)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile(optimizer=SGD(learning_rate=0.5), loss="mse", metrics=["accuracy"])
    history = model.fit(x[:60], y[:60], epochs=20, verbose=0, validation_data=(x[60:], y[60:]))
    predicted = model.predict(x[60:], verbose=0) > 0.5
    expected = float(np.mean(predicted == (y[60:] > 0.5)))
    assert history.history["val_accuracy"][-1] == pytest.approx(expected)
    assert expected > 0.8
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        model.fit(x, y, validation_data=x, verbose=0)


def test_fit_ends_on_the_polyak_average_when_use_ema():
    x, labels = blobs(n=40)
    model = small_model(optimizer=SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9))
    model.fit(x, to_categorical(labels, 3), batch_size=8, epochs=2, verbose=0)
    for param in model.parameters():
        torch.testing.assert_close(param.detach(), model.optimizer.state[param]["ema"])


def test_batch_methods_train_full_batch_by_default():
    """An optimizer that declares itself a batch method gets the whole training set per
    step when batch_size is None (one step per epoch)."""

    class FullBatchSGD(SGD):
        training_needs = TrainingNeeds(closure=True, full_batch=True)

    x, labels = blobs(n=50)
    model = small_model(optimizer=FullBatchSGD(learning_rate=0.1))
    model.fit(x, to_categorical(labels, 3), epochs=3, verbose=0)
    assert model.optimizer.iterations == 3
    model.fit(x, to_categorical(labels, 3), epochs=1, batch_size=10, verbose=0)
    assert model.optimizer.iterations == 3 + 5


def test_the_trainer_hands_over_what_the_optimizer_declares():
    """prepare() with the model's recordable layers before the first step, model_outputs
    of each step's minibatch that reproduce the closure's loss, release() after the last
    step, and autograd instead of the hand-written back-propagation."""
    calls = []

    class Declaring(SGD):
        training_needs = TrainingNeeds(autograd=True, model_outputs=True, layer_statistics=True)

        def prepare(self, layers):
            calls.append(("prepare", [layer.name for layer in layers]))

        def release(self):
            calls.append(("release",))

        def step(self, closure=None, *, model_outputs=None):
            loss = closure()
            with torch.no_grad():
                outputs = model_outputs.outputs_fn()
                rebuilt = model_outputs.loss_of_outputs(outputs)
            calls.append(("step", float(loss), float(rebuilt)))
            return super().step()

    x, labels = blobs(n=40)
    model = small_model(optimizer=Declaring(learning_rate=0.1))
    model.fit(x, to_categorical(labels, 3), batch_size=20, epochs=2, verbose=0)
    assert calls[0] == ("prepare", ["dense", "dense_1"])
    assert calls[-1] == ("release",)
    steps = calls[1:-1]
    assert len(steps) == 4
    for _, loss, rebuilt in steps:
        assert rebuilt == pytest.approx(loss, rel=1e-6)
    assert Trainer(model).gradient_path.name == "autograd"


def test_model_outputs_cut_into_rows_and_their_cost_is_the_closures_loss():
    """ModelOutputs.rows(s) are the same functions on the rows s; chunk(f, k) the k-th of
    the consecutive sub-batches of ⌈f · N⌉ rows; cost() the closure's loss."""
    seen = []

    class Cutting(SGD):
        training_needs = TrainingNeeds(model_outputs=True)

        def step(self, closure=None, *, model_outputs=None):
            loss = closure()
            with torch.no_grad():
                parts = [model_outputs.chunk(0.25, k) for k in range(5)]
                seen.append(
                    (
                        float(loss),
                        float(model_outputs.cost()),
                        model_outputs.batch_size,
                        [p.batch_size for p in parts],
                        [float(p.cost()) for p in parts],
                    )
                )
            return super().step()

    x, labels = blobs(n=10)
    y = to_categorical(labels, 3)
    model = small_model(optimizer=Cutting(learning_rate=0.0))
    model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    loss, cost, size, sizes, costs = seen[0]
    assert cost == pytest.approx(loss, rel=1e-6) and size == 10
    assert sizes == [3, 3, 3, 1, 3]  # ⌈2.5⌉ = 3 rows: 0–2, 3–5, 6–8, 9, then 0–2 again
    for part, rows in zip(
        costs[:4], [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)], strict=True
    ):
        assert part == pytest.approx(model.evaluate(x[rows], y[rows], verbose=0)[0], rel=1e-5)


def test_a_long_step_reports_its_inner_iterations_only_when_someone_listens():
    """An optimizer that declares ``progress`` is handed a callable that reaches the
    callbacks' on_train_batch_progress (with the batch), or None when none listens."""
    handed = []

    class Reporting(SGD):
        training_needs = TrainingNeeds(progress=True)

        def step(self, closure=None, *, progress=None):
            handed.append(progress)
            if progress is not None:
                for done in (1, 2):
                    progress(done, 5, "inner")
            return super().step(closure)

    class Listening(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.reports = []

        def on_train_batch_progress(self, batch, done, total, unit):
            self.reports.append((batch, done, total, unit))

    x, labels = blobs(n=20)
    y = to_categorical(labels, 3)
    model = small_model(optimizer=Reporting(learning_rate=0.1))
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert handed == [None, None]
    listening = Listening()
    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[listening])
    assert listening.reports == [(b, d, 5, "inner") for b in (0, 1) for d in (1, 2)]


def test_the_hand_written_backprop_is_chosen_only_when_no_participant_needs_autograd():
    model = small_model()
    assert Trainer(model).gradient_path.name == "manual"

    class NeedsHooks(callbacks.Callback):
        needs_autograd = True

    path = Trainer(model, callbacks.CallbackList([NeedsHooks()])).gradient_path
    assert path.name == "autograd" and "NeedsHooks" in path.reason
    model.backprop = "manual"
    with pytest.raises(ValueError, match="NeedsHooks need autograd"):
        Trainer(model, callbacks.CallbackList([NeedsHooks()]))


def test_verbose_2_says_which_gradient_path_it_took(capsys):
    x, labels = blobs(n=40)
    model = small_model()
    model.fit(x, to_categorical(labels, 3), epochs=1, verbose=2)
    assert "Gradients: manual (every layer has a hand-written backward pass)" in (
        capsys.readouterr().out
    )


@pytest.mark.compile
def test_verbose_2_reports_the_compile_of_a_fused_body_once(capsys):
    """RMSprop's fused body is compiled at the first step (``fused=True``, for this small
    model); the line says so after the first epoch only."""
    from deepdescent.optimizers import RMSprop

    x, labels = blobs(n=40)
    model = small_model(optimizer=RMSprop(learning_rate=0.01, fused=True))
    model.fit(x, to_categorical(labels, 3), epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert model.optimizer.compile_seconds > 0
    assert out.count("Fused optimizer body compiled in") == 1
    assert out.index("Epoch 1/2") < out.index("Fused optimizer body") < out.index("Epoch 2/2")


def test_verbose_2_reports_no_compile_where_none_ran(capsys):
    """The default ``fused=None`` leaves a small model's body uncompiled: no line."""
    from deepdescent.optimizers import RMSprop

    x, labels = blobs(n=40)
    model = small_model(optimizer=RMSprop(learning_rate=0.01))
    model.fit(x, to_categorical(labels, 3), epochs=1, verbose=2)
    assert model.optimizer.compile_seconds == 0
    assert "compiled" not in capsys.readouterr().out


def test_schedule_free_model_is_evaluated_and_returned_at_the_average():
    """fit switches Schedule-Free to eval() (parameters at the average x) for validation
    and at the end, and back to train() (y) for the next epoch."""
    from deepdescent.optimizers import ScheduleFreeSGD

    x, labels = blobs(n=60)
    y = to_categorical(labels, 3)
    model = small_model(optimizer=ScheduleFreeSGD(learning_rate=0.5))
    history = model.fit(x, y, batch_size=20, epochs=3, verbose=0, validation_split=0.25)
    assert all(not g["train_mode"] for g in model.optimizer.param_groups)
    val_loss, _ = model.evaluate(x[45:], y[45:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_float64_model_trains_on_float64_targets():
    x, labels = blobs(n=40)
    model = small_model()
    model.double()
    x_t, y_t = model.prepare_data(x, to_categorical(labels, 3))
    assert x_t.dtype == y_t.dtype == torch.float64
    model.fit(x, to_categorical(labels, 3), epochs=1, verbose=0)
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_fit_refuses_misuse_of_its_arguments_before_step_one():
    x, labels = blobs(n=20)
    y = to_categorical(labels, 3)
    model = small_model()
    before = model.get_weights()
    with pytest.raises(TypeError, match=r"got a single EarlyStopping: pass callbacks=\["):
        model.fit(x, y, verbose=0, callbacks=callbacks.EarlyStopping())
    with pytest.raises(ValueError, match="Invalid validation_batch_size: 0"):
        model.fit(x, y, verbose=0, validation_split=0.5, validation_batch_size=0)
    with pytest.raises(ValueError, match=r"Invalid initial_epoch: 5 .*epochs=3"):
        model.fit(x, y, verbose=0, epochs=3, initial_epoch=5)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_validation_data_overrides_validation_split_with_a_warning():
    x, labels = blobs(n=40)
    y = to_categorical(labels, 3)
    model = small_model()
    with pytest.warns(UserWarning, match="validation_split ignored, as in Keras"):
        history = model.fit(x, y, verbose=0, validation_split=0.5, validation_data=(x[:5], y[:5]))
    expected = model.evaluate(x[:5], y[:5], verbose=0, return_dict=True)["loss"]
    assert history.history["val_loss"] == [pytest.approx(expected)]


def test_numpy_integers_are_accepted_as_counts():
    x, labels = blobs(n=20)
    history = small_model().fit(
        x, to_categorical(labels, 3), batch_size=np.int64(8), epochs=np.int32(2), verbose=0
    )
    assert history.epoch == [0, 1]


def test_one_optimizer_compiled_into_two_models_trains_both():
    """The second model gets a fresh copy of the optimizer (with a warning) instead of
    never training; the first keeps its own optimizer and state."""
    x, labels = blobs(n=40)
    y = to_categorical(labels, 3)
    shared = SGD(learning_rate=0.1, momentum=0.9)
    first, second = small_model(optimizer=shared), small_model(optimizer=shared)
    first.fit(x, y, epochs=1, verbose=0)
    before = second.get_weights()
    set_random_seed(1)
    with pytest.warns(UserWarning, match="already holds another model's parameters"):
        second.fit(x, y, epochs=1, verbose=0)
    assert first.optimizer is shared and second.optimizer is not shared
    assert second.optimizer.get_config() == shared.get_config()
    reference = small_model(optimizer=SGD(learning_rate=0.1, momentum=0.9))
    set_random_seed(1)
    reference.fit(x, y, epochs=1, verbose=0)
    for got, want, old in zip(second.get_weights(), reference.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(got, old)


def test_a_torch_optimizer_of_another_model_is_refused():
    x, labels = blobs(n=20)
    other = small_model()
    model = small_model(optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="holds none of this model's parameters"):
        model.fit(x, to_categorical(labels, 3), verbose=0)


def test_a_layer_added_after_fit_is_trained_too():
    x, labels = blobs(n=40)
    y = to_categorical(labels, 3)
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    model.add(Dense(3, activation="softmax"))
    added = [w.copy() for w in model.get_weights()[-2:]]
    model.fit(x, y, epochs=1, verbose=0)
    after = model.get_weights()[-2:]
    assert all(not np.array_equal(a, b) for a, b in zip(added, after, strict=True))


def test_a_layer_added_outside_a_torch_optimizer_is_refused():
    x, labels = blobs(n=20)
    model = small_model()
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss="mse")
    model.add(Dense(3))
    with pytest.raises(ValueError, match="layers added after it was made"):
        model.fit(x, to_categorical(labels, 3), verbose=0)


def test_the_trainer_counts_every_evaluation_of_the_loss_and_its_gradient():
    """model.trainer.evaluations: SGD evaluates once per minibatch, L-BFGS as often as its
    own counter says (torch's func_evals, kept in the optimizer's state); the count leaves
    the hand-written back-propagation in place."""
    x, labels = blobs(n=50)
    y = to_categorical(labels, 3)
    model = small_model()
    assert model.trainer is None
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert model.trainer.evaluations == 3 * 7
    assert model.trainer.gradient_path.name == "manual"
    model.fit(x, y, batch_size=25, epochs=1, verbose=0)
    assert model.trainer.evaluations == 2, "each fit counts its own"

    quasi_newton = small_model(optimizer=LBFGS(max_iter=7))
    quasi_newton.fit(x, y, epochs=3, verbose=0)
    (state,) = [s for s in quasi_newton.optimizer.state.values() if "func_evals" in s]
    assert quasi_newton.trainer.evaluations == state["func_evals"] > 3


class _OwnTrainStep(Sequential):
    def train_step(self, data):
        return super().train_step(data)


def _mixed_small_model():
    from deepdescent import config

    try:
        config.set_dtype_policy("mixed_bfloat16")
        return small_model()
    finally:
        config.set_dtype_policy("float32")


@pytest.mark.parametrize(
    ("case", "argument"),
    [
        ("dataloader", "Invalid x: a dataset, DataLoader or generator"),
        ("steps_per_epoch", "Invalid steps_per_epoch: 2"),
        ("sample_weight", "Invalid sample_weight"),
        ("class_weight", "Invalid sample_weight"),
        ("own_train_step", "Invalid train_step: '_OwnTrainStep.train_step'"),
        ("mixed_precision", "Invalid dtype_policy: 'mixed_bfloat16'"),
    ],
)
def test_a_data_parallel_fit_refuses_what_it_cannot_share_before_step_one(case, argument):
    """What DistributedDataParallel cannot take through the shared epoch loop — a stream
    without one permutation for every process, weights the shards' scaling ignores, an
    own step that bypasses the all-reduce, mixed precision — is refused by name."""
    from deepdescent.training import inputs, loop

    x, labels = blobs(n=40)
    y = to_categorical(labels, 3)
    builders = {"own_train_step": _own_step_model, "mixed_precision": _mixed_small_model}
    model = builders.get(case, small_model)()
    options = {
        "steps_per_epoch": inputs.DataOptions(steps_per_epoch=2),
        "sample_weight": inputs.DataOptions(sample_weight=np.ones(40)),
        "class_weight": inputs.DataOptions(class_weight={0: 1.0, 1: 1.0, 2: 2.0}),
    }.get(case, inputs.DataOptions())
    given = x, y
    if case == "dataloader":
        dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
        given = torch.utils.data.DataLoader(dataset, batch_size=8), None
    train, _ = inputs.fit_sources(
        model,
        *given,
        batch_size=8,
        shuffle=True,
        validation_split=0.0,
        validation_data=None,
        validation_batch_size=8,
        options=options,
    )
    with pytest.raises(ValueError, match=argument):
        loop._check_parallel(model, train, options)


def _own_step_model():
    set_random_seed(0)
    model = _OwnTrainStep([Dense(8, activation="sigmoid", input_shape=(5,)), Dense(3, "softmax")])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy")
    return model
