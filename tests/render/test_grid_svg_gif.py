"""Grids, SVG export and drawing-order GIFs against the rasteriser and the SVG format."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from sketchssl.data.formats import count_strokes
from sketchssl.errors import SketchFormatError
from sketchssl.render.gif import drawing_frames, first_strokes, save_drawing_gif
from sketchssl.render.grid import image_grid, save_grid
from sketchssl.render.raster import render_strokes, sketch_canvas_points
from sketchssl.render.svg import save_svg_grid, sketch_to_svg, stroke_paths

SVG = "{http://www.w3.org/2000/svg}"


def test_grid_places_each_tile_row_major(square_sketch):
    tiles = [np.full((10, 10), value, dtype=np.uint8) for value in (0, 50, 100)]
    grid = np.asarray(image_grid(tiles, ncols=2, padding=2))
    assert grid.shape == (2 * 12 + 2, 2 * 12 + 2)
    assert grid[2, 2] == 0 and grid[2, 14] == 50 and grid[14, 2] == 100
    assert grid[14, 14] == 255  # the empty fourth cell
    with pytest.raises(SketchFormatError, match="same size"):
        image_grid([np.zeros((4, 4)), np.zeros((5, 5))])


def test_save_grid_png_matches_the_rasteriser(tmp_path, square_sketch):
    path = save_grid([square_sketch], tmp_path / "one.png", ncols=1, size=32)
    image = np.asarray(Image.open(path))
    expected = render_strokes(square_sketch, size=32)
    np.testing.assert_array_equal(image[4:36, 4:36], expected)
    with pytest.raises(SketchFormatError, match=".png"):
        save_grid([square_sketch], tmp_path / "one.bmp")


def test_svg_paths_are_the_canvas_points(square_sketch):
    text = sketch_to_svg(square_sketch, size=64)
    root = ElementTree.fromstring(text)
    paths = [element.get("d") for element in root.iter(f"{SVG}path")]
    assert len(paths) == 2  # one path per stroke
    points = sketch_canvas_points(square_sketch, 64)
    coordinates = [[float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)] for d in paths]
    drawn = np.array([c for path in coordinates for c in path]).reshape(-1, 2) - 0.5
    np.testing.assert_allclose(drawn, points[:, :2], atol=0.01)


def test_svg_grid_is_valid_xml_with_captions(tmp_path, square_sketch):
    path = save_svg_grid([square_sketch] * 3, tmp_path / "g.svg", ncols=2, labels=["a", "b<c", ""])
    root = ElementTree.parse(path).getroot()
    assert len(list(root.iter(f"{SVG}g"))) == 3
    assert [t.text for t in root.iter(f"{SVG}text")] == ["a", "b<c"]
    assert len(stroke_paths(np.array([[0, 0, 1], [5, 5, 1]]))) == 2  # a dot becomes a path too


def test_gif_adds_one_stroke_per_frame(tmp_path, square_sketch):
    assert count_strokes(square_sketch) == 2
    np.testing.assert_array_equal(first_strokes(square_sketch, 1), square_sketch[:4])
    frames = drawing_frames([square_sketch], size=48)
    assert len(frames) == 2
    final = np.asarray(frames[-1])[4:52, 4:52]
    np.testing.assert_array_equal(final, render_strokes(square_sketch, size=48))
    first = np.asarray(frames[0])[4:52, 4:52]
    assert (first < 128).sum() < (final < 128).sum()  # less ink before the second stroke

    path = save_drawing_gif([square_sketch, square_sketch[:4]], tmp_path / "d.gif", size=48)
    with Image.open(path) as gif:
        assert gif.n_frames == 2
        assert gif.info["loop"] == 0
