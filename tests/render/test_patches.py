"""Healing inputs: SP-gra2seq's centre rule, masking before cropping, the seeded mask table."""

from __future__ import annotations

import numpy as np
import pytest

from sketchssl.errors import SketchFileError, SketchFormatError
from sketchssl.render.patches import (
    PatchConfig,
    canvas_layout,
    load_mask_table,
    make_mask_table,
    make_patch_graph,
    patch_centres,
    render_patch_canvas,
    save_mask_table,
)

# Two strokes. Stroke 1: points 0..6 (rows 0-5, row 5 lifts the pen). Row 6 moves to point 7.
# Stroke 2: points 7..12 (rows 7-11). Points: x in [0, 64], y in [0, 30]; 640 / 64 = scale 10.
TWO_STROKES = np.array(
    [
        [10, 0, 0],  # row 0: point 0 (0, 0) -> point 1 (10, 0)      centre: point 0
        [10, 0, 0],  # row 1
        [10, 0, 0],  # row 2
        [10, 5, 0],  # row 3
        [10, 5, 0],  # row 4: starts at point 4 (40, 5)              centre: point 4
        [14, 0, 1],  # row 5: to point 6 (64, 10), pen lifts
        [-54, 10, 0],  # row 6: moves to point 7 (10, 20): skipped
        [4, 0, 0],  # row 7: starts at point 7 (10, 20)             centre: point 7
        [4, 0, 0],  # row 8
        [4, 5, 0],  # row 9
        [4, 5, 0],  # row 10
        [4, 0, 1],  # row 11: starts at point 11 (26, 30)           centre: point 11
    ],
    dtype=np.int16,
)


def test_centres_follow_the_first_point_then_every_fourth_rule():
    config = PatchConfig(patch_size=64)  # border = 96
    centres = patch_centres(TWO_STROKES, config)
    offset = 17 + 96  # margin (line width 16 + 1) + border
    expected_points = [(0, 0), (40, 5), (10, 20), (26, 30)]
    expected = [[x * 10 + offset, y * 10 + offset] for x, y in expected_points]
    assert centres.tolist() == expected
    layout = canvas_layout(TWO_STROKES, config)
    assert layout.canvas_side == 640 + 2 * 17 and layout.padded_side == 674 + 192
    assert layout.points[:, 0].max() == pytest.approx(640 + offset)  # larger side = 640 px


def test_at_most_max_patches_slots_and_an_edge_window_still_uses_its_slot():
    long_stroke = np.tile(np.array([[3, 1, 0]], dtype=np.int16), (100, 1))
    long_stroke[-1, 2] = 1
    centres = patch_centres(long_stroke, PatchConfig(patch_size=64))
    assert len(centres) == 20  # rows 0, 4, ..., 76; the walk stops at the 21st candidate
    steps = np.diff(centres[:, 0])  # 4 points of 3 px at scale 640 / 300: 25.6 px, rounded
    assert set(steps.tolist()) == {25, 26} and centres[0, 0] == 17 + 96
    # no border: the window of the first centre, at the canvas corner (17, 17), leaves it
    no_border = PatchConfig(patch_size=64, border=0)
    graph = make_patch_graph(TWO_STROKES, no_border, mask_prob=1.0, uniforms=np.zeros(20))
    assert graph.num_slots == 4
    assert graph.valid.tolist()[:4] == [False, True, True, True]
    assert not graph.valid[4:].any() and graph.masked.tolist()[:4] == [False, True, True, True]
    assert np.all(graph.nodes[1] == -1.0)  # the empty slot stays background


def overlapping_sketch() -> np.ndarray:
    """A zig-zag: its 64-px windows (centres every 4 points) overlap heavily."""
    rows = [[8, 24 if index % 2 else -24, 0] for index in range(40)]
    rows[-1][2] = 1
    return np.array(rows, dtype=np.int16)


def test_masked_canvas_pixels_never_appear_in_any_cropped_patch():
    config = PatchConfig(patch_size=128)
    sketch = overlapping_sketch()
    centres = patch_centres(sketch, config)
    target = 3  # mask this slot only
    uniforms = np.ones(20)
    uniforms[target] = 0.0
    clean = make_patch_graph(sketch, config)
    masked = make_patch_graph(sketch, config, mask_prob=0.3, uniforms=uniforms)
    assert masked.masked.nonzero()[0].tolist() == [target]
    half = config.patch_size // 2
    cx, cy = centres[target]
    leaked_checks = 0
    for slot, (x, y) in enumerate(centres):
        if slot == target or not masked.valid[slot]:
            continue
        # patch pixel (r, c) sits at canvas (y - half + r, x - half + c)
        rows = np.arange(y - half, y + half)[:, None]
        cols = np.arange(x - half, x + half)[None, :]
        inside = (np.abs(rows - cy + 0.5) < half) & (np.abs(cols - cx + 0.5) < half)
        if not inside.any():
            continue
        patch = masked.nodes[1 + slot]
        assert np.all(patch[inside] == -1.0), f"slot {slot} shows masked pixels"
        # ... which are ink in the unmasked crop, so the check above can fail
        leaked_checks += int((clean.nodes[1 + slot][inside] > -1.0).any())
        assert np.array_equal(patch[~inside], clean.nodes[1 + slot][~inside])
    assert leaked_checks >= 2  # several neighbours overlap the masked square
    assert np.all(masked.nodes[1 + target] == -1.0)  # the masked patch itself is blank
    assert masked.nodes[0].sum() < clean.nodes[0].sum()  # node 0 is the masked canvas


def test_nodes_are_in_unit_range_and_node_zero_is_the_resized_canvas():
    config = PatchConfig(patch_size=64)
    graph = make_patch_graph(TWO_STROKES, config, with_original=True)
    assert graph.nodes.shape == (21, 64, 64) and graph.nodes.dtype == np.float32
    assert graph.nodes.min() == -1.0 and graph.nodes.max() == pytest.approx(1.0)
    assert np.array_equal(graph.original, graph.nodes[0])  # nothing masked
    canvas = render_patch_canvas(TWO_STROKES, config)
    assert canvas.shape == (866, 866) and canvas.dtype == np.uint8
    assert canvas[:96].max() == 0 and canvas[:, -96:].max() == 0  # the border is black
    x, y = patch_centres(TWO_STROKES, config)[1]
    assert canvas[y, x] == 255  # a centre lies on a stroke
    assert graph.nodes[2][32, 32] == pytest.approx(1.0)  # ... at the middle of its patch


def test_mask_table_is_deterministic_nested_and_round_trips(tmp_path):
    table = make_mask_table(30, 20, seed=5)
    assert table.shape == (30, 20) and np.array_equal(table, make_mask_table(30, 20, seed=5))
    assert not np.array_equal(table, make_mask_table(30, 20, seed=6))
    path = save_mask_table(tmp_path / "masks" / "test_seed.npy", table)
    assert np.array_equal(load_mask_table(path), table)
    assert [p.name for p in path.parent.iterdir()] == ["test_seed.npy"]  # no temp file left
    config = PatchConfig(patch_size=64)
    sketch = overlapping_sketch()
    first = make_patch_graph(sketch, config, mask_prob=0.3, uniforms=table[7])
    again = make_patch_graph(sketch, config, mask_prob=0.3, uniforms=load_mask_table(path)[7])
    assert np.array_equal(first.nodes, again.nodes) and np.array_equal(first.masked, again.masked)
    lighter = make_patch_graph(sketch, config, mask_prob=0.1, uniforms=table[7])
    assert np.all(first.masked[lighter.masked])  # masked at 0.1 => masked at 0.3
    assert np.array_equal(first.masked[: first.num_slots], table[7, : first.num_slots] < 0.3)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert np.array_equal(
        make_patch_graph(sketch, config, mask_prob=0.5, rng=rng_a).nodes,
        make_patch_graph(sketch, config, mask_prob=0.5, rng=rng_b).nodes,
    )


def test_bad_inputs_are_refused_with_a_reason(tmp_path):
    with pytest.raises(SketchFormatError, match="uniforms"):
        make_patch_graph(TWO_STROKES, PatchConfig(patch_size=64), mask_prob=0.3)
    with pytest.raises(SketchFormatError, match="max_centres"):
        make_patch_graph(
            TWO_STROKES, PatchConfig(patch_size=64), mask_prob=0.3, uniforms=np.zeros(2)
        )
    with pytest.raises(SketchFormatError, match="even"):
        PatchConfig(patch_size=63)
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"not a numpy file")
    with pytest.raises(SketchFileError, match="broken.npy"):
        load_mask_table(broken)
    np.save(tmp_path / "flat.npy", np.zeros(5))
    with pytest.raises(SketchFileError, match="2-D"):
        load_mask_table(tmp_path / "flat.npy")
