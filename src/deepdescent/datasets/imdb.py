"""IMDB: 50,000 film reviews labelled positive (1) or negative (0) (Maas et al., 2011),
each a list of word indices ranked by frequency, as Keras distributes it (``imdb.npz``,
checked against Keras's SHA-256; its object arrays are read without running code)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from deepdescent.datasets.files import data_root, get_file, locate_file
from deepdescent.datasets.idx import DatasetError
from deepdescent.datasets.pickled import load_npz
from deepdescent.utils._checks import check_argument, check_count, is_integer

__all__ = ["get_word_index", "load_data"]

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
_WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"

Sequences = list[list[int]]


def _shuffled(x: np.ndarray, y: np.ndarray, rng: np.random.RandomState) -> tuple[Any, Any]:
    order = np.arange(len(x))
    rng.shuffle(order)
    return x[order], y[order]


def _read(path: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    source = locate_file("imdb", "IMDB", "imdb.npz", _ORIGIN + "imdb.npz", _SHA256, path)
    arrays = load_npz(source)
    missing = {"x_train", "y_train", "x_test", "y_test"} - set(arrays)
    if missing:
        raise DatasetError(f"{source} lacks the arrays {sorted(missing)}")
    return arrays


def load_data(
    path: str | os.PathLike[str] | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[Sequences, np.ndarray], tuple[Sequences, np.ndarray]]:
    """Load IMDB as Keras does: ``(x_train, y_train), (x_test, y_test)``, 25,000 reviews
    each, shuffled with ``seed``.

    Each review is a list of ints: ``start_char``, then each word's frequency rank plus
    ``index_from``; words outside ``[skip_top, num_words)`` become ``oov_char`` (or are
    dropped when it is ``None``); with ``maxlen`` only reviews shorter than it are kept.
    The file is looked for at ``path`` (the ``.npz`` or its folder), else in
    ``$DEEPDESCENT_DATA/imdb``, ``/usr/share/datasets/imdb``, and last downloaded.
    """
    if num_words is not None:
        check_count("num_words", num_words)
    check_count("skip_top", skip_top, minimum=0)
    if maxlen is not None:
        check_count("maxlen", maxlen)
    check_argument(
        "index_from", index_from, is_integer(index_from) and index_from >= 0, "an int >= 0"
    )
    arrays = _read(path)
    rng = np.random.RandomState(seed)
    x_train, y_train = _shuffled(arrays["x_train"], arrays["y_train"], rng)
    x_test, y_test = _shuffled(arrays["x_test"], arrays["y_test"], rng)
    prefix = [] if start_char is None else [start_char]
    xs = [prefix + [int(w) + index_from for w in x] for x in [*x_train, *x_test]]
    labels = np.concatenate([y_train, y_test])
    split = len(x_train)
    if maxlen is not None:
        keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
        split = sum(1 for i in keep if i < len(x_train))
        xs, labels = [xs[i] for i in keep], labels[keep]
        if split == 0 or split == len(xs):
            raise ValueError(
                f"After keeping reviews shorter than maxlen={maxlen}, a split is empty: "
                "increase maxlen"
            )
    # Keras's default bound is the largest index itself, which thus becomes oov_char too.
    limit = num_words if num_words else max(max(x) for x in xs if x)
    if oov_char is not None:
        xs = [[w if skip_top <= w < limit else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < limit] for x in xs]
    return (xs[:split], labels[:split]), (xs[split:], labels[split:])


def get_word_index(path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Word → frequency rank, as ``imdb_word_index.json`` gives it (add ``index_from``
    to match :func:`load_data`'s indices)."""
    if path is None:
        path = get_file(
            "imdb_word_index.json",
            _ORIGIN + "imdb_word_index.json",
            _WORD_INDEX_MD5,
            data_root() / "imdb",
        )
    with open(path, encoding="utf-8") as stream:
        index = json.load(stream)
    if not isinstance(index, dict):
        raise DatasetError(f"{path} does not hold a word index (a JSON object)")
    return {str(word): int(rank) for word, rank in index.items()}
