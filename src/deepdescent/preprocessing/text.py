"""Text to tokens: Keras's standardization and splitting, and a word- or character-level
``Tokenizer`` with Keras 2's API (``fit_on_texts``, ``texts_to_sequences`` ...)."""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable, Sequence

from deepdescent.utils._checks import check_argument, check_count

__all__ = [
    "PUNCTUATION",
    "Tokenizer",
    "ngrams",
    "split_text",
    "standardize_text",
    "text_to_word_sequence",
]

#: The characters Keras strips (``lower_and_strip_punctuation``).
PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
_PUNCTUATION = re.compile("[" + re.escape(PUNCTUATION) + "]")

Standardize = str | Callable[[str], str] | None
Split = str | Callable[[str], list[str]] | None


def standardize_text(text: str, standardize: Standardize = "lower_and_strip_punctuation") -> str:
    """Keras's standardizations: ``"lower_and_strip_punctuation"``, ``"lower"``,
    ``"strip_punctuation"``, ``None`` (as it is), or a function."""
    if standardize is None:
        return text
    if callable(standardize):
        return standardize(text)
    check_argument(
        "standardize",
        standardize,
        standardize in ("lower_and_strip_punctuation", "lower", "strip_punctuation"),
        "'lower_and_strip_punctuation', 'lower', 'strip_punctuation', None or a function",
    )
    if "lower" in standardize:
        text = text.lower()
    if "strip_punctuation" in standardize:
        text = _PUNCTUATION.sub("", text)
    return text


def split_text(text: str, split: Split = "whitespace") -> list[str]:
    """Keras's splits: ``"whitespace"`` (runs of white space), ``"character"``, ``None``
    (the whole text is one token), or a function."""
    if split is None:
        return [text]
    if callable(split):
        return list(split(text))
    check_argument(
        "split",
        split,
        split in ("whitespace", "character"),
        "'whitespace', 'character', None or a function",
    )
    return text.split() if split == "whitespace" else list(text)


def ngrams(tokens: Sequence[str], sizes: Iterable[int], separator: str = " ") -> list[str]:
    """The tokens' n-grams for each n of ``sizes`` (n = 1 is the tokens), joined."""
    grams: list[str] = []
    for n in sizes:
        grams.extend(separator.join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def text_to_word_sequence(
    text: str, filters: str = PUNCTUATION + "\t\n", lower: bool = True, split: str = " "
) -> list[str]:
    """Keras 2's word splitting: lower-case, replace each filter character by ``split``,
    split, drop empty words."""
    if lower:
        text = text.lower()
    text = text.translate({ord(c): split for c in filters})
    return [word for word in text.split(split) if word]


class Tokenizer:
    """Word- or character-level tokens ranked by frequency (Keras 2's ``Tokenizer``).

    ``fit_on_texts`` counts the tokens; the most frequent gets index 1 (ties keep the
    order of first appearance), the ``oov_token`` (if any) comes before all. Index 0 is
    never used: it is the padding value of :func:`~deepdescent.utils.pad_sequences`.

    Args:
        num_words: keep only the ``num_words − 1`` most frequent tokens in sequences.
        filters: characters removed (word level).
        lower: lower-case the texts first.
        split: the word separator (word level).
        char_level: every character is a token.
        oov_token: the token for words outside the vocabulary (else they are dropped).
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = PUNCTUATION + "\t\n",
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
    ) -> None:
        if num_words is not None:
            check_count("num_words", num_words)
        self.num_words, self.filters, self.lower = num_words, filters, bool(lower)
        self.split, self.char_level, self.oov_token = split, bool(char_level), oov_token
        self.word_counts: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}
        self.document_count = 0

    def _tokens(self, text: str) -> list[str]:
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts: Iterable[str]) -> None:
        """Count the tokens of ``texts`` and (re)build :attr:`word_index`."""
        for text in texts:
            self.document_count += 1
            for token in self._tokens(text):
                self.word_counts[token] = self.word_counts.get(token, 0) + 1
        ranked = sorted(self.word_counts, key=lambda t: self.word_counts[t], reverse=True)
        if self.oov_token is not None:
            ranked = [self.oov_token, *(t for t in ranked if t != self.oov_token)]
        self.word_index = {token: i + 1 for i, token in enumerate(ranked)}
        self.index_word = {i: token for token, i in self.word_index.items()}

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Each text as its tokens' indices."""
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        sequences = []
        for text in texts:
            row = []
            for token in self._tokens(text):
                index = self.word_index.get(token)
                if index is not None and (self.num_words is None or index < self.num_words):
                    row.append(index)
                elif oov is not None:
                    row.append(oov)
            sequences.append(row)
        return sequences

    def sequences_to_texts(self, sequences: Iterable[Iterable[int]]) -> list[str]:
        """Indices back to text (tokens joined by spaces; characters joined as they are)."""
        joiner = "" if self.char_level else " "
        return [
            joiner.join(self.index_word[i] for i in sequence if i in self.index_word)
            for sequence in sequences
        ]
