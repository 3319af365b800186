"""Mean and spread over seeds of a bench document's runs.

The bench document (see :mod:`sketchssl.bench.runner`) keeps every run's raw numbers; this module
reduces them per method: for every metric the mean, the sample standard deviation (n - 1; 0 for
one seed), the minimum, the maximum and the number of seeds that produced it. Gains over the
random-init baseline are paired by seed (trained minus random-init of the same seed), in
percentage points. Runs that failed or were skipped are left out of the statistics (the ``n``
shows it) and listed in the report's failures.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["seed_statistics", "summarise"]


def seed_statistics(values: Iterable[float | None]) -> dict[str, float] | None:
    """``{"mean", "std", "min", "max", "n"}`` of the finite values; None when there are none.

    Examples:
        >>> seed_statistics([0.5, 0.7, None])
        {'mean': 0.6, 'std': 0.1414213562373095, 'min': 0.5, 'max': 0.7, 'n': 2}
    """
    finite = [float(value) for value in values if value is not None and math.isfinite(value)]
    if not finite:
        return None
    return {
        "mean": statistics.fmean(finite),
        "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
        "min": min(finite),
        "max": max(finite),
        "n": len(finite),
    }


def _numeric_keys(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in keys:
                keys.append(key)
    return keys


def _reduce(rows: list[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per numeric key of ``rows``: the statistics over the rows that have it."""
    reduced = {}
    for key in _numeric_keys(rows):
        stats = seed_statistics(row.get(key) for row in rows)
        if stats is not None:
            reduced[key] = stats
    return reduced


def _by_method(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs.values():
        grouped.setdefault(run["method"], []).append(run)
    return grouped


def _representation(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    trained = [run["representation"]["trained"] for run in runs if run.get("representation")]
    baseline = [
        run["representation"]["random_init"]
        for run in runs
        if run.get("representation") and "random_init" in run["representation"]
    ]
    gains: dict[str, list[float]] = {}
    for run in runs:
        rows = run.get("representation") or {}
        if "trained" not in rows or "random_init" not in rows:
            continue
        for key, value in rows["trained"].items():
            reference = rows["random_init"].get(key)
            if isinstance(value, (int, float)) and isinstance(reference, (int, float)):
                gains.setdefault(key, []).append(100.0 * (float(value) - float(reference)))
    return {
        "trained": _reduce(trained),
        "random_init": _reduce(baseline),
        "gain_points": {
            key: stats
            for key, values in gains.items()
            if (stats := seed_statistics(values)) is not None
        },
    }


def _healing(runs: list[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    by_row: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        for name, row in (run.get("healing") or {}).items():
            by_row.setdefault(name, []).append(row)
    return {name: _reduce(rows) for name, rows in by_row.items()}


def summarise(document: Mapping[str, Any]) -> dict[str, Any]:
    """Per-method statistics over seeds: training, representation, healing, pixels.

    Returns:
        ``{"training": {method: ...}, "representation": {method: {"trained", "random_init",
        "gain_points"}}, "pixels": {metric: stats}, "healing": {method: {row: {metric:
        stats}}}}``.
    """
    runs = document.get("runs", {})
    summary: dict[str, Any] = {"training": {}, "representation": {}, "healing": {}}
    for method, method_runs in _by_method(runs).items():
        trained = [run["train"] for run in method_runs if run.get("train")]
        summary["training"][method] = {
            **_reduce(trained),
            "runs": len(method_runs),
            "runs_ok": sum(run.get("status") == "ok" for run in method_runs),
        }
        if any(run.get("representation") for run in method_runs):
            summary["representation"][method] = _representation(method_runs)
        if any(run.get("healing") for run in method_runs):
            summary["healing"][method] = _healing(method_runs)
    pixels = list((document.get("pixels") or {}).values())
    summary["pixels"] = _reduce(pixels) if pixels else {}
    return summary
