"""Writing callbacks: every hook of fit, evaluate and predict with the keys of its logs,
early stopping that keeps the best weights, and a learning-rate schedule set from a
callback through `model.optimizer.learning_rate`.

    python examples/custom_callbacks.py
"""

import numpy as np

import deepdescent as keras


class HookPrinter(keras.callbacks.Callback):
    """Says which hook ran and which log keys it got."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _note(self, hook, logs):
        self.calls.append((hook, sorted(logs)))

    def on_train_begin(self, logs=None):
        self._note("train_begin", logs)

    def on_epoch_end(self, epoch, logs=None):
        self._note("epoch_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._note("train_batch_begin", logs)

    def on_test_end(self, logs=None):
        self._note("test_end", logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._note("predict_batch_end", logs)


class StopAtMinimum(keras.callbacks.Callback):
    """Stops when the loss stops falling and puts back the best weights."""

    def __init__(self, patience=1):
        super().__init__()
        self.patience, self.best, self.best_weights, self.wait = patience, np.inf, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if logs["loss"] < self.best:
            self.best, self.wait, self.best_weights = logs["loss"], 0, self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True
            self.model.set_weights(self.best_weights)


class StepDown(keras.callbacks.Callback):
    """Divides the learning rate by 10 at the given epochs."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = set(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch in self.epochs:
            self.model.optimizer.learning_rate = self.model.optimizer.learning_rate / 10

    def on_epoch_end(self, epoch, logs=None):
        # Into the epoch's logs, hence into the History, as Keras's own schedulers do.
        logs["learning_rate"] = self.model.optimizer.learning_rate


def main(samples=1000, epochs=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 8)).astype("float32")
    y = x @ rng.normal(size=(8, 1)).astype("float32")
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mse",
        metrics=["mean_absolute_error"],
    )
    printer = HookPrinter()
    history = model.fit(
        x,
        y,
        batch_size=128,
        epochs=epochs,
        verbose=0,
        validation_split=0.2,
        callbacks=[printer, StopAtMinimum(), StepDown([3, 6])],
    )
    model.predict(x[:10], verbose=0, callbacks=[printer])
    for hook, keys in printer.calls[:4]:
        print(f"{hook}: {keys}")
    print(
        f"epochs run: {len(history.history['loss'])}, "
        f"learning rates: {sorted(set(history.history['learning_rate']), reverse=True)}"
    )
    return history, printer


if __name__ == "__main__":
    main()
