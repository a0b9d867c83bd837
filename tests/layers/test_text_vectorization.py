"""TextVectorization: Keras's vocabulary (special tokens, frequency order, max_tokens),
int and bag-of-words outputs, n-grams, and its config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent import layers

TEXTS = ["The cat sat.", "The cat ran; the dog sat!", "A dog?"]


def test_adapt_builds_keras_vocabulary():
    vectorizer = layers.TextVectorization()
    vectorizer.adapt(TEXTS)
    # the: 3; cat, dog, sat: 2 (ties in reverse string order); ran, a: 1.
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog", "cat", "ran", "a"]
    limited = layers.TextVectorization(max_tokens=4)
    limited.adapt(np.array(TEXTS))
    assert limited.get_vocabulary() == ["", "[UNK]", "the", "sat"]


def test_int_output_pads_cuts_and_marks_unknown_words():
    vectorizer = layers.TextVectorization(output_sequence_length=4, vocabulary=["the", "cat"])
    out = vectorizer(["The cat and THE cat", "cat"])
    assert out.dtype == torch.int64
    torch.testing.assert_close(out, torch.tensor([[2, 3, 1, 2], [3, 0, 0, 0]]))
    ragged = layers.TextVectorization(vocabulary=["a"])(["a a a", "a"])
    assert ragged.shape == (2, 3)


def test_multi_hot_and_count_outputs():
    multi = layers.TextVectorization(output_mode="multi_hot", vocabulary=["the", "cat"])
    torch.testing.assert_close(multi(["the the dog"]), torch.tensor([[1.0, 1.0, 0.0]]))
    count = layers.TextVectorization(
        output_mode="count", vocabulary=["the", "cat"], max_tokens=5, pad_to_max_tokens=True
    )
    torch.testing.assert_close(count(["the the dog"]), torch.tensor([[1.0, 2.0, 0, 0, 0]]))


def test_ngrams_and_character_split():
    bigrams = layers.TextVectorization(ngrams=2)
    bigrams.adapt(["a b", "a b"])
    assert set(bigrams.get_vocabulary()[2:]) == {"a", "b", "a b"}
    chars = layers.TextVectorization(split="character", standardize="lower")
    chars.adapt(["Abba"])
    assert chars.get_vocabulary() == ["", "[UNK]", "b", "a"]


def test_adapt_takes_batches_and_config_keeps_the_vocabulary():
    vectorizer = layers.TextVectorization(max_tokens=10)
    vectorizer.adapt([TEXTS[:2], TEXTS[2:]])
    rebuilt = layers.deserialize(layers.serialize(vectorizer))
    assert rebuilt.get_vocabulary() == vectorizer.get_vocabulary()
    torch.testing.assert_close(rebuilt(TEXTS), vectorizer(TEXTS))


def test_errors_are_clear():
    with pytest.raises(RuntimeError, match="adapt"):
        layers.TextVectorization()(["x"])
    with pytest.raises(ValueError, match="output_mode"):
        layers.TextVectorization(output_mode="tf_idf")
    with pytest.raises(ValueError, match="repeats"):
        layers.TextVectorization(vocabulary=["a", "a"])
