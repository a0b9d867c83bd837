"""``TextVectorization``: strings to token ids or bag-of-words vectors, as Keras's layer.

A text is standardized, split into tokens (and n-grams), and each token looked up in a
vocabulary learned by :meth:`TextVectorization.adapt`: tokens ranked by frequency (ties
in reverse string order, as Keras), with, for ``output_mode="int"``, index 0 for padding
and 1 for out-of-vocabulary tokens (``[UNK]``); for ``"multi_hot"`` and ``"count"``
index 0 is ``[UNK]``. The layer holds no weights: its vocabulary is part of its config,
so a saved model keeps it. It runs on strings, so it belongs before the model (or in
the data pipeline): ``model.fit(vectorizer(texts), y)``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from deepdescent.layers.base import Layer
from deepdescent.preprocessing.text import ngrams, split_text, standardize_text
from deepdescent.utils._checks import check_argument, check_count, is_integer

__all__ = ["TextVectorization"]

_MODES = ("int", "multi_hot", "count")
PADDING, OOV = "", "[UNK]"


def _texts(data: Any) -> list[str]:
    """Strings from a string, a list/array of strings (any shape), or bytes."""
    if isinstance(data, (str, bytes)):
        data = [data]
    flat = np.asarray(data, dtype=object).reshape(-1)
    return [t.decode() if isinstance(t, bytes) else str(t) for t in flat]


def _batches(data: Any) -> Iterable[list[str]]:
    """The texts of ``data``: one list of strings, or an iterable of batches of them."""
    if isinstance(data, (str, bytes, np.ndarray)) or (
        isinstance(data, (list, tuple)) and all(isinstance(t, (str, bytes)) for t in data)
    ):
        yield _texts(data)
        return
    for batch in data:
        yield _texts(batch[0] if isinstance(batch, tuple) else batch)


class TextVectorization(Layer):
    """Strings to token ids (``output_mode="int"``) or to vectors over the vocabulary.

    Args:
        max_tokens: the vocabulary's size, special tokens included (``None``: all).
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``,
            ``"strip_punctuation"``, ``None`` or a function of a string.
        split: ``"whitespace"`` (default), ``"character"``, ``None`` or a function.
        ngrams: n-grams as tokens too: an int n (1 … n) or a tuple of sizes.
        output_mode: ``"int"``, ``"multi_hot"`` (1 where a token occurs) or ``"count"``.
        output_sequence_length: with ``"int"``, pad with 0 or cut every row to this length
            (default: the longest row of the batch).
        pad_to_max_tokens: with ``"multi_hot"``/``"count"``, make rows ``max_tokens`` wide
            even when the vocabulary is smaller.
        vocabulary: a list of tokens to use instead of :meth:`adapt`.
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: Any = "lower_and_strip_punctuation",
        split: Any = "whitespace",
        ngrams: Any = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_argument("output_mode", output_mode, output_mode in _MODES, f"one of {_MODES}")
        self.output_mode = output_mode
        self.special = [PADDING, OOV] if output_mode == "int" else [OOV]
        if max_tokens is not None:
            check_count("max_tokens", max_tokens, minimum=len(self.special) + 1)
        if output_sequence_length is not None:
            check_count("output_sequence_length", output_sequence_length)
        self.max_tokens, self.output_sequence_length = max_tokens, output_sequence_length
        self.standardize, self.split = standardize, split
        standardize_text("", standardize)
        split_text("", split)
        sizes = (
            ()
            if ngrams is None
            else (tuple(range(1, ngrams + 1)) if is_integer(ngrams) else tuple(ngrams))
        )
        check_argument(
            "ngrams",
            ngrams,
            all(is_integer(n) and n > 0 for n in sizes),
            "None, an int > 0 or a tuple of them",
        )
        self.ngrams, self._sizes = ngrams, sizes
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._index: dict[str, int] = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True

    def _tokens(self, text: str) -> list[str]:
        tokens = split_text(standardize_text(text, self.standardize), self.split)
        return ngrams(tokens, self._sizes) if self._sizes else tokens

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the vocabulary from texts: a list or array of strings, or an iterable of
        batches of them (``steps`` batches at most)."""
        counts: collections.Counter[str] = collections.Counter()
        for step, texts in enumerate(_batches(data)):
            if steps is not None and step >= steps:
                break
            for text in texts:
                counts.update(self._tokens(text))
        for token in self.special:
            counts.pop(token, None)
        ranked = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[: self.max_tokens - len(self.special)]
        self.set_vocabulary(ranked)

    def set_vocabulary(self, vocabulary: list[str]) -> None:
        """Use ``vocabulary`` (tokens in index order; the special tokens may be included
        at the start or left out)."""
        tokens = [str(t) for t in vocabulary if t not in self.special]
        if len(set(tokens)) != len(tokens):
            raise ValueError("Invalid vocabulary: it repeats a token")
        self._index = {t: i for i, t in enumerate([*self.special, *tokens])}

    def get_vocabulary(self) -> list[str]:
        """The tokens in index order, special tokens first."""
        return list(self._index)

    def vocabulary_size(self) -> int:
        return len(self._index)

    def _width(self) -> int:
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        return len(self._index)

    def call(self, inputs: Any) -> torch.Tensor:
        if not self._index:
            raise RuntimeError("TextVectorization has no vocabulary: call adapt(texts) first")
        oov = self._index[OOV]
        rows = [[self._index.get(t, oov) for t in self._tokens(text)] for text in _texts(inputs)]
        if self.output_mode == "int":
            length = self.output_sequence_length or max((len(r) for r in rows), default=0)
            ids = torch.zeros((len(rows), length), dtype=torch.int64)
            for i, row in enumerate(rows):
                kept = row[:length]
                ids[i, : len(kept)] = torch.tensor(kept, dtype=torch.int64)
            return ids
        out = torch.zeros((len(rows), self._width()))
        for i, row in enumerate(rows):
            for index in row:
                out[i, index] += 1.0
        return out.clamp_(max=1.0) if self.output_mode == "multi_hot" else out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Strings never become tensors: call the layer's computation on them directly.
        return self.call(*args)

    def get_config(self) -> dict[str, Any]:
        for name in ("standardize", "split"):
            if callable(getattr(self, name)):
                raise ValueError(
                    f"TextVectorization with a function as {name} cannot be saved; use one "
                    "of Keras's names"
                )
        return {
            **super().get_config(),
            "max_tokens": self.max_tokens,
            "standardize": self.standardize,
            "split": self.split,
            "ngrams": self.ngrams if not isinstance(self.ngrams, tuple) else list(self.ngrams),
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary": self.get_vocabulary() or None,
        }
