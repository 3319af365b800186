"""Mean and spread over seeds of several ``sketchssl eval`` reports (``metrics.json``).

Usage::

    python benchmarks/aggregate_eval.py REPORT_DIR [REPORT_DIR ...] [--out summary.json]

Prints one Markdown table: for each row of the reports (``pretrained``, ``random_init``,
``pixels``, ...) and each headline metric, ``mean ± std`` in percent over the reports that have
that row (std = sample standard deviation over seeds), then the gain of ``pretrained`` over
``random_init`` against the seed spread measured both ways (std, and min-max range).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from sketchssl.eval.metrics import REPORT_METRICS

COLUMNS = (
    "knn_top1",
    "nn1_top1",
    "linear_top1",
    "retrieval_map",
    "retrieval_acc@1",
    "retrieval_acc@10",
    "classifier_top1",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, list[float]]] = {}
    for report in args.reports:
        document = json.loads((report / "metrics.json").read_text())
        for name, metrics in document["results"].items():
            for metric, value in metrics.items():
                if metric in REPORT_METRICS and value is not None:
                    rows.setdefault(name, {}).setdefault(metric, []).append(100.0 * value)
    columns = [c for c in COLUMNS if any(c in row for row in rows.values())]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    print("| model | runs | " + " | ".join(f"{c} (%)" for c in columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name, metrics in rows.items():
        cells, runs = [], 0
        for column in columns:
            values = metrics.get(column, [])
            runs = max(runs, len(values))
            if not values:
                cells.append("")
                continue
            mean = statistics.fmean(values)
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            summary.setdefault(name, {})[column] = {
                "mean": mean,
                "std": spread,
                "min": min(values),
                "max": max(values),
                "n": len(values),
            }
            cells.append(f"{mean:.2f} ± {spread:.2f}" if len(values) > 1 else f"{mean:.2f}")
        print(f"| {name} | {runs} | " + " | ".join(cells) + " |")
    if "pretrained" in summary and "random_init" in summary:
        print()
        for column in ("knn_top1", "nn1_top1", "retrieval_map"):
            if column in summary["pretrained"] and column in summary["random_init"]:
                ours, base = summary["pretrained"][column], summary["random_init"][column]
                gain = ours["mean"] - base["mean"]
                std = max(ours["std"], base["std"])
                width = max(ours["max"] - ours["min"], base["max"] - base["min"])
                overlap = "overlap" if ours["min"] <= base["max"] else "do not overlap"
                print(
                    f"{column}: mean gain {gain:+.2f} points over random_init; larger seed std "
                    f"{std:.2f} ({'exceeded' if gain > std else 'NOT exceeded'}); larger min-max "
                    f"range {width:.2f} ({'exceeded' if gain > width else 'NOT exceeded'}); "
                    f"the seed ranges {overlap} (worst pretrained {ours['min']:.2f}, best "
                    f"random_init {base['max']:.2f})"
                )
    if args.out is not None:
        temporary = args.out.with_suffix(".tmp")
        temporary.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(temporary, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
