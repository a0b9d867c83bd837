"""``LambdaCallback``: a callback made of functions, for one-off hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deepdescent.callbacks.callback import Callback

__all__ = ["LambdaCallback"]

_HOOKS = {
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_begin",
    "on_train_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
}


class LambdaCallback(Callback):
    """Calls the functions given for hooks, with the hooks' arguments (Keras's
    signatures: ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_batch_end(batch, logs)`` ...).

    Example:
        >>> from deepdescent.callbacks import LambdaCallback
        >>> losses = []
        >>> keep = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(self, **hooks: Callable[..., Any] | None) -> None:
        super().__init__()
        unknown = sorted(set(hooks) - _HOOKS)
        if unknown:
            raise ValueError(
                f"Invalid hook names: {unknown} (expected some of {', '.join(sorted(_HOOKS))})"
            )
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"{name} must be a function, got {type(function).__name__}")
            setattr(self, name, function)
