"""ProgbarLogger's text, captured from a stream, with a scripted clock."""

from __future__ import annotations

import io
import re

import pytest

from deepdescent.callbacks import LazyLogs, ProgbarLogger
from deepdescent.callbacks import progbar_logger as progbar_module

EPOCH_LOGS = {"loss": 1.12, "accuracy": 0.6512, "val_loss": 0.00001, "val_accuracy": 0.7}
BAR = "━" * 20


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progbar_module, "_clock", fake)
    return fake


def fit(logger, clock, epochs, steps, step_seconds, batch_logs):
    logger.set_params(
        {"verbose": logger.params.get("verbose", 1), "epochs": epochs, "steps": steps}
    )
    logger.on_train_begin()
    for epoch in range(epochs):
        logger.on_epoch_begin(epoch)
        for batch in range(steps):
            clock.now += step_seconds
            logger.on_train_batch_end(batch, batch_logs)
        logger.on_epoch_end(epoch, dict(EPOCH_LOGS))
    logger.on_train_end()


def make(stream, verbose):
    logger = ProgbarLogger(stream=stream)
    logger.set_params({"verbose": verbose, "epochs": 1, "steps": 1})
    return logger


def test_verbose_1_off_a_terminal_writes_only_the_finished_line_per_epoch(clock):
    stream = io.StringIO()
    reads = []
    batch_logs = LazyLogs({"loss": lambda: reads.append(1) or 1.0})
    fit(make(stream, 1), clock, epochs=2, steps=422, step_seconds=0.002, batch_logs=batch_logs)
    line = (
        f"422/422 {BAR} 1s 2ms/step - accuracy: 0.6512 - loss: 1.1200 - val_accuracy: 0.7000 "
        "- val_loss: 1.0000e-05\n"
    )
    # Each epoch has its own bar: 0.844 s elapsed, shown rounded, in both.
    assert stream.getvalue() == f"Epoch 1/2\n{line}Epoch 2/2\n{line}"
    assert reads == []  # batch values never read, so never synchronised


def test_verbose_2_writes_one_summary_line_per_epoch(clock):
    stream = io.StringIO()
    fit(make(stream, 2), clock, epochs=2, steps=3, step_seconds=1.5, batch_logs={"loss": 9.0})
    line = (  # 4.5 s elapsed in each epoch; 1.5 s/step is shown as 2s/step, as Keras rounds
        "3/3 - 4s - 2s/step - accuracy: 0.6512 - loss: 1.1200 - val_accuracy: 0.7000 "
        "- val_loss: 1.0000e-05\n"
    )
    assert stream.getvalue() == f"Epoch 1/2\n{line}Epoch 2/2\n{line}"


def test_verbose_1_on_a_terminal_redraws_in_place_at_most_every_50_ms(clock):
    stream = Terminal()
    reads = []
    logger = make(stream, 1)
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 10})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    for batch in range(10):
        clock.now += 0.02
        logger.on_train_batch_end(batch, LazyLogs({"loss": lambda: reads.append(1) or 0.25}))
    logger.on_epoch_end(0, {"loss": 0.5})
    text = re.sub(r"\x1b\[\d+m", "", stream.getvalue())
    frames = text.split("\r")[1:]
    # 20 ms steps: drawn at steps 1, 4, 7 and 10 (>= 50 ms apart), then the final line.
    assert [frame.split("/")[0].strip() for frame in frames] == ["1", "4", "7", "10", "10"]
    assert len(reads) == 4
    assert frames[1] == f" 4/10 {BAR} 0s 20ms/step - loss: 0.2500"
    assert frames[-1] == f"10/10 {BAR} 0s 20ms/step - loss: 0.5000\n"
    # On a terminal the done part is green: 4/10 of the 20 marks at step 4.
    assert f"\x1b[32m{'━' * 8}\x1b[0m\x1b[37m{'━' * 12}\x1b[0m" in stream.getvalue()


def test_a_long_step_shows_its_inner_iterations_on_a_terminal_only(clock):
    """Inside step 2 the bar of the one finished step gains ' - CG 3/250' (redrawn at most
    every 50 ms); off a terminal nothing is written until the epoch's line."""
    for stream, expected in ((Terminal(), True), (io.StringIO(), False)):
        logger = make(stream, 1)
        logger.set_params({"verbose": 1, "epochs": 1, "steps": 4})
        logger.on_epoch_begin(0)
        clock.now = 1.0
        logger.on_train_batch_end(0, {"loss": 0.5})
        for done in (1, 2, 3):
            clock.now += 0.1
            logger.on_train_batch_progress(1, done, 250, "CG")
        text = re.sub(r"\x1b\[\d+m", "", stream.getvalue())
        if expected:
            frames = text.split("\r")[1:]
            assert len(frames) == 4
            assert frames[-1] == f"1/4 {BAR} 4s 1s/step - loss: 0.5000 - CG 3/250"
        else:
            assert text == ""


def test_eta_is_shown_while_running(clock):
    stream = Terminal()
    logger = make(stream, 1)
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 100})
    logger.on_epoch_begin(0)
    clock.now = 2.0
    logger.on_train_batch_end(0, {})
    text = re.sub(r"\x1b\[\d+m", "", stream.getvalue())
    assert text == f"\r  1/100 {BAR} 3:18 2s/step"  # 99 steps x 2 s left


def test_evaluate_draws_its_own_bar_but_validation_inside_fit_is_silent(clock):
    stream = io.StringIO()
    logger = make(stream, 1)
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 2})
    logger.on_test_begin()
    for batch in range(2):
        clock.now += 0.5
        logger.on_test_batch_end(batch, {"loss": 3.0})
    logger.on_test_end({"loss": 0.0001})
    assert stream.getvalue() == f"2/2 {BAR} 1s 500ms/step - loss: 1.0000e-04\n"
    stream.truncate(0)
    stream.seek(0)
    logger.on_train_begin()
    logger.on_test_begin()
    logger.on_test_batch_end(0, {"loss": 3.0})
    logger.on_test_end({"loss": 3.0})
    assert stream.getvalue() == ""


def test_unknown_steps_use_the_count_seen(clock):
    stream = io.StringIO()
    logger = make(stream, 1)
    logger.set_params({"verbose": 1, "epochs": 1, "steps": None})
    logger.on_epoch_begin(0)
    for batch in range(5):
        clock.now += 1.0
        logger.on_train_batch_end(batch, {})
    logger.on_epoch_end(0, {"loss": 2.0})
    assert stream.getvalue() == f"5/5 {BAR} 5s 1s/step - loss: 2.0000\n"


def test_verbose_0_writes_nothing(clock):
    stream = Terminal()
    fit(make(stream, 0), clock, epochs=2, steps=3, step_seconds=1.0, batch_logs={"loss": 1.0})
    assert stream.getvalue() == ""


def test_writes_to_stdout_by_default(clock, capsys):
    logger = ProgbarLogger()
    logger.set_params({"verbose": 2, "epochs": 1, "steps": 1})
    logger.on_epoch_begin(0)
    clock.now = 1.0
    logger.on_train_batch_end(0, {})
    logger.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out == "1/1 - 1s - 1s/step - loss: 1.0000\n"
