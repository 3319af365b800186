"""The bench report folder: ``report.json`` for machines, ``report.md`` and ``report.html``.

All three are rewritten (atomically) after every run, so a bench that stops half-way, fails or
is interrupted still leaves a readable report of what it finished; its ``status`` says which
(``running``, ``complete``, ``partial`` when something failed or was skipped, ``interrupted``,
``estimate-only``). ``report.json`` holds the whole document: the plan, the estimate, every
run's raw numbers, the failures with their tracebacks, the per-method summary over seeds, the
environment and the commands. ``report.md`` holds the tables and links the figures;
``report.html`` (:mod:`sketchssl.bench.html`) is the same tables with the figures embedded.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sketchssl.atomic import atomic_write
from sketchssl.bench.summary import summarise
from sketchssl.bench.tables import build_tables, markdown_table

__all__ = [
    "FIGURE_SECTIONS",
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "json_safe",
    "render_markdown",
    "status_line",
    "write_reports",
]

REPORT_FORMAT = "sketchssl-bench-report"
REPORT_VERSION = 1

#: Figure sections in reading order: key -> heading.
FIGURE_SECTIONS: dict[str, str] = {
    "data": "The data",
    "curves": "Training curves",
    "samples": "Samples",
    "healing": "Healing: corrupted, healed, original",
    "maps": "Embedding maps",
}


def json_safe(value: Any) -> Any:
    """Plain JSON data: NaN / inf become null, tuples lists, paths strings, numpy scalars numbers.

    Examples:
        >>> json_safe({"a": (1.0, float("nan")), "b": Path("x")})
        {'a': [1.0, None], 'b': 'x'}
    """
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return json_safe(value.item())
    return str(value)


def status_line(document: Mapping[str, Any]) -> str:
    """One sentence: the status, the wall time against the estimate, the failure count."""
    status = document.get("status", "running")
    parts = [f"Status: **{status}**."]
    wall = document.get("wall_seconds")
    estimate = (document.get("estimate") or {}).get("total_seconds")
    if wall is not None:
        parts.append(f"Wall time {wall / 60:.1f} min")
        if estimate:
            parts[-1] += f" (estimated {estimate / 60:.1f} min before training)."
        else:
            parts[-1] += "."
    failures = len(document.get("failures") or [])
    if failures:
        parts.append(f"{failures} failure(s) or skipped run(s): see the first table.")
    return " ".join(parts)


def render_markdown(document: Mapping[str, Any]) -> str:
    """The text of ``report.md``: title, status, tables, then the figures as image links."""
    plan = document.get("plan", {})
    lines = [
        "# sketchssl bench",
        "",
        f"Data: `{plan.get('data', '')}`; suites: {', '.join(plan.get('suites', []))}; "
        f"preset {plan.get('preset', '')}; device {plan.get('device', '')}; "
        f"budget {plan.get('budget_minutes', '')} min; seeds {plan.get('seeds', '')}.",
        "",
        status_line(document),
        "",
    ]
    for table in build_tables(document):
        lines += [f"## {table.title}", "", markdown_table(table), ""]
        if table.note:
            lines += [table.note, ""]
    figures = document.get("figures") or []
    for section, heading in FIGURE_SECTIONS.items():
        chosen = [figure for figure in figures if figure["section"] == section]
        if chosen:
            lines += [f"## {heading}", ""]
        for figure in chosen:
            caption = f"{figure['title']}: {figure['caption']}" if figure.get("caption") else ""
            lines += [f"![{figure['title']}]({figure['path']})", "", caption, ""]
    return "\n".join(lines)


def write_reports(out: Path, document: dict[str, Any], *, html: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and (with ``html``) ``report.html`` into ``out``.

    The per-method summary over seeds is recomputed and stored in the document first.
    """
    from sketchssl.bench.html import render_html

    out.mkdir(parents=True, exist_ok=True)
    document["format"] = REPORT_FORMAT
    document["version"] = REPORT_VERSION
    document["summary"] = summarise(document)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    with atomic_write(paths["json"], "w", encoding="utf-8") as stream:
        stream.write(json.dumps(json_safe(document), indent=2) + "\n")
    with atomic_write(paths["markdown"], "w", encoding="utf-8") as stream:
        stream.write(render_markdown(document))
    if html:
        paths["html"] = out / "report.html"
        with atomic_write(paths["html"], "w", encoding="utf-8") as stream:
            stream.write(render_html(document, out))
    return paths
