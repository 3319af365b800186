"""One healing table (Ret, and Rec where a judge was used) of several methods' ``sketchssl heal``
reports, each beside the no-healing reference and the training its checkpoint had.

Usage::

    python benchmarks/healing_table.py sketch_rnn=reports/rnn.heal0.1,reports/rnn.heal0.3 \
        sp_gra2seq=reports/sp.heal0.1,reports/sp.heal0.3 [--ks 1,10]

Each argument is ``LABEL=REPORT_DIR[,REPORT_DIR...]``: the folders ``sketchssl heal --report``
wrote for one checkpoint (one per mask rate, or one holding several); their rows are merged.
For every label and mask rate the table gives the no-healing reference (the corrupted input
itself, encoded as the method reads it: what returning the input unchanged scores) and the
healed sketches, Ret acc@k in the direction each report used (``g2o`` or ``o2g``), Rec when the
report has a judge, and chance (``k / N``); reports made with ``--keep-input`` add the "input
kept" columns (the corrupted input filled from the healer's drawing). Steps done / planned and
the training store are read from the checkpoint named in the report. Values in percent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from side_by_side import training_of

_ROW = re.compile(r"^(?P<kind>.+) \(mask (?P<rate>[0-9.]+)\)$")
NO_HEALING = "no healing: corrupted input"
HEALED = "generated"
KEPT = "healed, input kept"  # sketchssl heal --keep-input


def merged_rows(folders: list[str]) -> tuple[dict[tuple[str, float], dict[str, float]], dict]:
    """``{(kind, rate): row}`` over the folders' ``metrics.json`` and the first one's meta."""
    rows: dict[tuple[str, float], dict[str, float]] = {}
    meta: dict[str, Any] = {}
    for folder in folders:
        path = Path(folder) / "metrics.json"
        document = json.loads(path.read_text())
        if document.get("meta", {}).get("report") != "healing":
            raise SystemExit(
                f"{path}: not a healing report (write one with sketchssl heal --report)"
            )
        meta = meta or document["meta"]
        for name, row in document["results"].items():
            match = _ROW.match(name)
            if match:
                rows[(match["kind"], float(match["rate"]))] = row
    return rows, meta


def checkpoint_of(meta: dict[str, Any]) -> str | None:
    """The checkpoint path ``sketchssl heal`` notes in its report."""
    for note in meta.get("notes", []):
        if note.startswith("checkpoint "):
            return note.removeprefix("checkpoint ")
    return None


def percent(row: dict[str, float] | None, key: str) -> str:
    if row is None or key not in row:
        return ""
    return f"{100.0 * row[key]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="LABEL=REPORT_DIR[,REPORT_DIR...]")
    parser.add_argument("--ks", default="1,10", help="Ret ranks to show (default 1,10)")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",") if k]

    tables = []
    for argument in args.runs:
        label, _, folders = argument.partition("=")
        if not folders:
            parser.error(f"{argument!r}: expected LABEL=REPORT_DIR[,REPORT_DIR...]")
        rows, meta = merged_rows(folders.split(","))
        tables.append((label, rows, meta))
    has_rec = any("rec" in row for _, rows, _ in tables for row in rows.values())

    has_kept = any(kind == KEPT for _, rows, _ in tables for kind, _ in rows)
    kinds = [("no healing", NO_HEALING), ("healed", HEALED)]
    kinds += [("input kept", KEPT)] if has_kept else []
    header = ["method", "trained on", "steps done / planned (cap)", "mask", "direction"]
    for kind, _ in kinds:
        header += [f"{kind} Ret@{k} (%)" for k in ks]
        if has_rec:
            header.append(f"{kind} Rec (%)")
    header += [f"chance @{k} (%)" for k in ks]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|---|---|---:|---|" + "---:|" * (len(header) - 5),
    ]
    for label, rows, meta in tables:
        checkpoint = checkpoint_of(meta)
        training = training_of(checkpoint) if checkpoint and Path(checkpoint).is_file() else None
        trained = (
            f"{training['steps']} / {training['max_steps']} ({training['max_minutes']:g} min)"
            if training
            else "?"
        )
        store = training["store"] if training else "?"
        rates = sorted({rate for kind, rate in rows if kind == HEALED})
        for direction in meta.get("directions", ["generated_to_original"]):
            tag = "g2o" if direction == "generated_to_original" else "o2g"
            for rate in rates:
                healed = rows.get((HEALED, rate))
                cells = [label, store, trained, f"{rate:g}", tag]
                for _, kind in kinds:
                    row = rows.get((kind, rate))
                    cells += [percent(row, f"ret_{tag}_acc@{k}") for k in ks]
                    if has_rec:
                        cells.append(percent(row, "rec"))
                cells += [percent(healed, f"ret_chance@{k}") for k in ks]
                lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
