"""``report.html``: one self-contained page, readable in a browser with no server.

The page holds the same tables as ``report.md`` (:func:`sketchssl.bench.tables.build_tables`)
and every figure of the report folder embedded as a ``data:image/png;base64`` URI, with inline
CSS and no script, font or link to anything outside the file, so it can be mailed or archived
alone. A figure whose file is missing shows a visible note instead of a broken image. Every
string from the document is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sketchssl.bench.report import FIGURE_SECTIONS, status_line
from sketchssl.bench.tables import Table, build_tables

__all__ = ["data_uri", "render_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.88rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
p.note { color: #444; font-size: 0.85rem; max-width: 70rem; }
.status { padding: 0.5rem 0.8rem; border-radius: 4px; background: #eef6ee; }
.status.bad { background: #fdecea; }
section#failures table td { background: #fdecea; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: min(100%, 1000px); border: 1px solid #e0e0e0; }
figcaption { font-size: 0.85rem; color: #444; } .missing { color: #b00020; }
nav a { margin-right: 0.8rem; }
"""


def data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table_html(table: Table) -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(column)}</th>" for column in table.columns)
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{escape(cell)}</td>'
            if table.is_numeric(position)
            else f"<td>{escape(cell)}</td>"
            for position, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    header_row = f"<thead><tr>{head}</tr></thead>" if any(table.columns) else ""
    return (
        f'<section id="{escape(table.key)}"><h2>{escape(table.title)}</h2>'
        f"<table>{header_row}<tbody>{''.join(body)}</tbody></table>{note}</section>"
    )


def _figure_html(figure: Mapping[str, Any], out: Path) -> str:
    escape = html.escape
    path = out / figure["path"]
    caption = escape(figure["title"]) + (
        f": {escape(figure['caption'])}" if figure.get("caption") else ""
    )
    if not path.is_file():
        return (
            f'<figure><p class="missing">figure missing: {escape(str(figure["path"]))}</p>'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return (
        f'<figure><img src="{data_uri(path)}" alt="{escape(figure["title"])}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def render_html(document: Mapping[str, Any], out: Path) -> str:
    """The whole page for ``document``; figure paths are relative to the report folder ``out``."""
    escape = html.escape
    plan = document.get("plan", {})
    tables = build_tables(document)
    figures = list(document.get("figures") or [])
    sections = [key for key in FIGURE_SECTIONS if any(f["section"] == key for f in figures)]
    links = [(table.key, table.title) for table in tables]
    links += [(f"figures-{key}", FIGURE_SECTIONS[key]) for key in sections]
    nav = " ".join(f'<a href="#{escape(key)}">{escape(title)}</a>' for key, title in links)
    status = status_line(document).replace("**", "")
    bad = document.get("status") not in ("complete", "estimate-only")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>sketchssl bench</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>sketchssl bench</h1>",
        f"<p>Data <code>{escape(str(plan.get('data', '')))}</code>; suites "
        f"{escape(', '.join(plan.get('suites', [])))}; preset {escape(str(plan.get('preset')))}"
        f"; device {escape(str(plan.get('device')))}; budget "
        f"{escape(str(plan.get('budget_minutes')))} min; seeds {escape(str(plan.get('seeds')))}"
        ".</p>",
        f'<p class="status{" bad" if bad else ""}">{escape(status)}</p>',
        f"<nav>{nav}</nav>",
    ]
    parts += [_table_html(table) for table in tables]
    for key in sections:
        parts.append(f'<section id="figures-{key}"><h2>{escape(FIGURE_SECTIONS[key])}</h2>')
        parts += [_figure_html(figure, out) for figure in figures if figure["section"] == key]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
