"""Request drawings to stroke-3 and back: hand-computed cases and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from sketchssl.data.formats import bbox_scale, normalize_offsets, polylines_to_stroke3
from sketchssl.errors import SketchFormatError
from sketchssl.serve.drawing import locate_part, simplify_drawing, to_drawing_units, to_strokes


def test_a_canvas_square_becomes_quickdraw_simplified():
    # a 200-px square drawn at (100, 100) on a canvas: aligned to 0 and scaled to the 255 box;
    # resampling and RDP keep only its corners
    square = [[[100, 300, 300, 100, 100], [100, 100, 300, 300, 100]]]
    drawing = simplify_drawing(square)
    assert drawing.start.tolist() == [0.0, 0.0]
    assert drawing.stroke3.dtype == np.int16
    assert drawing.stroke3.tolist() == [[255, 0, 0], [0, 255, 0], [-255, 0, 0], [0, -255, 1]]
    assert drawing.strokes == [([0.0, 255.0, 255.0, 0.0, 0.0], [0.0, 0.0, 255.0, 255.0, 0.0])]


def test_the_first_point_of_a_later_stroke_start_is_kept():
    # the first stroke does not start at the drawing's minimum: start is its first point
    drawing = simplify_drawing([[[40, 40], [0, 60]], [[0, 100], [20, 20]]])
    assert drawing.start.tolist() == [102.0, 0.0]  # 40 * 255 / 100
    assert drawing.strokes[0] == ([102.0, 102.0], [0.0, 153.0])
    assert drawing.strokes[1] == ([0.0, 255.0], [51.0, 51.0])


@pytest.mark.parametrize(
    "strokes",
    [[[[5], [5]]], [[[5, 5, 5], [7, 7, 7]]]],
    ids=["one point", "one point repeated"],
)
def test_a_single_point_is_refused(strokes):
    with pytest.raises(SketchFormatError, match="single point"):
        simplify_drawing(strokes)


def test_to_strokes_round_trips_through_polylines(square_sketch):
    strokes = to_strokes(square_sketch, start=(3.0, -2.0))
    points = [np.stack([xs, ys], axis=1) for xs, ys in strokes]
    assert points[0][0].tolist() == [3.0, -2.0]
    back = polylines_to_stroke3(points)
    np.testing.assert_array_equal(back, square_sketch)


def test_to_drawing_units_undoes_both_normalisations(square_sketch):
    bbox = bbox_scale(square_sketch, 10.0)
    np.testing.assert_allclose(
        to_drawing_units(bbox, square_sketch, "bbox", bbox_factor=10.0), square_sketch, atol=1e-5
    )
    std = normalize_offsets(square_sketch, 4.0)
    np.testing.assert_allclose(
        to_drawing_units(std, square_sketch, "std", scale=4.0), square_sketch
    )
    np.testing.assert_array_equal(to_drawing_units(square_sketch, None, "none"), square_sketch)


def test_locate_part_finds_where_a_shortened_drawing_starts():
    first = np.array([[0, 0], [10, 0], [10, 10]])
    second = np.array([[30, 5], [40, 20]])
    third = np.array([[50, 50], [60, 45], [70, 70]])
    whole = polylines_to_stroke3([first, second, third])
    part = polylines_to_stroke3([second, third])  # the first stroke deleted
    assert locate_part(part, whole).tolist() == [30.0, 5.0]
    assert locate_part(whole, whole).tolist() == [0.0, 0.0]
    # a part that does not fit anywhere keeps the whole's start
    assert locate_part(np.array([[7, 3, 1]]), whole).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name", ["drawing", "limits"])
def test_documented_examples_hold(name):
    import doctest
    import importlib

    module = importlib.import_module(f"sketchssl.serve.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
