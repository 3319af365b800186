"""Stroke-3 / stroke-5 / polyline conversions against hand-computed cases and round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sketchssl.data import formats
from sketchssl.errors import SketchFormatError


@st.composite
def stroke3_sketches(draw, max_points: int = 60) -> np.ndarray:
    """Random valid stroke-3 int16 sketches whose last point ends a stroke."""
    n = draw(st.integers(1, max_points))
    offsets = draw(arrays(np.int16, (n, 2), elements=st.integers(-300, 300)))
    pen = draw(arrays(np.int16, (n,), elements=st.integers(0, 1)))
    pen[-1] = 1
    return np.concatenate([offsets, pen[:, None]], axis=1).astype(np.int16)


def test_stroke5_hand_computed(square_sketch):
    big = formats.stroke3_to_stroke5(square_sketch, max_len=8)
    assert big.shape == (8, 5)
    assert big.dtype == np.float32
    np.testing.assert_array_equal(big[0], [10, 0, 1, 0, 0])
    np.testing.assert_array_equal(big[3], [0, -10, 0, 1, 0])  # pen lifts after the 4th point
    np.testing.assert_array_equal(big[5], [4, 4, 0, 1, 0])
    np.testing.assert_array_equal(big[6:], [[0, 0, 0, 0, 1]] * 2)  # padding = end of sketch


def test_stroke5_start_token(square_sketch):
    big = formats.stroke3_to_stroke5(square_sketch, max_len=8, start_token=True)
    assert big.shape == (9, 5)
    np.testing.assert_array_equal(big[0], [0, 0, 1, 0, 0])  # S0 of sketch-rnn
    np.testing.assert_array_equal(big[1:], formats.stroke3_to_stroke5(square_sketch, 8))
    back = formats.stroke5_to_stroke3(big, start_token=True)
    np.testing.assert_array_equal(back, square_sketch)


def test_stroke5_too_long_is_a_clear_error(square_sketch):
    with pytest.raises(SketchFormatError, match="max_len=4"):
        formats.stroke3_to_stroke5(square_sketch, max_len=4)


@settings(max_examples=200, deadline=None)
@given(stroke3_sketches())
def test_roundtrip_stroke3_stroke5(sketch):
    big = formats.stroke3_to_stroke5(sketch, max_len=len(sketch) + 7)
    np.testing.assert_array_equal(formats.stroke5_to_stroke3(big), sketch)


@settings(max_examples=200, deadline=None)
@given(stroke3_sketches())
def test_roundtrip_stroke3_polylines(sketch):
    lines = formats.stroke3_to_polylines(sketch)
    assert sum(len(line) for line in lines) == len(sketch) + 1  # the origin point is added
    back = formats.polylines_to_stroke3(lines, dtype=np.int16)
    np.testing.assert_array_equal(back, sketch)


def test_polylines_hand_computed(square_sketch):
    lines = formats.stroke3_to_polylines(square_sketch, start=(1, 2))
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0], [[1, 2], [11, 2], [11, 12], [1, 12], [1, 2]])
    np.testing.assert_array_equal(lines[1], [[4, 5], [8, 9]])


def test_polylines_keep_first_point():
    rows = formats.polylines_to_stroke3([[[5, 5], [6, 7]], [[0, 0]]], keep_first_point=True)
    np.testing.assert_array_equal(rows, [[5, 5, 0], [1, 2, 1], [-6, -7, 1]])


def test_bounding_box_and_bbox_scale(square_sketch):
    assert formats.bounding_box(square_sketch) == (0.0, 0.0, 10.0, 10.0)
    scaled = formats.bbox_scale(square_sketch, factor=10.0)
    np.testing.assert_allclose(scaled[:, :2], square_sketch[:, :2] * 1.0)  # 10 / 10 = 1
    line = np.array([[0, 5, 0], [0, 5, 1]], dtype=np.int16)  # zero width: no inf
    assert np.isfinite(formats.bbox_scale(line)).all()


def test_offset_scale_factor_dx_dy_only():
    sketches = [np.array([[3, -3, 1]]), np.array([[1, -1, 1]])]
    # dx, dy pooled: [3, -3, 1, -1] -> mean 0, std sqrt((9+9+1+1)/4) = sqrt(5)
    assert formats.offset_scale_factor(sketches) == pytest.approx(np.sqrt(5))
    with_pen = formats.offset_scale_factor(sketches, include_pen=True)
    assert with_pen == pytest.approx(np.std([3, -3, 1, 1, -1, 1]))
    normalized = formats.normalize_offsets(sketches[0], np.sqrt(5))
    np.testing.assert_allclose(normalized, [[3 / np.sqrt(5), -3 / np.sqrt(5), 1]], rtol=1e-6)


def test_clamp_truncate_filter(square_sketch):
    big = np.array([[2000, -5000, 0], [1, 1, 1]], dtype=np.int16)
    np.testing.assert_array_equal(formats.clamp_offsets(big), [[1000, -1000, 0], [1, 1, 1]])
    cut = formats.truncate_stroke3(square_sketch, 2)
    np.testing.assert_array_equal(cut, [[10, 0, 0], [0, 10, 1]])
    assert square_sketch[1, 2] == 0  # the input is untouched
    kept, index = formats.filter_by_length([square_sketch, square_sketch[:2], cut], max_len=3)
    assert index.tolist() == [1, 2] and len(kept) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((0, 3)), "empty"),
        (np.zeros((4, 2)), "shape"),
        (np.array([[1.0, np.nan, 0.0]]), "non-finite"),
        (np.array([[1.0, np.inf, 1.0]]), "non-finite"),
        (np.array([[1, 1, 2]]), "pen column"),
        (np.array([["a", "b", "c"]]), "dtype"),
        (np.array([np.zeros((2, 3)), np.zeros((3, 3))], dtype=object), "dtype"),
    ],
)
def test_bad_input_gets_clear_error(bad, message):
    with pytest.raises(SketchFormatError, match=message):
        formats.validate_stroke3(bad, where="cat.npz, train[3]")
    try:
        formats.validate_stroke3(bad, where="cat.npz, train[3]")
    except SketchFormatError as error:
        assert "cat.npz, train[3]" in str(error)


def test_single_point_polyline_needs_keep_first_point():
    with pytest.raises(SketchFormatError, match="single point"):
        formats.polylines_to_stroke3([[[1, 1]]])
