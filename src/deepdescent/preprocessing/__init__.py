"""Turning raw data into arrays: text standardization, splitting and tokenizers
(:mod:`deepdescent.preprocessing.text`). Image loading and ``pad_sequences`` are in
:mod:`deepdescent.utils`, as in Keras 3; the preprocessing layers (``TextVectorization``,
``Resizing``, the random augmentations) are in :mod:`deepdescent.layers`."""

from __future__ import annotations

from deepdescent.preprocessing import text
from deepdescent.preprocessing.text import Tokenizer

__all__ = ["Tokenizer", "text"]
