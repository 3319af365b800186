"""Patch-masked inputs: the sequence corruption removes exactly the points under masked squares;
the patch view and its dataset read the mask table by position."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.data.formats import stroke3_to_absolute, stroke3_to_polylines
from sketchssl.errors import SketchFormatError
from sketchssl.render.patch_view import (
    PatchViewDataset,
    corrupt_sequence,
    erased_runs,
    masked_slots,
    patch_view,
)
from sketchssl.render.patches import (
    PatchConfig,
    canvas_layout,
    layout_on,
    make_mask_table,
    make_patch_graph,
)
from sketchssl.render.views import SketchDataset

# 40 rows of (10, 0): 41 points 400 units apart -> 1.6 px per unit, 16 px per point on the
# 640-px canvas. Slots at points 0, 4, 8, ...; a 64-px square spans 32 px = 2 points each side.
LINE = np.tile(np.array([[10, 0, 0]], dtype=np.int16), (40, 1))
LINE[-1, 2] = 1
CONFIG = PatchConfig(patch_size=64)


def uniforms_masking(*slots: int) -> np.ndarray:
    row = np.ones(20)
    row[list(slots)] = 0.0
    return row


def test_nothing_masked_leaves_the_sketch_unchanged():
    out = corrupt_sequence(LINE, make_mask_table(1)[0], 0.0, CONFIG)
    np.testing.assert_array_equal(out, LINE.astype(np.float32))


def test_masking_the_first_slot_deletes_the_first_two_points():
    out = corrupt_sequence(LINE, uniforms_masking(0), 0.5, CONFIG)
    # points 0 and 1 are within [c - 32, c + 32) of point 0; points 2 .. 40 stay (38 offsets)
    assert out.shape == (38, 3)
    np.testing.assert_array_equal(out[:, :2], np.tile([10.0, 0.0], (38, 1)))
    assert out[:, 2].tolist() == [0.0] * 37 + [1.0]


def test_a_masked_middle_slot_splits_the_stroke():
    out = corrupt_sequence(LINE, uniforms_masking(2), 0.5, CONFIG)  # slot 2 = point 8
    strokes = stroke3_to_polylines(out)
    # points 6 .. 9 are deleted: strokes 0 .. 5 and 10 .. 40, in sketch units
    assert [len(s) for s in strokes] == [6, 31]
    assert strokes[1][0, 0] - strokes[0][-1, 0] == pytest.approx(50.0)


def test_deleted_points_are_exactly_those_under_masked_squares():
    rng = np.random.default_rng(3)
    sketch = np.column_stack([rng.integers(-20, 21, (60, 2)), rng.random(60) < 0.1])
    sketch[-1, 2] = 1
    uniforms = rng.random(20)
    centres, masked = masked_slots(sketch, uniforms, 0.5, CONFIG)
    assert 0 < masked.sum() < len(masked)
    placed = canvas_layout(sketch, CONFIG).points[:, :2]  # (61, 2) canvas pixels
    under = np.zeros(len(placed), dtype=bool)
    for x, y in centres[masked]:
        under |= (
            (placed[:, 0] >= x - 32)
            & (placed[:, 0] < x + 32)
            & (placed[:, 1] >= y - 32)
            & (placed[:, 1] < y + 32)
        )
    assert 0 < under.sum() < len(under) - 2
    expected = stroke3_to_absolute(sketch)[~under, :2]  # kept points, in order, sketch units
    kept = corrupt_sequence(sketch, uniforms, 0.5, CONFIG)
    got = stroke3_to_absolute(kept, start=expected[0])[:, :2]
    np.testing.assert_allclose(got, expected)
    # the runs put back together are the sketch, and the erased ones are what was under
    runs = erased_runs(sketch, uniforms, 0.5, CONFIG)
    np.testing.assert_allclose(
        np.concatenate([points for points, _ in runs]), stroke3_to_absolute(sketch)[:, :2]
    )
    np.testing.assert_array_equal(
        np.concatenate([np.full(len(points), erased) for points, erased in runs]), under
    )


def test_erased_runs_of_a_masked_middle_slot():
    runs = erased_runs(LINE, uniforms_masking(2), 0.5, CONFIG)  # points 6 .. 9 under the square
    shape = [(len(points), erased) for points, erased in runs]
    assert shape == [(6, False), (4, True), (31, False)]
    np.testing.assert_allclose(runs[1][0][:, 0], [60.0, 70.0, 80.0, 90.0])


def test_with_start_says_where_the_kept_drawing_begins():
    # slot 0 masked: points 0 and 1 go, so the kept drawing begins at point 2, (20, 0)
    kept, start = corrupt_sequence(LINE, uniforms_masking(0), 0.5, CONFIG, with_start=True)
    np.testing.assert_allclose(start, [20.0, 0.0])
    assert kept.shape == (38, 3)
    # nothing masked: the sketch itself, from its own origin
    whole, start = corrupt_sequence(LINE, uniforms_masking(0), 0.0, CONFIG, with_start=True)
    np.testing.assert_array_equal(whole, LINE.astype(np.float32))
    np.testing.assert_allclose(start, [0.0, 0.0])


def test_a_sketch_on_its_own_canvas_is_its_own_graph():
    layout = layout_on(LINE, LINE, (0.0, 0.0), CONFIG)
    np.testing.assert_allclose(layout.points, canvas_layout(LINE, CONFIG).points)
    uniforms = uniforms_masking(3)
    own = make_patch_graph(LINE, CONFIG, mask_prob=0.5, uniforms=uniforms)
    placed = make_patch_graph(LINE, CONFIG, mask_prob=0.5, uniforms=uniforms, canvas_of=LINE)
    np.testing.assert_array_equal(placed.nodes, own.nodes)
    np.testing.assert_array_equal(placed.centres, own.centres)


def test_the_kept_drawing_lands_where_it_lay_on_the_originals_canvas():
    rng = np.random.default_rng(7)
    sketch = np.column_stack([rng.integers(-20, 21, (60, 2)), rng.random(60) < 0.1])
    sketch[-1, 2] = 1
    uniforms = rng.random(20)
    kept, start = corrupt_sequence(sketch, uniforms, 0.5, CONFIG, with_start=True)
    assert len(kept) < len(sketch)  # something was erased
    # every kept point falls on the original's placed point with the same absolute position
    original = canvas_layout(sketch, CONFIG)
    absolute = stroke3_to_absolute(sketch)[:, :2]
    placed = layout_on(sketch, kept, start, CONFIG).points[:, :2]
    kept_points = stroke3_to_absolute(kept, start=start)[:, :2]
    for point, kept_absolute in zip(placed, kept_points, strict=True):
        match = np.flatnonzero(np.all(np.isclose(absolute, kept_absolute), axis=1))
        assert len(match) > 0
        np.testing.assert_allclose(point, original.points[match[0], :2])
    # so its canvas has no ink the original's lacks, and the same slots
    graph = make_patch_graph(kept, CONFIG, canvas_of=sketch, start=start)
    full = make_patch_graph(sketch, CONFIG)
    np.testing.assert_array_equal(graph.centres, full.centres)
    lit = graph.nodes[0] > -0.5
    assert lit.any() and (full.nodes[0][lit] > -0.9).all()
    assert lit.sum() < (full.nodes[0] > -0.5).sum()


def test_patch_view_tensors_follow_the_graph():
    uniforms = uniforms_masking(1)
    view = patch_view(LINE, CONFIG, mask_prob=0.5, uniforms=uniforms)
    graph = make_patch_graph(LINE, CONFIG, mask_prob=0.5, uniforms=uniforms, with_original=True)
    assert view["patches"].shape == (21, 64, 64)
    torch.testing.assert_close(view["patches"], torch.from_numpy(graph.nodes))
    assert view["patch_masked"].tolist() == graph.masked.tolist() and bool(view["patch_masked"][1])
    assert view["patch_original"].shape == (64, 64)


def test_patch_dataset_reads_its_row_of_the_table(tmp_path):
    store = tmp_path / "doodles.store"
    build_store(["doodles:2"], store, workers=1, progress=False)
    base = SketchDataset(store, split="train", normalization="none")
    table = make_mask_table(len(base), 20, seed=5)
    dataset = PatchViewDataset(base, mask_prob=0.5, mask_table=table, config=CONFIG)
    item = dataset[3]
    sketch = base.prepare(base.store[int(item["index"])])
    expected = make_patch_graph(sketch, CONFIG, mask_prob=0.5, uniforms=table[3])
    torch.testing.assert_close(item["patches"], torch.from_numpy(expected.nodes))
    assert "strokes5" in item
    with pytest.raises(SketchFormatError, match="mask table"):
        PatchViewDataset(base, 0.5, table[:2], CONFIG)


def test_docstring_examples():
    import doctest

    import sketchssl.render.patch_view as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
