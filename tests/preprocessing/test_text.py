"""Keras's standardization and splitting, and the word- and character-level Tokenizer
against Keras 2's rules written out on a small corpus."""

from __future__ import annotations

import pytest

from deepdescent.preprocessing.text import (
    Tokenizer,
    ngrams,
    split_text,
    standardize_text,
    text_to_word_sequence,
)

TEXTS = ["The cat sat.", "The cat ran; the dog sat!", "A dog?"]


def test_standardize_and_split_as_keras():
    assert standardize_text("Hello, World! It's") == "hello world its"
    assert standardize_text("Hello, World!", "lower") == "hello, world!"
    assert standardize_text("Hello, World!", "strip_punctuation") == "Hello World"
    assert standardize_text("Hi", None) == "Hi"
    assert split_text("a  b\tc\n") == ["a", "b", "c"]
    assert split_text("ab", "character") == ["a", "b"]
    assert ngrams(["a", "b", "c"], (1, 2)) == ["a", "b", "c", "a b", "b c"]
    with pytest.raises(ValueError, match="standardize"):
        standardize_text("x", "upper")


def test_word_tokenizer_ranks_by_frequency_first_seen_first():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TEXTS)
    # the: 3, cat: 2, sat: 2, dog: 2 (first seen order among ties), ran: 1, a: 1
    assert tokenizer.word_index == {"the": 1, "cat": 2, "sat": 3, "dog": 4, "ran": 5, "a": 6}
    assert tokenizer.texts_to_sequences(["the dog sat", "unknown cat"]) == [[1, 4, 3], [2]]
    assert tokenizer.sequences_to_texts([[1, 4, 3]]) == ["the dog sat"]
    assert text_to_word_sequence("Hello, world!") == ["hello", "world"]


def test_num_words_and_oov_token():
    tokenizer = Tokenizer(num_words=3, oov_token="<oov>")
    tokenizer.fit_on_texts(TEXTS)
    assert tokenizer.word_index["<oov>"] == 1 and tokenizer.word_index["the"] == 2
    # Only indices below num_words=3 are kept: the (2); the others become <oov> (1).
    assert tokenizer.texts_to_sequences(["the cat zebra"]) == [[2, 1, 1]]


def test_character_level_tokenizer():
    tokenizer = Tokenizer(char_level=True)
    tokenizer.fit_on_texts(["abba", "Ca"])
    assert tokenizer.word_index == {"a": 1, "b": 2, "c": 3}
    assert tokenizer.texts_to_sequences(["cab"]) == [[3, 1, 2]]
    assert tokenizer.sequences_to_texts([[3, 1, 2]]) == ["cab"]
