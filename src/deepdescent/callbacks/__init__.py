"""Callbacks: hooks into ``fit``, ``evaluate`` and ``predict`` (Keras's set and behaviour).

``fit`` always adds :class:`History` (which it returns) and, when ``verbose`` is not 0,
:class:`ProgbarLogger`. Batch logs are :class:`LazyLogs`: reading a value synchronises
with the device, so callbacks read them only when they need them.
"""

from deepdescent.callbacks.backup_and_restore import BackupAndRestore
from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.callback_list import CallbackList
from deepdescent.callbacks.csv_logger import CSVLogger
from deepdescent.callbacks.early_stopping import EarlyStopping
from deepdescent.callbacks.history import History
from deepdescent.callbacks.lambda_callback import LambdaCallback
from deepdescent.callbacks.learning_rate_scheduler import LearningRateScheduler
from deepdescent.callbacks.logs import LazyLogs
from deepdescent.callbacks.model_checkpoint import ModelCheckpoint
from deepdescent.callbacks.progbar_logger import ProgbarLogger
from deepdescent.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from deepdescent.callbacks.swap_ema_weights import SwapEMAWeights
from deepdescent.callbacks.tensorboard import TensorBoard
from deepdescent.callbacks.terminate_on_nan import TerminateOnNaN
from deepdescent.callbacks.weight_averaging import PolyakAveraging, StochasticWeightAveraging

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LazyLogs",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "PolyakAveraging",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "StochasticWeightAveraging",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]
