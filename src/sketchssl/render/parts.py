"""Sketches coloured by semantic part (SPG part labels), as a grid with a legend.

Each stroke-3 row is the segment from the previous point to the point it ends at; it is drawn
in the colour of that point's part (``parts[r]``), so a stroke that changes part changes colour
where the annotation does. Rows without a label (-1) are grey. The palette is Tableau's ten
categorical colours (the one matplotlib calls ``tab10``), then two more; a class has at most
eight parts in SPG20.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import aggdraw
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sketchssl.errors import SketchFormatError
from sketchssl.render.grid import CAPTION_HEIGHT, save_image
from sketchssl.render.raster import sketch_canvas_points

__all__ = ["PART_COLOURS", "UNLABELLED_COLOUR", "part_colour", "render_parts", "save_parts_grid"]

PART_COLOURS: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (127, 127, 127),
    (0, 0, 128),
    (128, 0, 0),
)
UNLABELLED_COLOUR = (190, 190, 190)


def part_colour(part: int) -> tuple[int, int, int]:
    """The colour of part index ``part`` (grey for -1; the palette repeats past 12 parts)."""
    return UNLABELLED_COLOUR if part < 0 else PART_COLOURS[part % len(PART_COLOURS)]


def render_parts(
    sketch: np.ndarray,
    parts: np.ndarray,
    size: int = 128,
    line_width: float = 2.0,
    padding: float = 0.05,
) -> np.ndarray:
    """Draw one stroke-3 sketch with every segment in its part's colour.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        parts: ``(N,)`` part index of each row (the point the row ends at), -1 for none.
        size: canvas side in pixels.
        line_width: stroke width in pixels.
        padding: margin as a fraction of the side.

    Returns:
        uint8 ``(size, size, 3)`` RGB, white paper.
    """
    parts = np.asarray(parts)
    if len(parts) != len(sketch):
        raise SketchFormatError(f"{len(parts)} part labels for a sketch of {len(sketch)} rows")
    points = sketch_canvas_points(np.asarray(sketch), size, padding)  # (N + 1, 3)
    points[:, 0:2] += 0.5  # aggdraw pixel centres
    canvas = aggdraw.Draw("RGB", (size, size), (255, 255, 255))
    for row in range(len(sketch)):
        start, end = points[row], points[row + 1]
        if start[2] == 1:  # the pen lifted after the start point: a move, not a line
            continue
        colour = part_colour(int(parts[row]))
        pen = aggdraw.Pen(colour, float(line_width))
        canvas.line([start[0], start[1], end[0], end[1]], pen)
        radius = line_width / 2.0
        brush = aggdraw.Brush(colour)
        for x, y in ((start[0], start[1]), (end[0], end[1])):  # round joins and caps
            canvas.ellipse([x - radius, y - radius, x + radius, y + radius], brush)
    canvas.flush()
    image = np.frombuffer(canvas.tobytes(), dtype=np.uint8)
    return image.reshape(size, size, 3).copy()


def save_parts_grid(
    sketches: Sequence[np.ndarray],
    parts: Sequence[np.ndarray],
    labels: Sequence[str],
    part_names: Mapping[str, Sequence[str]],
    path: str | os.PathLike[str],
    ncols: int = 8,
    size: int = 128,
    line_width: float = 2.0,
    padding: int = 4,
) -> Path:
    """A PNG grid of part-coloured sketches, captioned by class, with a legend per class shown.

    Args:
        sketches: stroke-3 sketches.
        parts: their per-row part labels.
        labels: their class names.
        part_names: class name -> part names (the legend).
        path: the ``.png`` (or ``.jpg``) to write, atomically.
        ncols: tiles per row.
        size: tile side in pixels.
        line_width: stroke width in pixels.
        padding: pixels between tiles.
    """
    if not sketches:
        raise SketchFormatError("no sketches to draw")
    tiles = [
        render_parts(sketch, part, size, line_width)
        for sketch, part in zip(sketches, parts, strict=True)
    ]
    font = ImageFont.load_default()
    shown = list(dict.fromkeys(label for label in labels if label in part_names))
    legend_lines = [(name, list(part_names[name])) for name in shown]
    line_height = CAPTION_HEIGHT + 2
    ncols = max(1, min(ncols, len(tiles)))
    nrows = -(-len(tiles) // ncols)
    cell_height = size + CAPTION_HEIGHT
    width = ncols * (size + padding) + padding
    legend_top = nrows * (cell_height + padding) + padding
    # a class whose parts do not fit on one line wraps onto the next
    layout: list[list[tuple[str, tuple[int, int, int] | None]]] = []
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for name, names in legend_lines:
        line: list[tuple[str, tuple[int, int, int] | None]] = [(f"{name}:", None)]
        used = probe.textlength(f"{name}: ", font=font)
        for index, part in enumerate(names):
            needed = 14 + probe.textlength(part + "  ", font=font)
            if used + needed > width - 2 * padding and len(line) > 1:
                layout.append(line)
                line, used = [("", None)], 12.0
            line.append((part, part_colour(index)))
            used += needed
        layout.append(line)
    height = legend_top + len(layout) * line_height + padding
    grid = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, ncols)
        left = padding + column * (size + padding)
        top = padding + row * (cell_height + padding)
        grid.paste(Image.fromarray(tile), (left, top))
        text = str(labels[index])
        while len(text) > 1 and draw.textlength(text, font=font) > size:
            text = text[:-1]
        draw.text((left + 1, top + size + 1), text, fill=(0, 0, 0), font=font)
    for number, line in enumerate(layout):
        x, y = float(padding), legend_top + number * line_height
        for text, colour in line:
            if colour is not None:
                draw.rectangle([x, y + 2, x + 9, y + 11], fill=colour)
                x += 12
            draw.text((x, y + 1), text, fill=(0, 0, 0), font=font)
            x += draw.textlength(text + "  ", font=font)
    return save_image(grid, path)
