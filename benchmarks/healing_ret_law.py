"""Why healed Ret stays below the no-healing reference: Ret@1 of a healed drawing against the
product of two measured chances, from ``sketchssl heal --report`` folders.

A healer that redraws the whole sketch (the seed papers' protocol) must do two things for its
drawing to retrieve its own original: encode the corrupted input near the original's code (the
no-healing row's Ret@1, ``a``) and draw from a code something that re-encodes near that code
(the mask-0 row's Ret@1: a clean sketch, drawn again and re-encoded, ``b``). If the two were
independent the healed Ret@1 would be ``a * b``; it can exceed ``a`` only if redrawing moves a
code *towards* its original, which ``b <= 1`` leaves no room for unless the two are correlated.

Usage::

    python benchmarks/healing_ret_law.py LABEL=RUN_DIR [LABEL=RUN_DIR ...]

``RUN_DIR`` holds ``mask0/``, ``mask0.1/``, ``mask0.3/`` (what ``sketchssl heal --report
RUN_DIR/maskP`` writes for P = 0, 0.1, 0.3). Prints a Markdown table in percent and the mean
absolute gap between healed Ret@1 and ``a * b``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEY = "ret_g2o_acc@1"


def results_of(folder: Path) -> dict[str, dict[str, float]]:
    """The ``results`` of one ``metrics.json``, with a clear error when it is missing."""
    path = folder / "metrics.json"
    if not path.is_file():
        sys.exit(f"{path}: no healing report here; run sketchssl heal ... --report {folder}")
    return json.loads(path.read_text())["results"]


def rows_of(label: str, run_dir: Path, rates: tuple[str, ...]) -> list[list[str]]:
    """Table rows of one run: per rate, ``a``, ``b``, ``a * b`` and the healed Ret@1."""
    clean = results_of(run_dir / "mask0")["generated (mask 0)"][KEY]
    rows = []
    for rate in rates:
        folder = run_dir / f"mask{rate}"
        if not folder.is_dir():
            continue
        results = results_of(folder)
        corrupted = results[f"no healing: corrupted input (mask {rate})"][KEY]
        healed = results[f"generated (mask {rate})"][KEY]
        rows.append([label, rate, corrupted, clean, corrupted * clean, healed])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--rates", default="0.1,0.3", help="mask rates to read")
    args = parser.parse_args(argv)
    rates = tuple(args.rates.split(","))
    table = []
    for item in args.runs:
        label, _, run_dir = item.partition("=")
        if not run_dir:
            sys.exit(f"{item!r}: write LABEL=RUN_DIR")
        table += rows_of(label, Path(run_dir), rates)
    print(
        "| healer | mask | no healing Ret@1 (a) | redrawn clean Ret@1 (b) | a x b | healed Ret@1 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, rate, corrupted, clean, product, healed in table:
        cells = [100 * value for value in (corrupted, clean, product, healed)]
        print(f"| {label} | {rate} | " + " | ".join(f"{value:.1f}" for value in cells) + " |")
    if table:
        gaps = [abs(row[5] - row[4]) for row in table]
        above = sum(row[5] > row[2] for row in table)
        print(
            f"\n{len(table)} rows: mean |healed - a x b| = {100 * sum(gaps) / len(gaps):.1f} "
            f"points (largest {100 * max(gaps):.1f}); healed Ret@1 above no healing in {above}."
        )


if __name__ == "__main__":
    main()
