"""The run folder of a comparison: every file there, the plots opened as images, the
tables read back, and ``report.html`` rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import csv
import html.parser
import io
import json
import shutil
import subprocess

import pytest
import torch
from PIL import Image

import deepdescent
from deepdescent.bench import SearchBudget, check_output_folder, compare, write_run_folder
from deepdescent.bench.run_folder import FILES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
COMMAND = "deepdescent compare --problem blobs --optimizers sgd,adam,lbfgs"


@pytest.fixture(scope="module")
def folder(blobs, tmp_path_factory):
    comparison = compare(
        blobs,
        ["sgd", "adam", "lbfgs"],
        seeds=2,
        epochs=2,
        budget=SearchBudget(trials=2, epochs=1),
    )
    out = tmp_path_factory.mktemp("compare") / "run"
    written = write_run_folder(comparison, out, command=COMMAND)
    assert written == [out / name for name in FILES]
    return out


class _Page(html.parser.HTMLParser):
    """The tables (id → rows of cell texts), the images (src of each, by figure id)
    and every URL-bearing attribute of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.urls = {}, {}, []
        self._table = self._figure = self._row = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "poster")]
        if tag == "table":
            self._table = self.tables.setdefault(attributes.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
        elif tag == "figure":
            self._figure = attributes.get("id")
        elif tag == "img":
            self.images[self._figure] = attributes["src"]

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = self._row = None

    def handle_data(self, data):
        if self._row:
            self._row[-1] += data


def _page(text):
    page = _Page()
    page.feed(text)
    return page


def test_the_plots_are_images(folder):
    for name in ("curves_epoch.png", "curves_time.png", "search.png"):
        with Image.open(folder / name) as image:
            image.load()
            assert image.format == "PNG" and image.width > 500 and image.height > 300
            assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10, name


def test_the_tables_and_the_record(folder):
    summary = list(csv.DictReader(io.StringIO((folder / "summary.csv").read_text())))
    assert [row["optimizer"] for row in summary] == ["sgd", "adam", "lbfgs"]
    markdown = (folder / "summary.md").read_text()
    assert "Target: val_accuracy ≥ 0.9." in markdown
    assert markdown.count("\n| sgd |") == 1
    runs = list(csv.DictReader(io.StringIO((folder / "runs.csv").read_text())))
    assert [(r["optimizer"], r["seed"]) for r in runs[:3]] == [
        ("sgd", "0"),
        ("sgd", "1"),
        ("adam", "0"),
    ]
    record = json.loads((folder / "results.json").read_text())
    assert record["command"] == COMMAND
    assert record["versions"]["torch"] and record["seeds"] == [0, 1]
    optimizers = record["optimizers"]
    assert [o["optimizer"] for o in optimizers] == ["sgd", "adam", "lbfgs"]
    assert len(optimizers[1]["runs"][0]["curves"]["val_loss"]) == 3
    assert len(optimizers[1]["search"]["trials"]) == 2


def test_the_report_holds_everything_and_fetches_nothing(folder):
    page = _page((folder / "report.html").read_text())
    assert set(page.images) == {"curves-epoch", "curves-time", "search-plot"}
    for figure, name in (("curves-epoch", "curves_epoch.png"), ("search-plot", "search.png")):
        prefix = "data:image/png;base64,"
        assert page.images[figure].startswith(prefix)
        assert base64.b64decode(page.images[figure][len(prefix) :]) == (folder / name).read_bytes()
    assert all(url.startswith("data:") for url in page.urls), page.urls
    summary = page.tables["summary"]
    assert [row[0] for row in summary[1:]] == ["sgd", "adam", "lbfgs"]
    assert summary[0][-1] == "status"
    assert len(page.tables["runs"]) == 1 + 6
    assert len(page.tables["search"]) == 1 + 6
    versions = dict(page.tables["versions"][1:])
    assert versions["deepdescent"] == deepdescent.__version__
    assert versions["torch"] == torch.__version__
    assert COMMAND in (folder / "report.html").read_text()


def _chromium(*arguments, cwd):
    """Headless Chromium with no network: every host name resolves to nothing."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={cwd / 'profile'}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True, cwd=cwd)


@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install chromium; make test installs it)"
)
def test_a_browser_shows_the_table_and_every_plot(folder, tmp_path):
    url = (folder / "report.html").as_uri()
    page = _page(_chromium("--dump-dom", url, cwd=tmp_path).stdout)
    assert [row[0] for row in page.tables["summary"][1:]] == ["sgd", "adam", "lbfgs"]
    assert set(page.images) == {"curves-epoch", "curves-time", "search-plot"}
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,4000", url, cwd=tmp_path)
    with Image.open(shot) as image:
        pixels = image.convert("RGB")
        assert pixels.size == (1200, 4000)
        # The plots' colours (matplotlib's tab10 blue and orange) are on the screen.
        colours = {colour for _, colour in pixels.getcolors(maxcolors=1 << 20)}
        assert (31, 119, 180) in colours and (255, 127, 14) in colours


def test_an_existing_folder_is_refused_unless_overwritten(tmp_path):
    with pytest.raises(ValueError, match="pass --overwrite"):
        check_output_folder(tmp_path, overwrite=False)
    assert check_output_folder(tmp_path, overwrite=True) == tmp_path
    assert check_output_folder(tmp_path / "new", overwrite=False) == tmp_path / "new"
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="it is a file"):
        check_output_folder(tmp_path / "file", overwrite=True)
