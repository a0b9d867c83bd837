"""The shipped corpus: always there, plain text."""

from deepdescent.datasets import corpus


def test_the_corpus_ships_with_the_package():
    text = corpus.load_data()
    assert 3000 < len(text) < 5000
    assert text.isascii() and "gradient" in text and "\n\n" in text
