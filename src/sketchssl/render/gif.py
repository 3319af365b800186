"""Animated GIFs of the drawing order: each frame adds the next stroke of every sketch.

Every sketch keeps the placement of its finished drawing in every frame (the fit transform is
computed once from the whole sketch), so strokes appear where they end up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from sketchssl.atomic import atomic_write
from sketchssl.data.formats import count_strokes, stroke3_to_absolute, validate_stroke3
from sketchssl.render.grid import image_grid
from sketchssl.render.raster import fit_transform, render_strokes

__all__ = ["first_strokes", "drawing_frames", "save_drawing_gif"]


def first_strokes(sketch: np.ndarray, count: int) -> np.ndarray:
    """The stroke-3 rows of the first ``count`` strokes."""
    ends = np.flatnonzero(np.asarray(sketch)[:, 2] == 1)
    if count >= len(ends):
        return np.asarray(sketch)
    return np.asarray(sketch)[: ends[count - 1] + 1]


def drawing_frames(
    sketches: Sequence[np.ndarray],
    ncols: int | None = None,
    size: int = 128,
    line_width: float = 2.0,
) -> list[Image.Image]:
    """One grid image per stroke step: frame ``k`` shows the first ``k`` strokes of each sketch."""
    sketches = [validate_stroke3(sketch) for sketch in sketches]
    transforms = [fit_transform(stroke3_to_absolute(s)[:, 0:2], size) for s in sketches]
    steps = max(count_strokes(sketch) for sketch in sketches)
    frames = []
    for step in range(1, steps + 1):
        tiles = [
            render_strokes(first_strokes(sketch, step), size, line_width, transform=transform)
            for sketch, transform in zip(sketches, transforms, strict=True)
        ]
        frames.append(image_grid(tiles, ncols or len(tiles)))
    return frames


def save_drawing_gif(
    sketches: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike[str],
    ncols: int | None = None,
    size: int = 128,
    line_width: float = 2.0,
    *,
    frame_ms: int = 250,
    hold_ms: int = 1500,
) -> Path:
    """Write the drawing-order animation of one sketch or a grid of them (looping GIF).

    Args:
        sketches: one ``(N, 3)`` sketch or a list of them.
        path: the ``.gif`` file (written atomically).
        ncols: tiles per row (all in one row by default).
        size: tile side in pixels.
        line_width: stroke width in pixels.
        frame_ms: duration of each stroke step.
        hold_ms: duration of the last frame, the finished drawings.
    """
    if isinstance(sketches, np.ndarray) and sketches.ndim == 2:
        sketches = [sketches]
    frames = drawing_frames(list(sketches), ncols, size, line_width)
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    path = Path(path)
    with atomic_write(path) as stream:
        frames[0].save(
            stream,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=durations,
            loop=0,
            optimize=False,
            disposal=1,
        )
    return path
