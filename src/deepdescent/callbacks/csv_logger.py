"""CSVLogger: stream each epoch's logs to a CSV file."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import IO, Any

from deepdescent.callbacks.callback import Callback
from deepdescent.callbacks.logs import Logs
from deepdescent.utils._checks import check_argument

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` then the logs' keys in sorted order.

    The columns are fixed by the first epoch's logs; a key missing later is written as
    ``NA``. The file is flushed after every row and closed at the end of training.

    Args:
        filename: the CSV file; its folder is created if needed.
        separator: the one-character field delimiter.
        append: append to an existing file (no second header when it is not empty)
            instead of overwriting it.
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        ok = isinstance(separator, str) and len(separator) == 1
        check_argument("separator", separator, ok, "a one-character string")
        self.filename = os.fspath(filename)
        self.separator, self.append = separator, bool(append)
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None
        self._write_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._close()
        folder = os.path.dirname(self.filename)
        if folder:
            os.makedirs(folder, exist_ok=True)
        exists = os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._write_header = not (self.append and exists)
        mode = "a" if self.append else "w"
        self._file = open(self.filename, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self._file is None:
            raise RuntimeError("CSVLogger.on_epoch_end called before on_train_begin")
        if self._writer is None:
            fields = ["epoch", *sorted(logs)]
            self._writer = csv.DictWriter(self._file, fieldnames=fields, delimiter=self.separator)
            if self._write_header:
                self._writer.writeheader()
        row = {key: logs.get(key, "NA") for key in self._writer.fieldnames if key != "epoch"}
        self._writer.writerow({"epoch": epoch, **row})
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()

    def state_dict(self) -> dict[str, Any]:
        """The file as written so far and its columns: a resumed run rewrites it and
        appends, so its CSV ends as the uninterrupted run's."""
        if self._file is None:
            return {}
        with open(self.filename, encoding="utf-8", newline="") as written:
            content = written.read()
        fields = None if self._writer is None else list(self._writer.fieldnames)
        return {"content": content, "fields": fields}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._close()
        with open(self.filename, "w", encoding="utf-8", newline="") as rewritten:
            rewritten.write(state["content"])
        self._file = open(self.filename, "a", newline="", encoding="utf-8")  # noqa: SIM115
        fields = state["fields"]
        if fields is not None:
            self._writer = csv.DictWriter(self._file, fieldnames=fields, delimiter=self.separator)

    def _close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file, self._writer = None, None

    def get_config(self) -> dict[str, Any]:
        return {"filename": self.filename, "separator": self.separator, "append": self.append}
