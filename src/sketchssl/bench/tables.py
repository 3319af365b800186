"""The report's tables, built once from the bench document and rendered as Markdown or HTML.

A :class:`Table` is plain strings (title, columns, rows, a note under it), so ``report.md`` and
``report.html`` show the same numbers by construction. Fractions are shown in percent,
``mean ± std`` over seeds (sample standard deviation) when more than one seed produced them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sketchssl.bench.summary import summarise

__all__ = ["REPRESENTATION_COLUMNS", "Table", "build_tables", "format_stat", "markdown_table"]

#: Headline metrics of the representation tables (all in :data:`sketchssl.eval.metrics`).
REPRESENTATION_COLUMNS: tuple[str, ...] = (
    "knn_top1",
    "nn1_top1",
    "linear_top1",
    "linear_top5",
    "retrieval_map",
    "retrieval_acc@1",
    "retrieval_acc@10",
)
HEALING_COLUMNS: tuple[str, ...] = (
    "rec",
    "ret_g2o_acc@1",
    "ret_g2o_acc@10",
    "ret_g2o_acc@50",
    "ret_chance@1",
)


@dataclass
class Table:
    """One table of the report.

    Attributes:
        key: anchor / identifier (``representation``, ``speed``, ...).
        title: heading above it.
        columns: header cells.
        rows: body cells, one list per row, as many cells as columns.
        note: a paragraph under it (what the numbers are, what is missing and why).
        numeric: indices of the right-aligned (number) columns; None = all but the first.
    """

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric: frozenset[int] | None = None

    def is_numeric(self, column: int) -> bool:
        """Whether column ``column`` holds numbers (right-aligned)."""
        return column > 0 if self.numeric is None else column in self.numeric


def format_stat(stats: Mapping[str, float] | None, scale: float = 100.0, digits: int = 2) -> str:
    """``"mean ± std"`` (``"mean"`` for one value) of ``stats`` times ``scale``; ``""`` if None.

    Examples:
        >>> format_stat({"mean": 0.25, "std": 0.01, "n": 3})
        '25.00 ± 1.00'
        >>> format_stat({"mean": 0.25, "std": 0.0, "n": 1})
        '25.00'
    """
    if not stats:
        return ""
    mean = f"{scale * stats['mean']:.{digits}f}"
    if stats.get("n", 1) > 1:
        return f"{mean} ± {scale * stats['std']:.{digits}f}"
    return mean


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _percent(value: Any) -> str:
    return "" if value is None else f"{100.0 * value:.1f}%"


def _failures(document: Mapping[str, Any]) -> Table | None:
    failures = document.get("failures") or []
    if not failures:
        return None
    rows = [
        [
            failure.get("stage", ""),
            failure.get("method", ""),
            "" if failure.get("seed") is None else str(failure["seed"]),
            failure.get("error", ""),
        ]
        for failure in failures
    ]
    return Table(
        "failures",
        "Failures and skipped runs",
        ["stage", "method", "seed", "error"],
        rows,
        "Every other result was kept. Tracebacks are in report.json (failures[].traceback).",
        numeric=frozenset({2}),
    )


def _estimate(document: Mapping[str, Any]) -> Table | None:
    estimate = document.get("estimate")
    if not estimate:
        return None
    measured = document.get("phases", {})
    rows = []
    for line in estimate["lines"]:
        actual = measured.get(line["phase"])
        rows.append([line["phase"], _number(line["seconds"], 0), _number(actual, 0), line["basis"]])
    total = document.get("wall_seconds")
    rows.append(
        [
            "total",
            f"{_number(estimate['total_seconds'], 0)} (+{estimate['margin']:.0%} margin)",
            _number(total, 0),
            "printed before training started",
        ]
    )
    return Table(
        "estimate",
        "Time: estimate and measured",
        ["phase", "estimated s", "measured s", "basis of the estimate"],
        rows,
        numeric=frozenset({1, 2}),
    )


def _training(document: Mapping[str, Any], summary: Mapping[str, Any]) -> Table | None:
    training = summary.get("training", {})
    if not training:
        return None
    supervised = {
        method["name"]: method["supervised"] for method in document["plan"].get("methods", [])
    }
    rows = []
    for method, stats in training.items():
        rows.append(
            [
                method,
                "yes" if supervised.get(method) else "no",
                f"{stats['runs_ok']} / {stats['runs']}",
                format_stat(stats.get("steps"), 1.0, 0),
                format_stat(stats.get("fit_seconds"), 1.0, 1),
                format_stat(stats.get("final_train_loss"), 1.0, 3),
            ]
        )
    judge = document.get("judge")
    if judge and judge.get("train"):
        rows.append(
            [
                f"{judge['method']} (judge)",
                "yes",
                "1 / 1" if judge.get("status") == "ok" else "0 / 1",
                _number(judge["train"].get("steps"), 0),
                _number(judge["train"].get("fit_seconds"), 1),
                _number(judge["train"].get("final_train_loss"), 3),
            ]
        )
    return Table(
        "training",
        "Training",
        ["method", "labels", "runs ok", "steps", "fit s", "last train loss"],
        rows,
        "Each run trained until its share of the budget (or the preset's max_steps) ended; "
        "steps and seconds are mean ± std over seeds. labels = the objective reads class labels.",
        numeric=frozenset(range(2, 6)),
    )


def _representation(summary: Mapping[str, Any]) -> list[Table]:
    representation = summary.get("representation", {})
    if not representation and not summary.get("pixels"):
        return []
    columns = [
        name
        for name in REPRESENTATION_COLUMNS
        if any(name in rows.get("trained", {}) for rows in representation.values())
        or name in summary.get("pixels", {})
    ]
    if not columns:
        return []

    def row(name: str, stats: Mapping[str, Any]) -> list[str]:
        seeds = max((entry.get("n", 0) for entry in stats.values()), default=0)
        return [name, str(seeds)] + [format_stat(stats.get(column)) for column in columns]

    rows = [row(method, rows["trained"]) for method, rows in representation.items()]
    rows += [
        row(f"{method} (random-init)", rows["random_init"])
        for method, rows in representation.items()
        if rows.get("random_init")
    ]
    if summary.get("pixels"):
        rows.append(row("pixels (32x32)", summary["pixels"]))
    tables = [
        Table(
            "representation",
            "Representation: kNN, linear probe, retrieval (percent)",
            ["model", "seeds", *[f"{column}" for column in columns]],
            rows,
            "Queries: the test split; gallery and probe training set: the train split (the "
            "seeded subset the plan names). mean ± std over seeds. random-init: the same "
            "architecture and config, untrained, seeded with the run's seed. pixels: raw 32x32 "
            "renders through the same protocol.",
        )
    ]
    gain_rows = [
        [method, str(max((s.get("n", 0) for s in rows["gain_points"].values()), default=0))]
        + [format_stat(rows["gain_points"].get(column), 1.0) for column in columns]
        for method, rows in representation.items()
        if rows.get("gain_points")
    ]
    if gain_rows:
        tables.append(
            Table(
                "gains",
                "Gain over random-init (percentage points, paired by seed)",
                ["method", "seeds", *columns],
                gain_rows,
                "Trained minus random-init of the same seed; a gain smaller than its spread is "
                "not a result.",
            )
        )
    return tables


def _healing(summary: Mapping[str, Any], document: Mapping[str, Any]) -> Table | None:
    healing = summary.get("healing", {})
    if not healing:
        return None
    columns = [
        column
        for column in HEALING_COLUMNS
        if any(column in stats for rows in healing.values() for stats in rows.values())
    ]
    rows = []
    for method, method_rows in healing.items():
        for name, stats in method_rows.items():
            seeds = max((entry.get("n", 0) for entry in stats.values()), default=0)
            cells = [format_stat(stats.get(column)) for column in columns]
            rows.append([method, name, str(seeds), *cells])
    judge = document.get("plan", {}).get("judge", "")
    return Table(
        "healing",
        "Healing: Rec and Ret (percent)",
        ["method", "row", "seeds", *columns],
        rows,
        "Each test sketch is patch-masked at the row's rate and the method generates from it. "
        "rec: the judge's accuracy on the sketches of the row (originals = its upper bound). "
        "ret_g2o_acc@k: the row's sketch (healed: re-encoded unmasked; no healing: the code of "
        "the corrupted input itself) retrieves its own original among the k nearest codes of "
        f"the originals; ret_chance@1 = 1 / N. Judge: {judge}",
        numeric=frozenset(range(2, 3 + len(columns))),
    )


def _speed(document: Mapping[str, Any]) -> Table | None:
    speed = document.get("speed") or {}
    measured = {name: row for name, row in (speed.get("rows") or {}).items() if row}
    if not measured:
        return None
    rows = [
        [
            name,
            row.get("preset", ""),
            _number(row.get("parameters")),
            _number(row.get("batch_size")),
            _number(row.get("mean_points_per_sketch"), 1),
            _number(row.get("view_sketches_per_s"), 0),
            _number(row.get("train_sketches_per_s"), 1),
            _number(row.get("train_seconds_per_step"), 3),
            _percent(row.get("train_mfu")),
            _number(row.get("embed_sketches_per_s"), 0),
            _percent(row.get("embed_mfu")),
        ]
        for name, row in measured.items()
    ]
    peak = speed.get("matmul_peak_flops")
    return Table(
        "speed",
        "Speed: sketches per second and model FLOPs utilisation",
        [
            "method",
            "preset",
            "parameters",
            "batch",
            "points / sketch",
            "view sk/s",
            "train sk/s",
            "s / step",
            "train MFU",
            "embed sk/s",
            "embed MFU",
        ],
        rows,
        f"Untrained models on real batches of the store, {speed.get('steps')} measured steps "
        f"after {speed.get('warmup')} warm-up steps, device {speed.get('device')}. view: "
        "building the batches in one process (one DataLoader worker's work). MFU: FLOPs counted "
        "by torch.utils.flop_counter per second over the float32 matrix-product peak measured "
        f"in this run: {peak / 1e9:.1f} GFLOP/s. The counter sees matrix products, convolutions "
        "and attention, not fused LSTM kernels: recurrent models' MFU is a lower bound."
        if peak
        else "",
        numeric=frozenset(range(2, 11)),
    )


def _key_values(key: str, title: str, mapping: Mapping[str, Any]) -> Table:
    rows = []
    for name, value in mapping.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=False)
        rows.append([str(name), "" if value is None else str(value)])
    return Table(key, title, ["", ""], rows, numeric=frozenset())


def _plan(document: Mapping[str, Any]) -> Table:
    plan = dict(document.get("plan", {}))
    methods = plan.pop("methods", [])
    rows = {
        "methods": ", ".join(
            method["name"]
            + (" (labels)" if method["supervised"] else "")
            + (" [heals]" if method["can_heal"] else "")
            for method in methods
        ),
        **{key: value for key, value in plan.items() if key != "rules"},
    }
    table = _key_values("plan", "Plan", rows)
    table.note = " ".join(plan.get("rules", []))
    return table


def _commands(document: Mapping[str, Any]) -> Table:
    rows = [["bench", document.get("command", "")]]
    judge = document.get("judge") or {}
    for command in judge.get("commands", []):
        rows.append(["judge", command])
    for key, run in (document.get("runs") or {}).items():
        for command in run.get("commands", []):
            rows.append([key, command])
    return Table(
        "commands",
        "Commands",
        ["run", "command"],
        rows,
        "Each run is one `sketchssl train` with its time cap, then `sketchssl eval`; the "
        "step a time cap stops at depends on the machine, the steps reached are in the "
        "training table.",
        numeric=frozenset(),
    )


def build_tables(document: Mapping[str, Any]) -> list[Table]:
    """Every table of the report, in reading order (failures first when there are any)."""
    summary = summarise(document)
    tables: list[Table | None] = [
        _failures(document),
        *_representation(summary),
        _healing(summary, document),
        _speed(document),
        _training(document, summary),
        _estimate(document),
        _plan(document),
        _key_values("environment", "Environment", document.get("environment", {})),
        _commands(document),
    ]
    return [table for table in tables if table is not None]


def markdown_table(table: Table) -> str:
    """GitHub-flavoured Markdown of ``table`` (pipes in cells escaped)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    align = ["---:" if table.is_numeric(column) else "---" for column in range(len(table.columns))]
    lines = [
        "| " + " | ".join(cell(column) for column in table.columns) + " |",
        "|" + "|".join(align) + "|",
    ]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.rows]
    return "\n".join(lines)
