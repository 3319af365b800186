"""SketchGloc's grid graphs: hand-computed layouts, the reference's marking loop, stroke splitting
on a hand-made sketch, and the multi-graph GCN against a per-graph loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.data.formats import stroke3_to_stroke5
from sketchssl.nn.grid_graph import (
    GRID_GRAPHS,
    GridGraphConvolution,
    bounding_boxes,
    grid_cell,
    grid_relations,
    split_strokes,
    stroke3_positions,
    stroke5_positions,
    stroke_ids,
    to_slots,
)


def linked(graphs: torch.Tensor, i: int, j: int) -> list[int]:
    """The graphs ``k`` with ``A_k[i, j] = 1`` for a ``(9, S, S)`` stack."""
    return torch.nonzero(graphs[:, i, j]).flatten().tolist()


def relations(*boxes) -> torch.Tensor:
    """``(9, S, S)`` graphs of one sketch whose strokes have these boxes."""
    stacked = torch.tensor([boxes], dtype=torch.float32)  # (1, S, 4)
    return grid_relations(stacked, torch.ones(1, len(boxes), dtype=torch.bool))[0]


def test_cell_numbering_is_column_major_as_the_reference_reshape():
    # box[i, j, column, row] reshaped to 9: k = 3 * column + row
    assert [grid_cell(c, r) for c in range(3) for r in range(3)] == list(range(9))
    with pytest.raises(ValueError):
        grid_cell(3, 0)


def test_two_boxes_to_the_side_link_through_the_cells_they_cross_both_ways():
    # stroke 0: x in [0, 1], y in [0, 1]; stroke 1: x in [2, 3], y in [-1, 0.5]
    graphs = relations([0.0, 0.0, 1.0, 1.0], [2.0, -1.0, 3.0, 0.5])
    # in stroke 0's grid, stroke 1 lies right of it (column 2) and spans rows 0 (y < 0) and 1:
    # cells (2, 0) and (2, 1), graphs 6 and 7
    assert linked(graphs, 0, 1) == [6, 7]
    # in stroke 1's grid, stroke 0 lies left (column 0), from row 1 (0 in [-1, 0.5]) to row 2
    # (1 > 0.5): cells (0, 1) and (0, 2), graphs 1 and 2
    assert linked(graphs, 1, 0) == [1, 2]
    # a stroke sees itself in its own centre cell only
    assert linked(graphs, 0, 0) == [4] and linked(graphs, 1, 1) == [4]


def test_an_enclosing_box_marks_the_outer_ring_and_never_the_centre():
    inner, outer = [1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 3.0, 3.0]
    graphs = relations(inner, outer)
    assert linked(graphs, 0, 1) == [0, 1, 2, 3, 5, 6, 7, 8]  # the outline goes around
    assert linked(graphs, 1, 0) == [4]  # the inner box lies inside the outer one's centre cell


def test_a_box_spanning_all_columns_in_one_row_marks_that_row():
    # stroke 1 crosses the full width of stroke 0, above it (y > max_y): row 2 of columns 0..2
    graphs = relations([0.0, 0.0, 1.0, 1.0], [-1.0, 2.0, 2.0, 3.0])
    assert linked(graphs, 0, 1) == [2, 5, 8]


def test_edges_count_as_inside():
    # stroke 1 touches stroke 0's right edge: x = 1 is inside, so column 1, then column 2
    graphs = relations([0.0, 0.0, 1.0, 1.0], [1.0, 0.2, 2.0, 0.8])
    assert linked(graphs, 0, 1) == [4, 7]


def reference_box(boxes: np.ndarray, count: int) -> np.ndarray:
    """The reference's ``get_box`` loop over (i, j), with its four slice assignments."""

    def relgrid(min_x, max_x, min_y, max_y, xt, yt):
        x = 0 if xt < min_x else (2 if xt > max_x else 1)
        y = 0 if yt < min_y else (2 if yt > max_y else 1)
        return x, y

    box = np.zeros([len(boxes), len(boxes), 3, 3])
    for i in range(count):
        min_x, min_y, max_x, max_y = boxes[i]
        for j in range(count):
            min_x2, min_y2, max_x2, max_y2 = boxes[j]
            x_ld, y_ld = relgrid(min_x, max_x, min_y, max_y, min_x2, min_y2)
            x_rd, y_rd = relgrid(min_x, max_x, min_y, max_y, max_x2, min_y2)
            x_lu, y_lu = relgrid(min_x, max_x, min_y, max_y, min_x2, max_y2)
            x_ru, _ = relgrid(min_x, max_x, min_y, max_y, max_x2, max_y2)
            box[i, j, x_ld, y_ld : y_lu + 1] = 1
            box[i, j, x_ld : x_rd + 1, y_lu] = 1
            box[i, j, x_ru, y_ld : y_lu + 1] = 1
            box[i, j, x_ld : x_rd + 1, y_rd] = 1
    return box.reshape(len(boxes), len(boxes), 9).transpose(2, 0, 1)  # (9, S, S)


def test_random_layouts_match_the_reference_loop_and_empty_slots_stay_empty():
    rng = np.random.default_rng(0)
    slots, counts = 7, [7, 4, 1]
    boxes = np.zeros((len(counts), slots, 4), np.float32)
    for b in range(len(counts)):
        # integer corners on a small grid: many shared edges, the case the inclusive test hits
        corners = rng.integers(0, 5, size=(slots, 2, 2)).astype(np.float32)
        boxes[b] = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    occupied = torch.arange(slots)[None, :] < torch.tensor(counts)[:, None]
    graphs = grid_relations(torch.from_numpy(boxes), occupied)
    assert graphs.shape == (len(counts), GRID_GRAPHS, slots, slots)
    for b, count in enumerate(counts):
        np.testing.assert_array_equal(graphs[b].numpy(), reference_box(boxes[b], count))
        assert graphs[b][:, count:, :].sum() == 0 and graphs[b][:, :, count:].sum() == 0


# A hand-made stroke-3 sketch: three strokes (pen lifts after rows 1, 4 and 5).
SKETCH = np.array(
    [[1, 0, 0], [1, 0, 1], [0, 2, 0], [1, 1, 0], [0, 1, 1], [3, 0, 1]], dtype=np.float32
)
# its absolute points: (1, 0) (2, 0) | (2, 2) (3, 3) (3, 4) | (6, 4)


def test_stroke_splitting_on_a_hand_made_sketch_stroke3_and_stroke5_agree():
    positions, pen_up, valid = stroke3_positions(torch.from_numpy(SKETCH)[None], torch.tensor([6]))
    big = torch.from_numpy(stroke3_to_stroke5(SKETCH, 9, start_token=True))[None]  # (1, 10, 5)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, :7] = True
    big[0, 8:, :2] = 99.0  # garbage on padding rows is never read
    positions5, pen_up5, valid5 = stroke5_positions(big, mask)
    assert torch.equal(positions5[0, :6], positions[0]) and valid5.sum() == 6
    assert torch.equal(pen_up5[0, :6], pen_up[0])
    assert stroke_ids(pen_up, valid).tolist() == [[0, 0, 1, 1, 1, 2]]

    pieces = split_strokes(positions5, pen_up5, valid5)
    assert pieces.counts.tolist() == [3] and pieces.lengths.tolist() == [2, 3, 1]
    assert pieces.points[0, :2].tolist() == [[1, 0], [2, 0]]
    assert pieces.points[1].tolist() == [[2, 2], [3, 3], [3, 4]]
    assert pieces.points[2].tolist() == [[6, 4], [0, 0], [0, 0]]
    assert bounding_boxes(pieces).tolist() == [[1, 0, 2, 0], [2, 2, 3, 4], [6, 4, 6, 4]]

    # pieces of at most 2 points: the middle stroke becomes (2, 2) (3, 3) and (3, 4)
    chunked = split_strokes(positions, pen_up, valid, max_stroke_len=2)
    assert chunked.lengths.tolist() == [2, 2, 1, 1]
    assert chunked.points[2, 0].tolist() == [3, 4] and chunked.points[3, 0].tolist() == [6, 4]
    # only the first 2 pieces kept
    truncated = split_strokes(positions, pen_up, valid, max_stroke_len=2, max_strokes=2)
    assert truncated.counts.tolist() == [2] and truncated.lengths.tolist() == [2, 2]


def test_a_batch_packs_all_strokes_in_batch_order_with_their_slots():
    second = np.array([[0, 5, 0], [5, 0, 0], [0, -5, 1]], dtype=np.float32)  # one stroke
    truncated_end = SKETCH.copy()
    truncated_end[-1, 2] = 0  # a sketch cut mid-stroke: its last stroke still ends
    rows = np.zeros((3, 6, 3), np.float32)
    rows[0], rows[1, :3], rows[2] = SKETCH, second, truncated_end
    rows[1, 3:] = 7.0  # padding garbage
    positions, pen_up, valid = stroke3_positions(torch.from_numpy(rows), torch.tensor([6, 3, 6]))
    pieces = split_strokes(positions, pen_up, valid)
    assert pieces.counts.tolist() == [3, 1, 3]
    assert pieces.sketch.tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert pieces.slot.tolist() == [0, 1, 2, 0, 0, 1, 2]
    assert pieces.points[3, :3].tolist() == [[0, 5], [5, 5], [5, 0]]
    boxes, occupied = to_slots(bounding_boxes(pieces), pieces)
    assert boxes.shape == (3, 3, 4) and occupied.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 1]]
    assert boxes[1, 0].tolist() == [0, 0, 5, 5] and boxes[1, 1:].abs().sum() == 0


def test_gcn_is_the_per_graph_formula_and_keeps_empty_slots_zero():
    torch.manual_seed(0)
    gcn = GridGraphConvolution(6)
    features = torch.randn(2, 4, 6)
    features[1, 3] = 0.0  # an empty slot
    adjacency = (torch.rand(2, 9, 4, 4) < 0.4).float()
    adjacency[1, :, 3, :] = 0.0
    adjacency[1, :, :, 3] = 0.0
    out = gcn(features, adjacency)
    expected = torch.zeros(2, 4, 6)
    for k in range(9):
        h0 = adjacency[:, k] @ features
        h2 = torch.relu(torch.relu(h0 @ gcn.weight1[k]) @ gcn.weight2[k])
        expected += (h0 + h2) / 2
    torch.testing.assert_close(out, expected)
    assert out[1, 3].abs().sum() == 0
    assert gcn.weight1.std().item() == pytest.approx((2 / 6) ** 0.5, rel=0.35)
