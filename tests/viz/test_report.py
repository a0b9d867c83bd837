"""The self-contained report page: text escaped, tables as written, figures embedded
byte for byte, the command and versions at the end, written atomically."""

from __future__ import annotations

import base64
import re

from deepdescent.viz import ReportFigure, ReportTable, write_report


def test_the_page_holds_its_sections_in_order(tmp_path):
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_report(
        tmp_path / "report.html",
        title="a <title> & more",
        command="deepdescent compare --optimizers 'sgd,adam'",
        versions={"torch": "2.13.0"},
        sections=[
            (
                "First",
                [
                    "<script>alert(1)</script>",
                    ReportTable("t", "A table", ["a", "b"], [["1", "<2>"]]),
                ],
            ),
            ("Second", [ReportFigure("f", "A figure", png)]),
        ],
    )
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>a &lt;title&gt; &amp; more</title>" in page
    assert '<table id="t"><caption>A table</caption><thead><tr><th>a</th><th>b</th></tr>' in page
    assert "<td>1</td><td>&lt;2&gt;</td>" in page
    (data,) = re.findall(
        r'<figure id="f"><img alt="A figure" src="data:image/png;base64,([^"]+)"', page
    )
    assert base64.b64decode(data) == png.read_bytes()
    order = [page.index(s) for s in ("<h2>First", "<h2>Second", 'id="command"', 'id="versions"')]
    assert order == sorted(order)
    assert "deepdescent compare --optimizers &#x27;sgd,adam&#x27;" in page
    assert (
        list(tmp_path.iterdir()) == [png, tmp_path / "report.html"]
        or len(list(tmp_path.iterdir())) == 2
    )
