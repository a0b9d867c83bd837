"""A custom training step: `fit` calls the model's own `train_step`, which here computes
the gradient, reports its norm ‖g‖ beside the loss, and clips it by hand before the
optimizer applies it (Goodfellow et al., §8.2.4) — `compute_loss`, `trainable_weights`,
`optimizer.apply` and `metrics` as in Keras's guide for the torch backend.

    python examples/custom_train_step.py
"""

import numpy as np
import torch

import deepdescent as keras


class ClippedModel(keras.Model):
    def __init__(self, *args, threshold=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.threshold = threshold
        self.gradient_norm = keras.metrics.Mean(name="gradient_norm")

    @property
    def metrics(self):
        return [*super().metrics, self.gradient_norm]

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        weights = self.trainable_weights
        gradients = [w.value.grad for w in weights]
        norm = torch.sqrt(sum((g**2).sum() for g in gradients))
        scale = self.threshold / torch.clamp(norm, min=self.threshold)
        with torch.no_grad():
            self.optimizer.apply([g * scale for g in gradients], weights)
        self.loss_tracker.update_state(loss.detach())
        self.gradient_norm.update_state(norm)
        return self.compute_metrics(x, y, y_pred)


def main(samples=1000, epochs=5):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 16)).astype("float32")
    y = (x[:, :1] * 3 + np.sin(x[:, 1:2])).astype("float32")
    inputs = keras.Input(shape=(16,))
    hidden = keras.layers.Dense(32, activation="tanh")(inputs)
    model = ClippedModel(inputs, keras.layers.Dense(1)(hidden), threshold=1.0)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=epochs)
    return history


if __name__ == "__main__":
    main()
