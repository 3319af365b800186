"""benchmarks/fill_ceiling.py: its oracle fills put the erased runs back where they were."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from test_fill import SQUARE, corrupted_square  # this folder is on the path (no package)

from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_polylines

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fill_ceiling.py"


def load_script():
    spec = importlib.util.spec_from_file_location("fill_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the square with its top erased, as erased_runs cuts it: bottom and right, top, left
RUNS = [(SQUARE[:8], False), (SQUARE[8:13], True), (SQUARE[13:], False)]


def test_exact_fills_in_order_appended_and_by_gaps():
    fills = load_script().oracle_fills(RUNS, moves=[0.0], rng=np.random.default_rng(0))
    lines = {name: stroke3_to_polylines(sketch) for name, sketch in fills.items()}
    in_order = lines["exact fill, original order"]
    assert [len(line) for line in in_order] == [8, 5, 4]
    np.testing.assert_allclose(np.concatenate(in_order), SQUARE, atol=1e-4)
    # appended: the two kept runs first, then the top
    appended = lines["exact fill, appended"]
    np.testing.assert_allclose(appended[2], SQUARE[8:13], atol=1e-4)
    # the top cut the square in two kept runs: the gaps put it back between them
    np.testing.assert_allclose(np.concatenate(lines["exact fill, by gaps"]), SQUARE, atol=1e-4)
    # a move of 0 leaves the fill where it was
    moved = lines["fill moved by 0 of the extent, original order"]
    np.testing.assert_allclose(np.concatenate(moved), SQUARE, atol=1e-4)


def test_a_healers_fill_placed_where_the_erased_run_was():
    # the healer draws the square the other way round; its top comes back right to left
    drawn = polylines_to_stroke3([SQUARE[::-1]])
    placed = load_script().placed_by_truth(RUNS, corrupted_square(), drawn, radius=0.05)
    lines = stroke3_to_polylines(placed)
    assert len(lines) == 3
    np.testing.assert_allclose(lines[1][[0, -1]], [[100.0, 80.0], [0.0, 80.0]], atol=1.0)
    assert lines[1][:, 1].max() > 99.0
    # nothing erased: nothing to place
    whole = [(SQUARE, False)]
    assert load_script().placed_by_truth(whole, polylines_to_stroke3([SQUARE]), drawn, 0.05) is None
