"""IMDB: Keras's processing (shuffle by seed, start and OOV marks, index shift, num_words,
skip_top, maxlen) on an imdb.npz the test writes, against Keras's steps written out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepdescent.datasets import imdb

TRAIN = [[5, 1, 2], [7, 7], [3, 9, 9, 4], [1]]
TEST = [[2, 2, 8], [6, 1]]


def _write(path):
    def objects(lists):
        array = np.empty(len(lists), dtype=object)
        array[:] = [list(x) for x in lists]
        return array

    np.savez(
        path,
        x_train=objects(TRAIN),
        y_train=np.array([1, 0, 1, 0]),
        x_test=objects(TEST),
        y_test=np.array([0, 1]),
    )
    return path


def _keras(seed=113, start=1, oov=2, index_from=3, num_words=None, skip_top=0, maxlen=None):
    """Keras's imdb.load_data steps, on the same lists."""
    rng = np.random.RandomState(seed)
    order = np.arange(len(TRAIN))
    rng.shuffle(order)
    x_train, y_train = [TRAIN[i] for i in order], np.array([1, 0, 1, 0])[order]
    order = np.arange(len(TEST))
    rng.shuffle(order)
    x_test, y_test = [TEST[i] for i in order], np.array([0, 1])[order]
    x_train = [[start] + [w + index_from for w in x] for x in x_train]
    x_test = [[start] + [w + index_from for w in x] for x in x_test]
    if maxlen:
        keep = [i for i, x in enumerate(x_train) if len(x) < maxlen]
        x_train, y_train = [x_train[i] for i in keep], y_train[keep]
        keep = [i for i, x in enumerate(x_test) if len(x) < maxlen]
        x_test, y_test = [x_test[i] for i in keep], y_test[keep]
    xs = x_train + x_test
    limit = num_words or max(max(x) for x in xs)
    xs = [[w if skip_top <= w < limit else oov for w in x] for x in xs]
    return (xs[: len(x_train)], y_train), (xs[len(x_train) :], y_test)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_words": 8}, {"skip_top": 5, "num_words": 10}, {"maxlen": 5}, {"seed": 1}],
    ids=str,
)
def test_matches_keras_processing(tmp_path, kwargs):
    path = _write(tmp_path / "imdb.npz")
    (x_train, y_train), (x_test, y_test) = imdb.load_data(path, **kwargs)
    (ex_train, ey_train), (ex_test, ey_test) = _keras(**kwargs)
    assert x_train == ex_train and x_test == ex_test
    np.testing.assert_array_equal(y_train, ey_train)
    np.testing.assert_array_equal(y_test, ey_test)


def test_oov_none_drops_words_and_a_folder_path_works(tmp_path):
    _write(tmp_path / "imdb.npz")
    (x_train, _), _ = imdb.load_data(tmp_path, num_words=6, oov_char=None, start_char=None)
    assert all(w < 6 for x in x_train for w in x)


def test_too_small_maxlen_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="maxlen"):
        imdb.load_data(_write(tmp_path / "imdb.npz"), maxlen=2)


def test_word_index_from_a_local_file(tmp_path):
    path = tmp_path / "index.json"
    path.write_text(json.dumps({"the": 1, "film": 19}))
    assert imdb.get_word_index(path) == {"the": 1, "film": 19}


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="num_words"):
        imdb.load_data(tmp_path, num_words=0)
