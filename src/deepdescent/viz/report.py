"""A report as one self-contained HTML page: text, tables and PNG figures embedded as
``data:`` URIs, a style sheet inline, no script and nothing fetched from a network, so
the file can be mailed, archived or opened offline and shows the same."""

from __future__ import annotations

import base64
import dataclasses
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from deepdescent.utils.io import atomic_write_bytes

__all__ = ["ReportFigure", "ReportTable", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.4em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
"""


@dataclasses.dataclass(frozen=True)
class ReportTable:
    """A table of text cells; ``id`` becomes the HTML element's id."""

    id: str
    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclasses.dataclass(frozen=True)
class ReportFigure:
    """A PNG file, embedded in the page; ``id`` becomes the HTML element's id."""

    id: str
    caption: str
    path: str | os.PathLike[str]


def _table(table: ReportTable) -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return (
        f'<table id="{escape(table.id)}"><caption>{escape(table.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _figure(figure: ReportFigure) -> str:
    data = base64.b64encode(Path(figure.path).read_bytes()).decode("ascii")
    caption = html.escape(figure.caption)
    return (
        f'<figure id="{html.escape(figure.id)}"><img alt="{caption}" '
        f'src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
    )


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    command: str,
    versions: Mapping[str, str],
    sections: Sequence[tuple[str, Sequence[str | ReportTable | ReportFigure]]],
) -> None:
    """Write the page: ``title``, then each section (a heading and its paragraphs,
    tables and figures, in order), then the exact ``command`` and the ``versions`` of
    what produced it. Text is escaped; the file is written atomically."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, blocks in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for block in blocks:
            if isinstance(block, ReportTable):
                parts.append(_table(block))
            elif isinstance(block, ReportFigure):
                parts.append(_figure(block))
            else:
                parts.append(f"<p>{html.escape(block)}</p>")
    parts.append(f'<h2>How it was made</h2><pre id="command">{html.escape(command)}</pre>')
    parts.append(
        _table(
            ReportTable("versions", "Versions", ["component", "version"], list(versions.items()))
        )
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )
    atomic_write_bytes(path, page.encode("utf-8"))
