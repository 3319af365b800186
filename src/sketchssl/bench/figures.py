"""The bench report's figures: training curves, data and sample grids, healing rows.

Every figure is a PNG written atomically into the report's ``figures/`` folder; the HTML report
embeds them. Training curves come from the CSV log every run writes (``logs/metrics.csv``, the
``train/loss`` column, and ``val/loss`` when validation ran). Sample grids reuse the evaluation
layer: reconstructions for methods that heal
(:func:`sketchssl.eval.generation.reconstruction_rows`), Sketch Gestalt Model completions for
Sketch-BERT (:mod:`sketchssl.eval.samples`), and corrupted / healed / original rows
(:func:`sketchssl.eval.generation.healing_rows`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sketchssl.atomic import atomic_write
from sketchssl.data.store import SketchStore
from sketchssl.eval.embedding_map import MissingDependencyError

__all__ = [
    "data_grid",
    "healing_figure",
    "plot_training_curves",
    "read_curve",
    "sample_figure",
]


def read_curve(run_dir: Path, key: str = "train/loss") -> list[tuple[int, float]]:
    """``(step, value)`` rows of column ``key`` in ``run_dir/logs/metrics.csv`` (empty if none)."""
    path = Path(run_dir) / "logs" / "metrics.csv"
    if not path.is_file():
        return []
    points = []
    with open(path, newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            value, step = row.get(key), row.get("step")
            if value and step:
                points.append((int(float(step)), float(value)))
    return points


def plot_training_curves(
    curves: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]], path: Path
) -> Path:
    """One panel per method, one line per seed (and validation) of the loss against the step.

    Args:
        curves: ``{method: {line label: [(step, loss), ...]}}``.
        path: the PNG to write.
    """
    try:
        import matplotlib.figure as figure_module
    except ImportError as error:
        raise MissingDependencyError(
            "the training curves need matplotlib: pip install 'sketchssl[viz]'"
        ) from error
    methods = [name for name, lines in curves.items() if any(lines.values())]
    if not methods:
        raise ValueError("no training curve has any point")
    columns = min(3, len(methods))
    rows = math.ceil(len(methods) / columns)
    figure = figure_module.Figure(figsize=(4.2 * columns, 3.0 * rows), dpi=100)
    for position, method in enumerate(methods, start=1):
        axes = figure.add_subplot(rows, columns, position)
        for label, points in curves[method].items():
            if points:
                steps, values = zip(*points, strict=True)
                marker = "o" if len(points) < 10 else None  # a short run: show its points
                axes.plot(steps, values, label=label, linewidth=1.2, marker=marker, markersize=3)
        axes.set_title(method, fontsize=10)
        axes.set_xlabel("step", fontsize=8)
        axes.set_ylabel("loss", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.legend(fontsize=7)
    figure.tight_layout()
    with atomic_write(path, "wb") as stream:
        figure.savefig(stream, format="png")
    return path


def data_grid(store: SketchStore, path: Path, split: str = "test", count: int = 24) -> Path:
    """A grid of ``count`` sketches spread evenly over ``split``, labelled with their class."""
    from sketchssl.render.grid import save_grid

    indices = store.split_indices(split)
    if len(indices) == 0:
        indices = np.arange(len(store))
    chosen = indices[np.linspace(0, len(indices) - 1, num=min(count, len(indices))).astype(int)]
    names = store.class_names
    labels = [
        names[store.label(int(i))] if 0 <= store.label(int(i)) < len(names) else "" for i in chosen
    ]
    return save_grid(
        [store[int(i)] for i in chosen], path, ncols=min(8, len(chosen)), size=96, labels=labels
    )


def sample_figure(checkpoint: Path, store: SketchStore, path: Path, seed: int) -> str | None:
    """What the method draws: reconstructions or gestalt completions; None if it cannot draw.

    Returns:
        A caption for the figure, or None when the method has no generation to show.
    """
    from sketchssl.bench.plan import can_heal
    from sketchssl.eval.generation import reconstruction_rows, save_rows
    from sketchssl.methods.checkpoint import load_method

    method, run_config = load_method(checkpoint)
    if can_heal(type(method)):
        save_rows(reconstruction_rows(method, run_config, store, 8, seed=seed), path)
        return "test sketches (top) and their reconstructions from the code (temperature 0.24)"
    if hasattr(method, "predict") and hasattr(method, "generate"):
        from sketchssl.eval.samples import gestalt_completions, save_gestalt_figure

        save_gestalt_figure(gestalt_completions(method, run_config, store, seed=seed), path)
        return "Sketch Gestalt Model: masked input, completion, original"
    return None


def healing_figure(
    checkpoint: Path, store: SketchStore, path: Path, mask: float, seed: int, device: str
) -> Path:
    """Corrupted / healed / original rows of 8 test sketches at mask rate ``mask``."""
    from sketchssl.eval.generation import healing_rows, save_rows
    from sketchssl.methods.checkpoint import load_method

    method, run_config = load_method(checkpoint)
    method.to(device)
    rows: dict[str, Any] = healing_rows(method, run_config, store, mask, 8, seed=seed)
    return save_rows(rows, path)
