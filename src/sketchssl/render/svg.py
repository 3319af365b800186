"""SVG export: one ``<path>`` per stroke, placed exactly as the rasterisers place the sketch.

Coordinates are the same pixel-index coordinates :func:`sketchssl.render.raster.render_strokes`
draws at (pixel centres at integer + 0.5 in SVG user units), so an SVG and a PNG of one sketch
line up. Strokes are drawn with round caps and joins, black on a transparent background.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from sketchssl.atomic import atomic_write
from sketchssl.data.formats import validate_stroke3
from sketchssl.render.raster import CanvasTransform, sketch_canvas_points

__all__ = ["stroke_paths", "sketch_to_svg", "sketches_to_svg_grid", "save_svg", "save_svg_grid"]


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def stroke_paths(
    sketch: np.ndarray,
    size: int = 256,
    padding: float = 0.05,
    *,
    fit: bool = True,
    transform: CanvasTransform | None = None,
) -> list[str]:
    """SVG path data (``M x y L x y ...``), one string per stroke, in canvas coordinates."""
    sketch = validate_stroke3(sketch)
    points = sketch_canvas_points(sketch, size, padding, fit=fit, transform=transform)
    points[:, 0:2] += 0.5  # pixel j covers [j, j + 1)
    ends = np.flatnonzero(points[:, 2] == 1) + 1
    paths = []
    for stroke in np.split(points[:, 0:2], ends):
        if len(stroke) == 0:
            continue
        if len(stroke) == 1:  # a dot: a zero-length segment with round caps
            stroke = np.vstack([stroke, stroke])
        commands = [f"M{_number(stroke[0, 0])} {_number(stroke[0, 1])}"]
        commands += [f"L{_number(x)} {_number(y)}" for x, y in stroke[1:]]
        paths.append(" ".join(commands))
    return paths


def _group(paths: list[str], stroke_width: float, dx: float = 0.0, dy: float = 0.0) -> str:
    shift = f' transform="translate({_number(dx)},{_number(dy)})"' if dx or dy else ""
    body = "".join(f'<path d="{d}"/>' for d in paths)
    return (
        f'<g fill="none" stroke="black" stroke-width="{_number(stroke_width)}" '
        f'stroke-linecap="round" stroke-linejoin="round"{shift}>{body}</g>'
    )


def sketch_to_svg(
    sketch: np.ndarray, size: int = 256, stroke_width: float = 2.0, padding: float = 0.05
) -> str:
    """A standalone SVG document of one sketch fitted into a ``size`` x ``size`` view box."""
    paths = stroke_paths(sketch, size, padding)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">{_group(paths, stroke_width)}</svg>\n'
    )


def sketches_to_svg_grid(
    sketches: Sequence[np.ndarray],
    ncols: int = 8,
    size: int = 128,
    stroke_width: float = 2.0,
    *,
    labels: Sequence[str] | None = None,
    gap: int = 4,
) -> str:
    """One SVG document with the sketches in a grid (and their captions)."""
    ncols = max(1, min(ncols, len(sketches)))
    nrows = -(-len(sketches) // ncols)
    caption = 14 if labels is not None and any(labels) else 0
    width = ncols * (size + gap) + gap
    height = nrows * (size + caption + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="white"/>'
    ]
    for index, sketch in enumerate(sketches):
        row, column = divmod(index, ncols)
        left = gap + column * (size + gap)
        top = gap + row * (size + caption + gap)
        parts.append(_group(stroke_paths(sketch, size), stroke_width, left, top))
        if caption and labels[index]:
            parts.append(
                f'<text x="{left + 1}" y="{top + size + 11}" font-family="sans-serif" '
                f'font-size="10">{escape(str(labels[index]))}</text>'
            )
    parts.append("</svg>\n")
    return "".join(parts)


def save_svg(text: str, path: str | os.PathLike[str]) -> Path:
    """Write SVG text atomically."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


def save_svg_grid(
    sketches: Sequence[np.ndarray],
    path: str | os.PathLike[str],
    ncols: int = 8,
    size: int = 128,
    stroke_width: float = 2.0,
    *,
    labels: Sequence[str] | None = None,
) -> Path:
    """:func:`sketches_to_svg_grid` written to ``path``."""
    return save_svg(sketches_to_svg_grid(sketches, ncols, size, stroke_width, labels=labels), path)
