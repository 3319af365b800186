"""One table of several methods' ``sketchssl eval`` reports, with the training each one had.

Usage::

    python benchmarks/side_by_side.py rotation_tcn=reports/rotation_tcn \
        sketch_bert=reports/bert_s0,reports/bert_s1 [--metrics knn_top1,retrieval_map]

Each argument is ``LABEL=REPORT_DIR[,REPORT_DIR...]`` (one folder per seed, each holding the
``metrics.json`` of ``sketchssl eval``). For every label the table gives the training the
evaluated checkpoint had (optimiser steps done of those planned, the wall-clock cap, the store it
was trained on: read from the checkpoint itself), the evaluation-only settings of the report
(``--set``), then each metric of the ``pretrained`` row and of the ``random_init`` row (mean ±
sample std over the folders when there are several), and one ``pixels`` row and one
``point_input`` row (the part probe on the raw per-point input) from the first reports that have
them. Values in percent; ``n/a`` where a row has no such metric (image encoders have no part
metrics).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from sketchssl.methods.checkpoint import read_checkpoint

DEFAULT_METRICS = (
    "knn_top1",
    "nn1_top1",
    "linear_top1",
    "retrieval_map",
    "retrieval_acc@10",
)


def training_of(checkpoint: str) -> dict[str, Any]:
    """Steps done, steps planned, wall-clock cap and training store of a checkpoint."""
    state = read_checkpoint(checkpoint)
    config = state.get("sketchssl", {}).get("config", {})
    trainer = config.get("trainer", {})
    return {
        "steps": int(state.get("global_step", 0)),
        "max_steps": trainer.get("max_steps"),
        "max_minutes": trainer.get("max_minutes"),
        "store": Path(str(config.get("data", {}).get("store", "?"))).name,
    }


def cell(values: list[float]) -> str:
    """``mean ± std`` in percent (just the value for one run; empty for none)."""
    if not values:
        return ""
    mean = 100.0 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100.0 * statistics.stdev(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="LABEL=REPORT_DIR[,REPORT_DIR...]")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS))
    args = parser.parse_args(argv)
    metrics = [name for name in args.metrics.split(",") if name]

    header = ["method", "trained on", "steps done / planned (cap)", "settings", "runs"]
    for name in metrics:
        header += [f"{name} (%)", f"random-init {name} (%)"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|---|---|---|---:|" + "---:|" * (2 * len(metrics)),
    ]
    references: dict[str, dict[str, float]] = {}
    for argument in args.runs:
        label, _, folders = argument.partition("=")
        if not folders:
            parser.error(f"{argument!r}: expected LABEL=REPORT_DIR[,REPORT_DIR...]")
        documents = [
            json.loads((Path(folder) / "metrics.json").read_text()) for folder in folders.split(",")
        ]
        trainings = [training_of(doc["meta"]["checkpoint"]) for doc in documents]
        steps = ", ".join(str(item["steps"]) for item in trainings)
        first = trainings[0]
        budget = f"{steps} / {first['max_steps']} ({first['max_minutes']} min)"
        overrides = documents[0]["meta"].get("model_overrides") or {}
        settings = ", ".join(f"{key}={value}" for key, value in overrides.items()) or "default"
        row = [label, first["store"], budget, settings, str(len(documents))]
        for name in metrics:
            for model in ("pretrained", "random_init"):
                values = [
                    doc["results"][model][name]
                    for doc in documents
                    if doc["results"].get(model, {}).get(name) is not None
                ]
                row.append(cell(values) or "n/a")
        lines.append("| " + " | ".join(row) + " |")
        for reference in ("pixels", "point_input"):
            if reference not in references:
                found = [
                    doc["results"][reference] for doc in documents if reference in doc["results"]
                ]
                if found:
                    references[reference] = found[0]
    titles = {
        "pixels": "raw pixels (32 px, cosine)",
        "point_input": "raw per-point input (part probe)",
    }
    for reference, values in references.items():
        row = [titles[reference], "", "", "", "1"]
        for name in metrics:
            row += [cell([values[name]]) if values.get(name) is not None else "n/a", ""]
        lines.append("| " + " | ".join(row) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
