"""Keras's ``keras.mixed_precision`` names: ``set_global_policy``, ``global_policy``,
``DTypePolicy`` (and its older name ``Policy``)."""

from __future__ import annotations

from deepdescent.config import DTypePolicy, dtype_policy, set_dtype_policy

__all__ = ["DTypePolicy", "Policy", "global_policy", "set_global_policy"]

Policy = DTypePolicy
set_global_policy = set_dtype_policy
global_policy = dtype_policy
