"""Evaluation reports: ``metrics.json`` for machines, ``metrics.md`` for people.

A report compares rows (``pretrained``, ``random_init``, ``pixels``, ...), each a dict of the
metrics :func:`sketchssl.eval.metrics.evaluate_embeddings` returns. JSON keeps the fractions as
computed; Markdown shows the headline metrics in percent, then the gain of every other row over
each baseline row in percentage points. Both files are written atomically (a temporary file in
the same folder, then ``os.replace``), so an interrupted run never leaves half a report.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sketchssl.eval.metrics import REPORT_METRICS

__all__ = [
    "BASELINE_ROWS",
    "format_gains",
    "format_objective_table",
    "format_table",
    "write_report",
]

#: Rows treated as baselines: the report shows every other row's gain over each of them.
BASELINE_ROWS: tuple[str, ...] = ("random_init", "pixels", "point_input")

REPORT_FORMAT = "sketchssl-eval-report"
REPORT_VERSION = 1


def _present_metrics(results: Mapping[str, Mapping[str, float]]) -> list[str]:
    return [name for name in REPORT_METRICS if any(name in row for row in results.values())]


def _percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100.0 * float(value):.2f}"


def format_table(
    results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None
) -> str:
    """A Markdown table: one row per model, one column per metric, values in percent.

    It reads well in a terminal too.

    Args:
        results: row name -> metrics (fractions in [0, 1]).
        metrics: columns; by default the headline metrics present in any row.

    Examples:
        >>> print(format_table({"pixels": {"knn_top1": 0.1375, "retrieval_map": 0.0274}}))
        | model | knn_top1 (%) | retrieval_map (%) |
        |---|---:|---:|
        | pixels | 13.75 | 2.74 |
    """
    columns = list(metrics) if metrics is not None else _present_metrics(results)
    lines = [
        "| model | " + " | ".join(f"{name} (%)" for name in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row_name, row in results.items():
        cells = [_percent(row.get(name)) for name in columns]
        lines.append(f"| {row_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_objective_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """The held-out objective parts (``test_<part>``, in the method's own units) as a table.

    Empty when no row has one. Lower is better for the loss parts.

    Examples:
        >>> print(format_objective_table({"pretrained": {"test_recon": 0.5478},
        ...                               "random_init": {"test_recon": 1.9141}}))
        | model | test_recon |
        |---|---:|
        | pretrained | 0.5478 |
        | random_init | 1.914 |
    """
    columns = sorted(
        {
            name
            for row in results.values()
            for name in row
            if name.startswith("test_") and name != "test_size"  # test_size: a count
        }
    )
    if not columns:
        return ""
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row_name, row in results.items():
        if not any(name in row for name in columns):
            continue  # e.g. the pixels baseline has no objective
        cells = ["" if row.get(name) is None else f"{float(row[name]):.4g}" for name in columns]
        lines.append(f"| {row_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compute_gains(
    results: Mapping[str, Mapping[str, float]], baselines: Sequence[str] = BASELINE_ROWS
) -> dict[str, dict[str, dict[str, float]]]:
    """Gains in percentage points: ``{row: {baseline: {metric: points}}}``.

    Every row that is not a baseline is compared with every baseline row present.
    """
    gains: dict[str, dict[str, dict[str, float]]] = {}
    metrics = _present_metrics(results)
    for row_name, row in results.items():
        if row_name in baselines:
            continue
        for baseline in baselines:
            if baseline not in results:
                continue
            reference = results[baseline]
            gains.setdefault(row_name, {})[baseline] = {
                name: 100.0 * (float(row[name]) - float(reference[name]))
                for name in metrics
                if name in row and name in reference
            }
    return gains


def format_gains(
    results: Mapping[str, Mapping[str, float]], baselines: Sequence[str] = BASELINE_ROWS
) -> str:
    """One line per (row, baseline): the gain in percentage points on each metric.

    Examples:
        >>> rows = {"pretrained": {"knn_top1": 0.2}, "pixels": {"knn_top1": 0.1375}}
        >>> print(format_gains(rows))
        Gain of pretrained over pixels (points): knn_top1 +6.25
    """
    lines = []
    for row_name, per_baseline in compute_gains(results, baselines).items():
        for baseline, gains in per_baseline.items():
            if not gains:
                continue
            text = ", ".join(
                f"{name} {value:+.2f}" if not math.isnan(value) else f"{name} n/a"
                for name, value in gains.items()
            )
            lines.append(f"Gain of {row_name} over {baseline} (points): {text}")
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """Plain JSON: NaN / inf become null, tuples lists, paths strings."""
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return _json_safe(value.item())
    return str(value)


def temporary_sibling(path: Path) -> Path:
    """A fresh hidden name in ``path``'s folder, for writing before ``os.replace``.

    Unlike ``tempfile.mkstemp`` the file is created later with ordinary permissions (umask),
    so the renamed report is readable like any other file.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _write_atomic(path: Path, text: str) -> None:
    temporary = temporary_sibling(path)
    try:
        with open(temporary, "x", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _details_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Counts and chosen settings (every key that is not a headline metric)."""
    keys: list[str] = []
    for row in results.values():
        # per-class values ("part_miou/<class>") have their own table
        keys.extend(
            key for key in row if key not in REPORT_METRICS and "/" not in key and key not in keys
        )
    if not keys:
        return ""
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for row_name, row in results.items():
        cells = []
        for key in keys:
            value = row.get(key)
            cells.append(
                "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
            )
        lines.append(f"| {row_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_class_table(results: Mapping[str, Mapping[str, float]], prefix: str) -> str:
    """Rows = classes, columns = models: the ``<prefix>/<class>`` values in percent."""
    models = [name for name, row in results.items() if any(k.startswith(prefix) for k in row)]
    classes = sorted(
        {key[len(prefix) :] for name in models for key in results[name] if key.startswith(prefix)}
    )
    if not classes:
        return ""
    lines = ["| class | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for name in classes:
        cells = [_percent(results[model].get(prefix + name)) for model in models]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(results: Mapping[str, Mapping[str, float]], meta: Mapping[str, Any]) -> str:
    """The text of ``metrics.md``."""
    parts = ["# Representation evaluation", ""]
    if _present_metrics(results):
        parts += [format_table(results), ""]
    gains = format_gains(results)
    if gains:
        parts += [line + "  " for line in gains.splitlines()] + [""]
    objective = format_objective_table(results)
    if objective:
        parts += [
            "Held-out objective (the method's training loss parts on the query split, eval "
            "mode, its own units; lower is better):",
            "",
            objective,
            "",
        ]
    protocol = meta.get("protocol", {})
    knn = protocol.get("knn", {}) if isinstance(protocol, Mapping) else {}
    parts += [
        "Metrics in percent. Queries: test split; gallery and probe training data: train split; "
        "relevant = same class.",
        f"kNN: weighted, cosine similarity, k = {knn.get('k', 20)}, vote weight "
        f"exp(similarity / T) with T = {knn.get('temperature', 0.07)} (InstDisc). nn1: plain "
        "1-nearest neighbour. Linear probe: logistic regression (L-BFGS) on standardised "
        "embeddings, weight decay chosen on a held-out slice of the train split. Retrieval: mAP "
        "over the full ranked gallery; acc@K = a same-class item in the top K; queries without a "
        "same-class gallery item are left out and counted.",
        "",
    ]
    per_class = _per_class_table(results, "part_miou/")
    if per_class:
        parts += [
            "Part segmentation: a linear probe from frozen per-point features to part labels, "
            "fitted on points of train-split sketches, scored on every test point: "
            "part_accuracy = share of points given their true part; part_miou = per category, "
            "the IoU of each part over its test points, averaged over its parts, then over "
            "categories. point_input = the same probe on the raw per-point input (position in "
            "the sketch's box, offset, pen state).",
            "",
            "### Part mIoU per class",
            "",
            per_class,
            "",
        ]
    details = _details_table(results)
    if details:
        parts += ["## Counts and chosen settings", "", details, ""]
    plain_meta = {key: value for key, value in meta.items() if key != "protocol"}
    if plain_meta:
        parts += ["## Run", ""]
        for key, value in plain_meta.items():
            if isinstance(value, (list, tuple)):
                parts.append(f"- {key}:")
                parts += [f"  - `{item}`" for item in value]
            else:
                parts.append(f"- {key}: {value}")
        parts.append("")
    return "\n".join(parts)


def write_report(
    report_dir: str | os.PathLike[str],
    results: Mapping[str, Mapping[str, float]],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json`` and ``metrics.md`` into ``report_dir`` (created if needed).

    Args:
        report_dir: output folder.
        results: row name (``pretrained``, ``random_init``, ``pixels``, ...) -> metrics, as
            :func:`~sketchssl.eval.metrics.evaluate_embeddings` returns them.
        meta: what produced the numbers: data store, split sizes, protocol settings (see
            :func:`~sketchssl.eval.metrics.protocol_description`, under the key ``protocol``),
            checkpoint, commands, wall time. Stored as given (made JSON-safe).

    Returns:
        ``{"json": path, "markdown": path}``.
    """
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    document = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "units": "fractions in [0, 1]; gains in percentage points",
        "meta": meta,
        "results": results,
        "gains_points": compute_gains(results),
    }
    json_path, markdown_path = folder / "metrics.json", folder / "metrics.md"
    _write_atomic(json_path, json.dumps(_json_safe(document), indent=2) + "\n")
    _write_atomic(markdown_path, render_markdown(results, meta))
    return {"json": json_path, "markdown": markdown_path}
