"""Filling a corrupted input from a healer's drawing: hand-made squares whose gaps we know."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import sketchssl.eval.fill as fill_module
from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_polylines
from sketchssl.errors import ConfigError
from sketchssl.eval.fill import (
    FillConfig,
    align_translation,
    fill_all,
    fill_erased,
    join_cut_strokes,
    order_into_gaps,
)

# A 100 x 100 square drawn as one closed stroke, its corners every 25 units along each side.
SIDE = np.linspace(0.0, 100.0, 5)
SQUARE = np.concatenate(
    [
        np.stack([SIDE, np.zeros(5)], 1),
        np.stack([np.full(4, 100.0), SIDE[1:]], 1),
        np.stack([SIDE[::-1][1:], np.full(4, 100.0)], 1),
        np.stack([np.zeros(4), SIDE[::-1][1:]], 1),
    ]
)  # (17, 2): (0,0) -> (100,0) -> (100,100) -> (0,100) -> (0,0)


def corrupted_square() -> np.ndarray:
    """The square with its top side (y = 100) erased: bottom, right up to y = 75, left from 75."""
    kept = [SQUARE[:8], SQUARE[13:]]  # (0,0)..(100,75) and (0,75)..(0,0)
    return polylines_to_stroke3(kept)  # (0, 0) is the implicit origin


def absolute_points(sketch: np.ndarray) -> np.ndarray:
    return np.concatenate(stroke3_to_polylines(sketch))


def test_alignment_finds_a_known_shift_from_a_partial_copy():
    shift, residual = align_translation(SQUARE[:9] + [13.0, -40.0], SQUARE)
    np.testing.assert_allclose(shift, [13.0, -40.0], atol=1e-6)
    assert residual == pytest.approx(0.0, abs=1e-6)


def test_the_erased_side_is_filled_and_the_kept_strokes_stay_exactly():
    corrupted = corrupted_square()
    # the healer starts its square at the top-right corner: its origin is (100, 100) there
    drawn = polylines_to_stroke3([np.roll(SQUARE[:-1], -8, axis=0)[list(range(16)) + [0]]])
    result = fill_erased(corrupted, drawn, FillConfig(radius=0.05, order="kept_first"))
    lines = stroke3_to_polylines(result)
    kept = stroke3_to_polylines(corrupted)
    # kept strokes first, unchanged (the first stroke's start is the origin in both)
    for before, after in zip(kept, lines[: len(kept)], strict=True):
        np.testing.assert_allclose(after, before, atol=1e-4)
    fill = np.concatenate(lines[len(kept) :])
    # the fill is what was erased, in the corrupted input's frame: the top side and the two
    # sides' ends above y = 75 + 5 (closer than the radius, 5, to a kept point they are drawn)
    assert fill[:, 1].min() == pytest.approx(80.0, abs=1.0)
    assert fill[:, 1].max() == pytest.approx(100.0, abs=1.0)
    assert fill[:, 0].min() == pytest.approx(0.0, abs=1.0)
    assert fill[:, 0].max() == pytest.approx(100.0, abs=1.0)
    # and nothing is drawn twice: no fill point within 5 of a kept point
    kept_points = np.concatenate(kept)
    gaps = np.sqrt(((fill[:, None] - kept_points[None]) ** 2).sum(-1)).min(1)
    assert gaps.min() > 5.0 - 1.0


def test_drawn_order_puts_the_fill_where_the_healer_draws_it():
    corrupted = corrupted_square()
    drawn = polylines_to_stroke3([SQUARE])
    config = FillConfig(radius=0.05, order="drawn")
    lines = stroke3_to_polylines(fill_erased(corrupted, drawn, config))
    # the square is drawn bottom, right, top, left: the fill comes between the two kept runs
    assert len(lines) == 3
    assert lines[1][:, 1].min() == pytest.approx(80.0, abs=1.0)
    np.testing.assert_allclose(lines[1][[0, -1]], [[100.0, 80.0], [0.0, 80.0]], atol=1.0)
    np.testing.assert_allclose(lines[2][-1], [0.0, 0.0], atol=1e-4)
    # the result starts with the right side's kept run, at (0, 0) of the corrupted input
    _, start = fill_erased(corrupted, drawn, config, with_start=True)
    np.testing.assert_allclose(start, [0.0, 0.0])
    # a healer that starts at the top-right corner draws the erased top first: the result
    # starts there, at (100, 100) of the corrupted input's frame, and says so
    rolled = polylines_to_stroke3([np.roll(SQUARE[:-1], -8, axis=0)[list(range(16)) + [0]]])
    result, start = fill_erased(corrupted, rolled, config, with_start=True)
    np.testing.assert_allclose(start, [100.0, 100.0], atol=1.0)
    placed = np.concatenate(stroke3_to_polylines(result, start=start))
    for point in np.concatenate(stroke3_to_polylines(corrupted)):  # every kept point, in place
        assert np.sqrt(((placed - point) ** 2).sum(1)).min() < 1e-3


def test_gaps_order_puts_the_fill_where_the_points_were_erased():
    corrupted = corrupted_square()
    # the healer draws the square the other way round (counter-clockwise from the top-left
    # corner): the top side's fill is drawn from x = 0 to 100, against the input's direction
    backwards = np.roll(SQUARE[:-1][::-1], -3, axis=0)  # from (0, 100)
    drawn = polylines_to_stroke3([np.concatenate([backwards, backwards[:1]])])
    config = FillConfig(radius=0.05, order="gaps")
    lines = stroke3_to_polylines(fill_erased(corrupted, drawn, config))
    kept = stroke3_to_polylines(corrupted)
    # the healer's drawing starts and ends on the erased top, so its fill comes in two pieces:
    # kept run, the erased top (right to left, as the original went) in two, kept run
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0], kept[0], atol=1e-4)
    np.testing.assert_allclose(lines[1][[0, -1]], [[100.0, 80.0], [0.0, 100.0]], atol=1.0)
    np.testing.assert_allclose(lines[2][[0, -1]], [[0.0, 100.0], [0.0, 80.0]], atol=1.0)
    np.testing.assert_allclose(lines[3], kept[1], atol=1e-4)
    # every order draws the same points in the input's frame: only the sequence differs
    for order in ("drawn", "kept_first"):
        config = FillConfig(0.05, order=order)
        other = stroke3_to_polylines(*fill_erased(corrupted, drawn, config, with_start=True))
        assert sorted(map(tuple, np.round(np.concatenate(other), 3))) == sorted(
            map(tuple, np.round(np.concatenate(lines), 3))
        )


def test_gaps_before_between_and_after_the_kept_strokes():
    # a line along x from 0 to 10, erased on [0, 2], [4, 6] and [8, 10]: two kept runs
    kept = [np.array([[2.0, 0.0], [4.0, 0.0]]), np.array([[6.0, 0.0], [8.0, 0.0]])]
    first, middle, last = (np.array([[a, 0.0], [b, 0.0]]) for a, b in ((0, 2), (4, 6), (8, 10)))
    # handed over scrambled and reversed, they come back in the line's order and direction
    ordered = order_into_gaps(kept, [last[::-1], middle[::-1], first])
    expected = [first, kept[0], middle, kept[1], last]
    assert len(ordered) == len(expected)
    for got, want in zip(ordered, expected, strict=True):
        np.testing.assert_allclose(got, want)
    # no fill: the kept strokes as they were
    assert all(a is b for a, b in zip(order_into_gaps(kept, []), kept, strict=True))


def test_join_draws_the_cut_square_as_one_stroke_again():
    corrupted = corrupted_square()
    backwards = np.roll(SQUARE[:-1][::-1], -3, axis=0)
    drawn = polylines_to_stroke3([np.concatenate([backwards, backwards[:1]])])
    # the cuts are 5 apart (the radius, 0.05 of 100): 1.5 radii joins all; 0.5 only the
    # fill's two pieces, which meet where the healer's drawing started
    joined = stroke3_to_polylines(fill_erased(corrupted, drawn, FillConfig(0.05, join=1.5)))
    assert len(joined) == 1
    np.testing.assert_allclose(joined[0][[0, -1]], [[0.0, 0.0], [0.0, 0.0]], atol=1e-4)
    apart = stroke3_to_polylines(fill_erased(corrupted, drawn, FillConfig(0.05, join=0.5)))
    assert len(apart) == 3
    # the same points either way: joining adds no point, only puts the pen down
    np.testing.assert_allclose(np.concatenate(joined), np.concatenate(apart), atol=1e-4)


def test_join_keeps_the_inputs_own_pen_lifts():
    first, second = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.2, 0.0], [2.0, 0.0]])
    fill = np.array([[2.1, 0.0], [3.0, 0.0]])
    lines = join_cut_strokes([first, second, fill], [True, True, False], within=0.5)
    # two kept strokes 0.2 apart stay two; the fill 0.1 after the second goes on from it
    assert [len(line) for line in lines] == [2, 4]
    assert join_cut_strokes([], [], 1.0) == []


def test_nothing_new_or_nothing_kept():
    corrupted = corrupted_square()
    # the healer drew only what is already there: the corrupted input comes back
    np.testing.assert_allclose(fill_erased(corrupted, corrupted), corrupted, atol=1e-5)
    # everything erased: the healer's drawing is the result
    empty = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)
    whole = polylines_to_stroke3([SQUARE])
    np.testing.assert_allclose(fill_erased(empty, whole), whole, atol=1e-5)


def test_specks_shorter_than_min_run_are_dropped():
    corrupted = corrupted_square()
    speck = polylines_to_stroke3([SQUARE, [[50.0, 50.0], [50.5, 50.0]]])
    lines = stroke3_to_polylines(fill_erased(corrupted, speck, FillConfig(order="kept_first")))
    assert all(np.abs(line - 50.0).max() > 1.0 for line in lines)


def test_fill_all_pairs_and_bad_settings():
    corrupted = corrupted_square()
    drawn = polylines_to_stroke3([SQUARE])
    assert len(fill_all([corrupted, corrupted], [drawn, drawn])) == 2
    with pytest.raises(ConfigError, match="one drawing per input"):
        fill_all([corrupted], [drawn, drawn])
    for bad in (
        {"radius": 0.0},
        {"radius": 0.05, "spacing": 0.1},
        {"min_run": 1},
        {"iterations": 0},
        {"order": "random"},
        {"join": -1.0},
    ):
        with pytest.raises(ConfigError, match="fill"):
            FillConfig(**bad)


def test_docstring_examples():
    result = doctest.testmod(fill_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
