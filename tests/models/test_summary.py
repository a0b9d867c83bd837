"""Keras's ``model.summary()`` table: the layout, and each row's name, output shape and
parameter count against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import torch

from deepdescent.layers import Dense, Dropout, Flatten, Input
from deepdescent.models import Model, Sequential

LECTURE_TABLE = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 32)             │        25,120 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │           330 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 25,450 (99.41 KB)
 Trainable params: 25,450 (99.41 KB)
 Non-trainable params: 0 (0.00 B)"""


def test_the_lecture_network_is_kerass_table():
    """784·32 + 32 = 25,120 and 32·10 + 10 = 330 parameters; 25,450 float32 numbers are
    101,800 bytes = 99.41 KB."""
    model = Sequential(
        [Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    printed: list[str] = []
    assert model.summary(print_fn=printed.append) == LECTURE_TABLE
    assert printed == [LECTURE_TABLE]


def test_summary_writes_to_stdout_without_print_fn(capsys):
    model = Sequential([Dense(2, input_shape=(3,))])
    text = model.summary()
    assert capsys.readouterr().out == text + "\n"


def _rows(text):
    """(name, shape, count) of each layer row of the table."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│"):
            name, shape, count = (cell.strip() for cell in line.strip("│").split("│"))
            rows.append((name, shape, int(count.replace(",", ""))))
    return rows


def _totals(text):
    return [line.strip() for line in text.splitlines()[-3:]]


def test_rows_of_shape_layers_and_frozen_parameters():
    """(4, 4) flattens to 16; 16·3 + 3 = 51; 3·2 + 2 = 8; 59 parameters. With dense_1
    frozen: 51 trainable (204 bytes) and 8 not (32 bytes)."""
    model = Sequential(
        [Input(shape=(4, 4)), Flatten(), Dense(3, "relu"), Dropout(0.5), Dense(2)], name="tiny"
    )
    text = model.summary(print_fn=lambda _: None)
    assert text.splitlines()[0] == 'Model: "tiny"'
    assert _rows(text) == [
        ("flatten (Flatten)", "(None, 16)", 0),
        ("dense (Dense)", "(None, 3)", 51),
        ("dropout (Dropout)", "(None, 3)", 0),
        ("dense_1 (Dense)", "(None, 2)", 8),
    ]
    assert _totals(text) == [
        "Total params: 59 (236.00 B)",
        "Trainable params: 59 (236.00 B)",
        "Non-trainable params: 0 (0.00 B)",
    ]
    for param in model.layers[-1].parameters():
        param.requires_grad_(False)
    model.double()
    assert _totals(model.summary(print_fn=lambda _: None)) == [
        "Total params: 59 (472.00 B)",
        "Trainable params: 51 (408.00 B)",
        "Non-trainable params: 8 (64.00 B)",
    ]


def test_a_summary_leaves_the_model_in_training_mode():
    model = Sequential([Dense(3, input_shape=(2,)), Dropout(0.5)])
    model.train()
    model.summary(print_fn=lambda _: None)
    assert model.training and model.layers[1].training
    model.eval()
    model.summary(print_fn=lambda _: None)
    assert not model.training


def test_shapes_are_unknown_before_the_model_is_built_or_for_a_wrapped_module():
    unbuilt = Sequential([Dense(2), Dense(1)]).summary(print_fn=lambda _: None)
    assert _rows(unbuilt) == [("dense (Dense)", "?", 0), ("dense_1 (Dense)", "?", 0)]
    wrapped = Model(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2)))
    text = wrapped.summary(print_fn=lambda _: None)
    assert _rows(text) == [("module (Sequential)", "?", 3 * 2 + 2 + 2 * 2 + 2)]
    assert _totals(text)[0] == "Total params: 14 (56.00 B)"


def test_sizes_in_kilobytes_and_megabytes():
    """300·1000 + 1000 = 301,000 float32 numbers = 1,204,000 bytes = 1.15 MB."""
    text = Sequential([Dense(1000, input_shape=(300,))]).summary(print_fn=lambda _: None)
    assert _totals(text)[0] == "Total params: 301,000 (1.15 MB)"


def _counts(model):
    text = model.summary(print_fn=lambda _: None)
    return [line.strip() for line in text.splitlines() if "params:" in line]


def test_after_training_the_optimizers_variables_are_counted_as_keras_does():
    """Keras adds ``Optimizer params`` once the optimizer has stepped: its iteration count
    and learning rate, plus one slot per weight for each moment it keeps — none for plain
    SGD, the first and second moments for Adam (2 + 2·14 = 30 for Dense(2) on 6 inputs,
    14 weights); the total counts them too."""
    x, y = np.ones((4, 6), "float32"), np.zeros((4, 2), "float32")
    for optimizer, expected in (("sgd", 2), ("adam", 30)):
        model = Sequential([Dense(2, input_shape=(6,))])
        model.compile(optimizer=optimizer, loss="mse")
        assert len(_counts(model)) == 3
        model.fit(x, y, epochs=1, verbose=0)
        totals = _counts(model)
        assert totals[3] == f"Optimizer params: {expected} ({4 * expected:.2f} B)"
        assert totals[0] == f"Total params: {14 + expected} ({4 * (14 + expected):.2f} B)"
