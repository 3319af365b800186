"""Image grids of sketches (PNG / JPEG), with optional captions under each tile."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sketchssl.atomic import atomic_write
from sketchssl.errors import SketchFormatError
from sketchssl.render.raster import render_strokes

__all__ = ["image_grid", "render_grid", "save_grid", "save_image"]

CAPTION_HEIGHT = 14


def image_grid(
    images: Sequence[np.ndarray | Image.Image],
    ncols: int = 8,
    *,
    padding: int = 4,
    labels: Sequence[str] | None = None,
    background: int = 255,
) -> Image.Image:
    """Tile equally sized grey images into one image, ``ncols`` per row, row-major.

    Args:
        images: ``(H, W)`` uint8 arrays or PIL images, all the same size.
        ncols: tiles per row.
        padding: pixels between tiles and around the grid.
        labels: one caption per tile (an empty string for none), drawn under the tile.
        background: grey level between the tiles.
    """
    if not images:
        raise SketchFormatError("image_grid needs at least one image")
    tiles = [
        np.asarray(image.convert("L") if isinstance(image, Image.Image) else image)
        for image in images
    ]
    height, width = tiles[0].shape[:2]
    if any(tile.shape[:2] != (height, width) for tile in tiles):
        raise SketchFormatError("image_grid: every image must have the same size")
    if labels is not None and len(labels) != len(tiles):
        raise SketchFormatError(f"{len(labels)} labels for {len(tiles)} images")
    ncols = max(1, min(ncols, len(tiles)))
    nrows = -(-len(tiles) // ncols)
    caption = CAPTION_HEIGHT if labels is not None and any(labels) else 0
    cell_height = height + caption
    grid = Image.new(
        "L",
        (ncols * (width + padding) + padding, nrows * (cell_height + padding) + padding),
        background,
    )
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for index, tile in enumerate(tiles):
        row, column = divmod(index, ncols)
        left = padding + column * (width + padding)
        top = padding + row * (cell_height + padding)
        grid.paste(Image.fromarray(tile.astype(np.uint8)), (left, top))
        if caption and labels[index]:
            text = str(labels[index])
            while len(text) > 1 and draw.textlength(text, font=font) > width:
                text = text[:-1]
            draw.text((left + 1, top + height + 1), text, fill=0, font=font)
    return grid


def render_grid(
    sketches: Sequence[np.ndarray],
    ncols: int = 8,
    size: int = 128,
    line_width: float = 2.0,
    *,
    labels: Sequence[str] | None = None,
    padding: int = 4,
) -> Image.Image:
    """Render stroke-3 sketches (each fitted to its tile) and tile them."""
    images = [render_strokes(sketch, size=size, line_width=line_width) for sketch in sketches]
    return image_grid(images, ncols, padding=padding, labels=labels)


def save_image(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Save a PIL image atomically (temporary sibling, then rename); the suffix picks the format."""
    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise SketchFormatError(f"{path}: unknown image type {path.suffix!r}")
    with atomic_write(path) as stream:
        image.save(stream, format=image_format)
    return path


def save_grid(
    sketches: Sequence[np.ndarray],
    path: str | os.PathLike[str],
    ncols: int = 8,
    size: int = 128,
    line_width: float = 2.0,
    *,
    labels: Sequence[str] | None = None,
) -> Path:
    """Render ``sketches`` into a grid file: ``.png`` / ``.jpg``, or ``.svg`` (vector)."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        from sketchssl.render.svg import save_svg_grid

        return save_svg_grid(
            sketches, path, ncols=ncols, size=size, stroke_width=line_width, labels=labels
        )
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise SketchFormatError(f"{path}: choose a .png, .jpg or .svg file name")
    return save_image(render_grid(sketches, ncols, size, line_width, labels=labels), path)
