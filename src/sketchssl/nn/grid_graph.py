"""SketchGloc's spatial multi-graph: strokes, their bounding boxes and nine grid graphs.

- [0] Wang, Li, Zang, Tu, Xu, "Self-Supervised Learning for Enhancing Spatial Awareness in
  Free-Hand Sketch" (SketchGloc), IJCAI 2024; reference code CMACH508/SketchGloc
  (``utils.py``: ``DataLoader.get_relgrid``, ``get_box``, the stroke split of
  ``_get_batch_from_indices``; ``model.py``: the multi-graph GCN of ``build_sketchBoard``).

**Strokes.** A sketch is cut into strokes at its pen-ups (stroke-3 ``p = 1``, stroke-5 ``p2``). A
stroke longer than ``max_stroke_len`` points is cut into consecutive pieces of at most that many
points, and only a sketch's first ``max_strokes`` pieces are kept. The reference code takes both
limits as the 99.9th percentiles of the data; its chunks hold ``max_stroke_len + 1`` points of
which the encoder reads the first ``max_stroke_len`` (the last point of a chunk only enters its
bounding box). Here a piece holds at most ``max_stroke_len`` points and every point is read.

**Grid relations.** For the ordered pair ``(i, j)``, the plane is cut into a 3 x 3 grid by stroke
``i``'s bounding box: column ``0`` is ``x < min_x``, ``1`` is ``min_x <= x <= max_x`` (edges
count as inside), ``2`` is ``x > max_x``; rows likewise in ``y``. Stroke ``j``'s bounding box has
its lower corner in cell ``(c0, r0)`` and its upper corner in ``(c1, r1)``; its outline passes
through the cells on the border of the block ``[c0, c1] x [r0, r1]`` (the four corners and the
cells its edges span), and those cells are marked. A box that encloses ``i``'s therefore marks the
eight outer cells but not the centre. Cell ``(c, r)`` is graph ``k = 3 c + r`` (the reference's
``box[i, j, c, r]`` reshaped to 9), and ``A_k[i, j] = 1`` when cell ``k`` is marked: row ``i``
of graph ``k`` gathers the strokes seen in that cell of ``i``'s grid. A stroke sees itself in the
centre cell only (graph 4). Coordinates are the sketch's own (``y`` grows downward on screen for
QuickDraw, so row 0 is *above* the box when drawn).

**GCN.** One weight pair per graph, dense adjacency without normalisation (the reference's
normalisation line is commented out):

    ``H0_k = A_k E``,  ``H2_k = ReLU(ReLU(H0_k W1_k) W2_k)``,
    ``out = (sum_k H0_k + sum_k H2_k) / 2``

with ``W`` initialised ``N(0, 2 / D)`` (the reference's ``kaiming_init`` for ReLU) and no bias,
so padded stroke slots (zero rows and columns of every ``A_k``) stay exactly zero.

Everything is vectorised over the batch: no Python loop per sketch or per stroke.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GRID_GRAPHS",
    "StrokePieces",
    "GridGraphConvolution",
    "grid_cell",
    "stroke5_positions",
    "stroke3_positions",
    "stroke_starts",
    "stroke_ids",
    "split_strokes",
    "row_pieces",
    "bounding_boxes",
    "to_slots",
    "grid_relations",
]

#: the number of grid graphs: one per cell of the 3 x 3 grid around a stroke's box.
GRID_GRAPHS = 9


def grid_cell(column: int, row: int) -> int:
    """Graph index ``3 * column + row`` of a grid cell (``column`` from ``x``, ``row`` from ``y``).

    Examples:
        >>> grid_cell(1, 1)  # inside the box: the self-loop graph
        4
    """
    if not (0 <= column <= 2 and 0 <= row <= 2):
        raise ValueError(f"grid cells run 0..2 in each direction, got ({column}, {row})")
    return 3 * column + row


class StrokePieces(NamedTuple):
    """The strokes of a batch of sketches, packed into one tensor for a single RNN call.

    Attributes:
        points: ``(N, L, 2)`` absolute ``(x, y)`` of each piece's points, zero after its length.
        lengths: ``(N,)`` points of each piece, at least 1.
        sketch: ``(N,)`` the batch row each piece comes from (pieces are in batch order).
        slot: ``(N,)`` the piece's position among its sketch's pieces (``0 .. counts - 1``).
        counts: ``(B,)`` pieces kept per sketch.
    """

    points: Tensor
    lengths: Tensor
    sketch: Tensor
    slot: Tensor
    counts: Tensor

    @property
    def num_sketches(self) -> int:
        """``B``."""
        return self.counts.shape[0]

    @property
    def max_count(self) -> int:
        """The most pieces any sketch of the batch has (at least 1)."""
        return max(1, int(self.counts.max())) if self.counts.numel() else 1


def stroke5_positions(
    strokes5: Tensor, mask: Tensor, start_token: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Absolute positions, pen-ups and real rows of a stroke-5 batch (without the start token).

    Args:
        strokes5: ``(B, T, 5)`` offsets ``(dx, dy, p1, p2, p3)``.
        mask: ``(B, T)`` True on real rows (and the start token when there is one).
        start_token: the first row is sketch-rnn's ``S0`` and is dropped.

    Returns:
        ``positions (B, T', 2)`` (the running sum of the offsets, zero on padding),
        ``pen_up (B, T')`` (``p2 = 1``: the stroke ends at this point) and ``valid (B, T')``
        (real points: in the mask and not ``p3``), with ``T' = T - 1`` when ``start_token``.
    """
    if start_token:
        strokes5, mask = strokes5[:, 1:], mask[:, 1:]
    valid = mask.bool() & (strokes5[..., 4] < 0.5)  # (B, T')
    offsets = strokes5[..., :2] * valid[..., None]
    positions = torch.cumsum(offsets, dim=1) * valid[..., None]  # (B, T', 2)
    return positions, strokes5[..., 3] > 0.5, valid


def stroke3_positions(strokes3: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Absolute positions, pen-ups and real rows of a padded stroke-3 batch.

    Args:
        strokes3: ``(B, T, 3)`` offsets ``(dx, dy, p)``, ``p = 1`` where the pen lifts.
        lengths: ``(B,)`` real points per sketch.

    Returns:
        ``positions (B, T, 2)``, ``pen_up (B, T)`` and ``valid (B, T)``, as
        :func:`stroke5_positions`.
    """
    steps = strokes3.shape[1]
    valid = (
        torch.arange(steps, device=strokes3.device)[None, :] < lengths.to(strokes3.device)[:, None]
    )  # (B, T)
    positions = torch.cumsum(strokes3[..., :2] * valid[..., None], dim=1) * valid[..., None]
    return positions, (strokes3[..., 2] > 0.5) & valid, valid


def stroke_starts(pen_up: Tensor, valid: Tensor) -> Tensor:
    """``(B, T)`` True on the first point of each stroke: row 0 and every row after a pen-up.

    Real rows must be a prefix of each row of ``valid`` (as padded batches are).
    """
    after_pen_up = F.pad(pen_up[:, :-1], (1, 0), value=True)  # (B, T)
    return valid & after_pen_up


def stroke_ids(pen_up: Tensor, valid: Tensor) -> Tensor:
    """``(B, T)`` long: the pen-up-delimited stroke each real row belongs to, -1 on padding.

    Examples:
        >>> pen_up = torch.tensor([[False, True, False, True, True]])
        >>> stroke_ids(pen_up, torch.tensor([[True, True, True, True, False]])).tolist()
        [[0, 0, 1, 1, -1]]
    """
    starts = stroke_starts(pen_up, valid)
    ids = torch.cumsum(starts.long(), dim=1) - 1
    return torch.where(valid, ids, torch.full_like(ids, -1))


def split_strokes(
    positions: Tensor,
    pen_up: Tensor,
    valid: Tensor,
    max_stroke_len: int | None = None,
    max_strokes: int | None = None,
) -> StrokePieces:
    """Cut every sketch of a batch into its strokes (pieces), packed for one RNN call.

    Args:
        positions: ``(B, T, 2)`` absolute point positions.
        pen_up: ``(B, T)`` True where a stroke ends (the pen lifts after that point).
        valid: ``(B, T)`` True on real points, a prefix of each row.
        max_stroke_len: longer strokes are cut into pieces of at most this many points.
        max_strokes: only the first this many pieces of a sketch are kept.

    Returns:
        The pieces, in batch order and drawing order within each sketch.
    """
    batch, steps = valid.shape
    device = positions.device
    if max_stroke_len is not None and max_stroke_len < 1:
        raise ValueError(f"max_stroke_len must be at least 1, got {max_stroke_len}")
    if max_strokes is not None and max_strokes < 1:
        raise ValueError(f"max_strokes must be at least 1, got {max_strokes}")
    valid = valid.bool()
    inside, piece_starts, piece, keep = _pieces_of_rows(pen_up, valid, max_stroke_len, max_strokes)
    counts = (piece_starts & keep).sum(dim=1)  # (B,)
    first_piece = torch.cumsum(counts, dim=0) - counts  # (B,) global id of each sketch's piece 0
    total = int(counts.sum())
    longest = int(inside[keep].max()) + 1 if total else 1
    global_piece = (first_piece[:, None] + piece)[keep]  # (P,) over the kept rows
    points = positions.new_zeros(total, longest, 2)
    points[global_piece, inside[keep]] = positions[keep]
    lengths = torch.bincount(global_piece, minlength=total)  # (N,)
    sketch = torch.repeat_interleave(torch.arange(batch, device=device), counts)  # (N,)
    slot = torch.arange(total, device=device) - first_piece[sketch]
    return StrokePieces(points, lengths, sketch, slot, counts)


def _pieces_of_rows(
    pen_up: Tensor, valid: Tensor, max_stroke_len: int | None, max_strokes: int | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per row ``(B, T)``: position in its piece, piece start, piece index, kept.

    The piece index counts within the sketch; a row is kept unless padding or in a piece past
    ``max_strokes`` (:func:`split_strokes`).
    """
    batch, steps = valid.shape
    time = torch.arange(steps, device=valid.device).expand(batch, steps)  # (B, T)
    starts = stroke_starts(pen_up.bool(), valid)
    # position of each row within its stroke: distance to the last stroke start at or before it
    last_start = torch.cummax(torch.where(starts, time, torch.zeros_like(time)), dim=1).values
    inside = time - last_start  # (B, T)
    if max_stroke_len is not None:
        piece_starts = valid & (inside % max_stroke_len == 0)
        inside = inside % max_stroke_len
    else:
        piece_starts = starts
    piece = torch.cumsum(piece_starts.long(), dim=1) - 1  # (B, T) piece of each row
    keep = valid if max_strokes is None else valid & (piece < max_strokes)
    return inside, piece_starts, piece, keep


def row_pieces(
    pen_up: Tensor,
    valid: Tensor,
    max_stroke_len: int | None = None,
    max_strokes: int | None = None,
) -> Tensor:
    """``(B, T)`` long: the piece each row belongs to, as a global piece index.

    The index points into :func:`split_strokes`' pieces (same arguments); -1 on padding and on
    rows of dropped pieces.
    """
    valid = valid.bool()
    _, piece_starts, piece, keep = _pieces_of_rows(pen_up, valid, max_stroke_len, max_strokes)
    counts = (piece_starts & keep).sum(dim=1)  # (B,)
    first_piece = torch.cumsum(counts, dim=0) - counts  # (B,)
    return torch.where(keep, first_piece[:, None] + piece, torch.full_like(piece, -1))


def bounding_boxes(pieces: StrokePieces) -> Tensor:
    """``(N, 4)`` box ``(min_x, min_y, max_x, max_y)`` of each piece's points."""
    steps = pieces.points.shape[1]
    real = torch.arange(steps, device=pieces.points.device)[None, :] < pieces.lengths[:, None]
    real = real[..., None]  # (N, L, 1)
    infinity = torch.finfo(pieces.points.dtype).max
    low = torch.where(real, pieces.points, torch.full_like(pieces.points, infinity)).amin(dim=1)
    high = torch.where(real, pieces.points, torch.full_like(pieces.points, -infinity)).amax(dim=1)
    return torch.cat([low, high], dim=1)


def to_slots(
    values: Tensor, pieces: StrokePieces, slots: int | None = None
) -> tuple[Tensor, Tensor]:
    """Scatter per-piece rows ``(N, ...)`` into per-sketch slots ``(B, S, ...)`` (zeros elsewhere).

    Args:
        values: ``(N, ...)`` one row per piece.
        pieces: the pieces the rows belong to.
        slots: ``S``; None uses the most pieces of any sketch in the batch.

    Returns:
        ``(B, S, ...)`` and the slot mask ``(B, S)`` (True where a piece sits).
    """
    slots = pieces.max_count if slots is None else slots
    out = values.new_zeros(pieces.num_sketches, slots, *values.shape[1:])
    out[pieces.sketch, pieces.slot] = values
    occupied = torch.zeros(pieces.num_sketches, slots, dtype=torch.bool, device=values.device)
    occupied[pieces.sketch, pieces.slot] = True
    return out, occupied


def _band(value: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """0 where ``value < low``, 1 where ``low <= value <= high``, 2 where ``value > high``."""
    return (value >= low).long() + (value > high).long()


def grid_relations(boxes: Tensor, occupied: Tensor) -> Tensor:
    """The nine grid graphs of every sketch: ``(B, 9, S, S)`` float adjacency.

    ``A[b, k, i, j] = 1`` when stroke ``j``'s bounding-box outline passes through cell ``k`` of
    the grid around stroke ``i``'s box (module docstring); 0 for empty slots.

    Args:
        boxes: ``(B, S, 4)`` boxes ``(min_x, min_y, max_x, max_y)`` per slot.
        occupied: ``(B, S)`` True where a stroke sits.

    Examples:
        >>> boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [2.0, 0.5, 3.0, 0.8]]])
        >>> graphs = grid_relations(boxes, torch.ones(1, 2, dtype=torch.bool))
        >>> torch.nonzero(graphs[0, :, 0, 1]).flatten().tolist()  # right of box 0, inside in y
        [7]
    """
    own = boxes[:, :, None, :]  # (B, S, 1, 4): stroke i, whose grid it is
    other = boxes[:, None, :, :]  # (B, 1, S, 4): stroke j, whose outline is traced
    column_low = _band(other[..., 0], own[..., 0], own[..., 2])  # (B, S, S)
    column_high = _band(other[..., 2], own[..., 0], own[..., 2])
    row_low = _band(other[..., 1], own[..., 1], own[..., 3])
    row_high = _band(other[..., 3], own[..., 1], own[..., 3])
    cells = torch.arange(3, device=boxes.device)
    column = cells.view(1, 1, 1, 3, 1)  # (1, 1, 1, 3, 1): c
    row = cells.view(1, 1, 1, 1, 3)  # r

    def expand(bands: Tensor) -> Tensor:
        return bands[..., None, None]  # (B, S, S, 1, 1)

    c0, c1, r0, r1 = map(expand, (column_low, column_high, row_low, row_high))
    in_block = (column >= c0) & (column <= c1) & (row >= r0) & (row <= r1)
    on_border = (column == c0) | (column == c1) | (row == r0) | (row == r1)
    marked = (in_block & on_border).flatten(3)  # (B, S, S, 9), k = 3 c + r
    pairs = occupied[:, :, None] & occupied[:, None, :]  # (B, S, S)
    marked = marked & pairs[..., None]
    return marked.permute(0, 3, 1, 2).to(boxes.dtype)  # (B, 9, S, S)


class GridGraphConvolution(nn.Module):
    """SketchGloc's multi-graph GCN: one two-layer ReLU transform per grid graph.

    ``out = (sum_k A_k E + sum_k ReLU(ReLU(A_k E W1_k) W2_k)) / 2`` (module docstring).

    Args:
        features: ``D``, the width of the stroke embeddings (kept through the layers).
        num_graphs: ``K`` adjacency matrices (9 grid cells).

    Examples:
        >>> gcn = GridGraphConvolution(8)
        >>> gcn(torch.randn(2, 5, 8), torch.ones(2, 9, 5, 5)).shape
        torch.Size([2, 5, 8])
    """

    def __init__(self, features: int, num_graphs: int = GRID_GRAPHS) -> None:
        super().__init__()
        if features < 1 or num_graphs < 1:
            raise ValueError(f"features and num_graphs must be positive: {features}, {num_graphs}")
        std = math.sqrt(2.0 / features)  # the reference's kaiming_init(..., 'relu')
        self.weight1 = nn.Parameter(torch.randn(num_graphs, features, features) * std)
        self.weight2 = nn.Parameter(torch.randn(num_graphs, features, features) * std)

    def forward(self, features: Tensor, adjacency: Tensor) -> Tensor:
        """Propagate.

        Args:
            features: ``(B, S, D)`` stroke embeddings (zero rows for empty slots).
            adjacency: ``(B, K, S, S)`` graphs.

        Returns:
            ``(B, S, D)``.
        """
        if adjacency.shape[1] != self.weight1.shape[0]:
            raise ValueError(
                f"adjacency holds {adjacency.shape[1]} graphs, the layer has weights for "
                f"{self.weight1.shape[0]}"
            )
        gathered = torch.einsum("bkij,bjd->bkid", adjacency, features)  # (B, K, S, D): H0_k
        hidden = torch.relu(torch.einsum("bkid,kde->bkie", gathered, self.weight1))
        transformed = torch.relu(torch.einsum("bkid,kde->bkie", hidden, self.weight2))  # H2_k
        return (gathered.sum(dim=1) + transformed.sum(dim=1)) / 2.0
