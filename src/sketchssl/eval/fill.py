"""Keep what is left, fill what is gone: a healer's drawing merged into its corrupted input.

The seed healers (SketchHealer, Su et al. AAAI 2020; SP-gra2seq, Zang et al. AAAI 2023;
SketchGloc, IJCAI 2024; Lmser-pix2seq, CVIU 2024) redraw the *whole* sketch from its code and
are judged on that redrawing. A redrawing is a new drawing of the shape: every stroke the user
kept comes back moved, and the code-decode-encode round trip loses the drawing's identity
(RESULTS.md, "Healing on the built-in doodles": healed Ret@1 is close to the corrupted input's
Ret@1 times the clean reconstructions' Ret@1).

Filling keeps the corrupted input's strokes exactly and adds, from the healer's drawing, only
what lies away from them, which is what the erasure removed:

1. Both drawings become absolute polylines, resampled every ``spacing * extent`` (coarser for
   a drawing longer than ``MAX_POINTS`` steps) so that long straight segments are tested along
   their length.
2. **Alignment.** The healer's drawing starts at its own origin, the corrupted input at its
   first kept point, so the two frames differ by a translation. It is found by iterative
   closest points (translation only, on both drawings resampled three times coarser), started
   from several guesses (no shift, the bounding-box
   centres, the two corners) and kept where the mean distance from the kept points to the
   healer's drawing is least.
3. **Fill.** A resampled point of the healer's drawing is *new* when no kept point lies within
   ``radius * extent``; each run of at least ``min_run`` consecutive new points of one stroke
   becomes a stroke of the fill, simplified back (Ramer-Douglas-Peucker at ``spacing *
   extent``). ``extent`` is the larger side of the healer's bounding box.
4. **Order.** The result is stroke-3, so its strokes need an order, and a sequence encoder
   reads it (RESULTS.md, "Where a kept fill's strokes go": the original's erased points put
   back in its order are retrieved 84-98 % of the time by sketch-rnn's encoder, appended after
   the kept strokes 38-45 %, no better than the erased input). With ``order="gaps"`` (the
   default) the input's strokes keep their order and each fill stroke goes into the gap it
   closes (after the kept stroke whose end is nearest its start, or before the one whose start
   is nearest its end; reversed when it was drawn the other way), which is where the erased
   points were in the original drawing. ``"drawn"`` orders every stroke as the healer's drawing
   passes it (a kept stroke at the drawing's point nearest its first point, a fill stroke at its
   start; the default before ``gaps``, and below it on Ret at every radius measured);
   ``"kept_first"`` appends the fill after the input's strokes.
5. **Join** (``join > 0``): a fill stroke that starts where the stroke before it ends (within
   ``join * radius * extent``) is drawn on from it with the pen down, and so is a stroke that
   starts where a fill stroke ends, so the strokes the erasure cut come back whole for an
   encoder that reads strokes (SketchGloc's grid graphs; :func:`join_cut_strokes`).

The healer's drawing is, by default, its redrawing of the whole sketch from its code. It can
instead be its decoder's continuations of the kept strokes (``source="continue"``,
:mod:`sketchssl.eval.continuation`), drawn in the input's own frame: step 2 is then skipped
(``fill_erased(..., drawn_start=...)``) and ``extent`` is that of the input and the
continuations together.

Nothing here sees the original or the mask: the fill is a post-process of what the healer was
given and what it drew, so it can heal a user's drawing in the web demo as well as a test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_polylines
from sketchssl.data.simplify import rdp, resample_polyline
from sketchssl.errors import ConfigError
from sketchssl.eval.continuation import ContinueConfig

__all__ = [
    "FILL_ORDERS",
    "FILL_SOURCES",
    "FillConfig",
    "align_translation",
    "fill_all",
    "fill_erased",
    "join_cut_strokes",
    "order_into_gaps",
]

FILL_ORDERS = ("gaps", "drawn", "kept_first")
FILL_SOURCES = ("redraw", "continue")
MAX_POINTS = 2000  # resampled points of the healer's drawing, at most


@dataclass(frozen=True)
class FillConfig:
    """How a healer's drawing fills the corrupted input.

    Attributes:
        radius: a point of the healer's drawing within ``radius * extent`` of a kept point is
            already drawn; farther, it fills a gap. Chosen on the valid split (RESULTS.md).
        spacing: resampling step of the healer's drawing, as a share of ``extent``.
        min_run: fewest consecutive new points that make a fill stroke (shorter runs are specks).
        iterations: closest-point steps of the alignment from each starting guess.
        order: ``"gaps"`` keeps the input's stroke order and puts each fill stroke in the gap it
            closes (:func:`order_into_gaps`), where the erased points were; ``"drawn"`` puts
            every stroke where the healer's drawing passes it (a kept stroke at the drawing's
            point nearest its first point, a fill stroke at its start); ``"kept_first"`` keeps
            the input's strokes first and appends the fill. The judge's Rec is the same for
            all three up to rounding (it sees a picture); a sequence encoder's Ret is not.
        join: a fill stroke that starts within ``join * radius * extent`` of the end of the
            stroke before it in the result goes on from it with the pen down, and a stroke
            that starts that near a fill stroke's end goes on from it (two kept strokes are
            never joined): the erasure cut those strokes, and an encoder that reads strokes
            sees them whole again. 0 (the default) joins nothing; chosen on the valid split.
        source: what the fill is taken from: ``"redraw"`` (the default), the healer's drawing
            of the whole sketch from its code, aligned over the input; ``"continue"``, the
            healer's decoder led through the kept points and drawing on where a stroke was cut
            (:mod:`sketchssl.eval.continuation`), already in the input's frame.
        continuation: the settings of ``source="continue"``.
    """

    radius: float = 0.1
    spacing: float = 0.01
    min_run: int = 3
    iterations: int = 15
    order: str = "gaps"
    join: float = 0.0
    source: str = "redraw"
    continuation: ContinueConfig = field(default_factory=ContinueConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.radius < 1.0:
            raise ConfigError(f"fill radius {self.radius} must be in (0, 1): a share of the extent")
        if not 0.0 < self.spacing <= self.radius:
            raise ConfigError(
                f"fill spacing {self.spacing} must be in (0, radius = {self.radius}]: a coarser "
                "step could jump over a gap"
            )
        if self.min_run < 2:
            raise ConfigError(f"fill min_run {self.min_run} must be >= 2 (a stroke needs 2 points)")
        if self.iterations < 1:
            raise ConfigError(f"fill iterations {self.iterations} must be >= 1")
        if self.order not in FILL_ORDERS:
            raise ConfigError(f"fill order {self.order!r}: choose one of {', '.join(FILL_ORDERS)}")
        if self.join < 0:
            raise ConfigError(f"fill join {self.join} must be >= 0 (0 joins nothing)")
        if self.source not in FILL_SOURCES:
            raise ConfigError(
                f"fill source {self.source!r}: choose one of {', '.join(FILL_SOURCES)}"
            )


def _nearest(queries: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance ``(Q,)`` from each query to its nearest point, and that point's index ``(Q,)``."""
    distances = np.empty(len(queries))
    indices = np.empty(len(queries), dtype=np.int64)
    chunk = max(1, 2**20 // max(1, len(points)))  # about a million pairs at a time
    for first in range(0, len(queries), chunk):
        block = queries[first : first + chunk]
        squared = ((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)  # (q, P)
        nearest = squared.argmin(axis=1)
        distances[first : first + chunk] = np.sqrt(squared[np.arange(len(block)), nearest])
        indices[first : first + chunk] = nearest
    return distances, indices


def align_translation(
    kept: np.ndarray, drawn: np.ndarray, iterations: int = 15
) -> tuple[np.ndarray, float]:
    """The shift ``t`` that lays ``drawn + t`` over ``kept``, and its mean residual distance.

    Iterative closest points, translation only: each step moves ``drawn`` by the mean offset
    from each kept point's nearest drawn point to the kept point. Several starting shifts are
    tried (none, bounding-box centres, minimum corners, maximum corners); the best end wins.

    Args:
        kept: ``(K, 2)`` points that must be matched (the corrupted input's).
        drawn: ``(D, 2)`` points to move (the healer's, densely resampled).
        iterations: steps from each start.

    Examples:
        >>> square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
        >>> shift, residual = align_translation(square[:3] + 5.0, square)
        >>> np.round(shift, 6).tolist(), round(residual, 6)
        ([5.0, 5.0], 0.0)
    """
    kept = np.asarray(kept, dtype=np.float64)
    drawn = np.asarray(drawn, dtype=np.float64)
    if len(kept) == 0 or len(drawn) == 0:
        return np.zeros(2), float("inf")
    starts = [
        np.zeros(2),
        (kept.min(0) + kept.max(0)) / 2 - (drawn.min(0) + drawn.max(0)) / 2,
        kept.min(0) - drawn.min(0),
        kept.max(0) - drawn.max(0),
    ]
    best_shift, best_residual = np.zeros(2), float("inf")
    for start in starts:
        shift = start.copy()
        for _ in range(iterations):
            _, nearest = _nearest(kept, drawn + shift)
            step = (kept - (drawn[nearest] + shift)).mean(axis=0)
            shift = shift + step
            if float(np.abs(step).max()) < 1e-9:
                break
        residual = float(_nearest(kept, drawn + shift)[0].mean())
        if residual < best_residual - 1e-12:
            best_shift, best_residual = shift, residual
    return best_shift, best_residual


def order_into_gaps(
    kept_lines: Sequence[np.ndarray], fill: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """The kept strokes in their order, each fill stroke inserted in the gap it closes.

    Deleting points splits a drawing's strokes where the erasure cut them, so the corrupted
    input's strokes, in order, have a gap wherever points went: gap ``j`` lies between the end
    of kept stroke ``j - 1`` and the start of kept stroke ``j`` (gap 0 before the first, gap
    ``K`` after the last). A fill stroke costs ``min(|end(j - 1) - head|, |tail - start(j)|)``
    in gap ``j`` (the one distance there is in the two end gaps): an erased run touches the kept
    strokes at one end at least where it cut a stroke (at both where it cut one in two, at
    neither where a whole stroke went), and the nearer contact is the surer. It goes, in the
    direction that costs less, into the cheapest gap; fill strokes sharing a gap keep the
    healer's order (RESULTS.md, "Where a kept fill's strokes go").

    Args:
        kept_lines: ``K >= 1`` polylines ``(n, 2)`` of the corrupted input, in drawing order.
        fill: polylines ``(m, 2)`` of the fill, in the healer's order, in the same frame.

    Returns:
        All the polylines in their new order (fill strokes possibly reversed).

    Examples:
        >>> left, right = np.array([[0.0, 0], [1, 0]]), np.array([[3.0, 0], [4, 0]])
        >>> bridge = np.array([[3.0, 0], [2, 0], [1, 0]])  # drawn right to left
        >>> [line[0, 0].item() for line in order_into_gaps([left, right], [bridge])]
        [0.0, 1.0, 3.0]
    """
    count = len(kept_lines)
    ends = np.array([line[-1] for line in kept_lines], dtype=np.float64)  # (K, 2)
    starts = np.array([line[0] for line in kept_lines], dtype=np.float64)  # (K, 2)
    gaps: list[list[np.ndarray]] = [[] for _ in range(count + 1)]
    for stroke in fill:
        best_cost, best_gap, best_stroke = np.inf, count, stroke
        for candidate in (stroke, stroke[::-1]):
            from_end = np.hypot(*(ends - candidate[0]).T)  # (K,) kept end j -> head: gap j + 1
            to_start = np.hypot(*(starts - candidate[-1]).T)  # (K,) tail -> kept start j: gap j
            cost = np.empty(count + 1)
            cost[0] = to_start[0]
            cost[count] = from_end[-1]
            cost[1:count] = np.minimum(from_end[:-1], to_start[1:])
            gap = int(cost.argmin())
            if cost[gap] < best_cost:
                best_cost, best_gap, best_stroke = float(cost[gap]), gap, candidate
        gaps[best_gap].append(best_stroke)
    ordered = list(gaps[0])
    for line, after in zip(kept_lines, gaps[1:], strict=True):
        ordered.append(line)
        ordered.extend(after)
    return ordered


def join_cut_strokes(
    strokes: Sequence[np.ndarray], is_kept: Sequence[bool], within: float
) -> list[np.ndarray]:
    """Consecutive strokes merged where one ends within ``within`` of where the next starts.

    A pair of kept strokes stays apart (the input's own pen lifts are kept); a pair with a fill
    stroke in it becomes one stroke, drawn on with the pen down across the small gap.

    Examples:
        >>> kept, fill = np.array([[0.0, 0], [1, 0]]), np.array([[1.5, 0], [3, 0]])
        >>> [len(line) for line in join_cut_strokes([kept, fill], [True, False], 1.0)]
        [4]
    """
    if not strokes:
        return []
    merged, merged_kept = [np.asarray(strokes[0])], [bool(is_kept[0])]
    for stroke, kept in zip(strokes[1:], is_kept[1:], strict=True):
        near = float(np.hypot(*(merged[-1][-1] - stroke[0]))) <= within
        if near and not (kept and merged_kept[-1]):
            merged[-1] = np.concatenate([merged[-1], stroke])
            merged_kept[-1] = False
        else:
            merged.append(np.asarray(stroke))
            merged_kept.append(bool(kept))
    return merged


def _dense(lines: Sequence[np.ndarray], spacing: float) -> list[np.ndarray]:
    """Each polyline resampled every ``spacing`` (its vertices' path, ends kept)."""
    return [resample_polyline(line, spacing) if len(line) > 1 else line for line in lines]


def fill_erased(
    corrupted: np.ndarray,
    drawn: np.ndarray,
    config: FillConfig | None = None,
    *,
    with_start: bool = False,
    drawn_start: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The corrupted input's strokes plus the parts of the healer's drawing away from them.

    Args:
        corrupted: ``(N, 3)`` stroke-3, what the healer was given (its own origin).
        drawn: ``(M, 3)`` stroke-3, the healer's drawing, same units.
        config: fill settings.
        with_start: also return where the result's first point lies in the corrupted input's
            frame (its origin), ``(2,)``: the result may start with another stroke.
        drawn_start: where the healer's drawing starts in the corrupted input's frame, when it
            was drawn there (:mod:`sketchssl.eval.continuation`): no alignment is searched.

    Returns:
        float32 stroke-3: the corrupted input's strokes unchanged (shifted only so that the first
        stroke starts at the origin), and the fill strokes, in ``config.order``.
        With nothing kept (no two distinct points) the healer's drawing comes back as it is; with
        nothing new, the corrupted input does.
    """
    sketch, start = _fill(
        np.asarray(corrupted, dtype=np.float64),
        np.asarray(drawn, dtype=np.float64),
        config or FillConfig(),
        drawn_start,
    )
    sketch = sketch.astype(np.float32)
    return (sketch, start) if with_start else sketch


def _fill(
    corrupted: np.ndarray,
    drawn: np.ndarray,
    config: FillConfig,
    drawn_start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fill_erased`'s work: the stroke-3 result and its first point's place ``(2,)``."""
    origin = np.zeros(2)
    kept_lines = [line for line in stroke3_to_polylines(corrupted) if len(line) > 0]
    kept_points = np.concatenate(kept_lines) if kept_lines else np.zeros((0, 2))
    drawn_lines = [line for line in stroke3_to_polylines(drawn) if len(line) > 0]
    nothing_kept = len(kept_points) < 2 or not np.ptp(kept_points, axis=0).any()
    if nothing_kept or not any(len(line) > 1 for line in drawn_lines):
        return (drawn if nothing_kept else corrupted), origin
    all_drawn = np.concatenate(drawn_lines)
    if drawn_start is not None:  # continuations alone are short: measure the whole drawing
        all_drawn = np.concatenate([all_drawn + drawn_start, kept_points])
    extent = float((all_drawn.max(0) - all_drawn.min(0)).max())
    if extent <= 0:
        return corrupted, origin
    # a scribble can be many extents long: at most MAX_POINTS resampled points a drawing
    length = sum(float(np.hypot(*np.diff(line, axis=0).T).sum()) for line in drawn_lines)
    spacing = max(config.spacing * extent, length / MAX_POINTS)
    dense_lines = _dense(drawn_lines, spacing)
    kept_dense = np.concatenate(_dense(kept_lines, spacing))
    # the alignment needs the shapes, not every resampled point: a coarser step is 9x cheaper
    coarse = 3 * spacing
    if drawn_start is not None:
        shift = np.asarray(drawn_start, dtype=np.float64)
    else:
        shift, _ = align_translation(
            np.concatenate(_dense(kept_lines, coarse)),
            np.concatenate(_dense(drawn_lines, coarse)),
            config.iterations,
        )
    fill: list[np.ndarray] = []
    fill_keys: list[int] = []  # index of each fill stroke's first point along the drawing
    first = 0
    for line in dense_lines:
        line = line + shift
        distance, _ = _nearest(line, kept_dense)
        new = distance > config.radius * extent  # (n,)
        breaks = np.flatnonzero(np.diff(new.astype(np.int8)) != 0) + 1
        starts = np.concatenate([[0], breaks])
        pieces = zip(np.split(line, breaks), np.split(new, breaks), starts, strict=True)
        for piece, piece_new, start in pieces:
            if piece_new[0] and len(piece) >= config.min_run:
                fill.append(rdp(piece, spacing))  # back to the data's density
                fill_keys.append(first + int(start))
        first += len(line)
    if not fill:
        return corrupted, origin
    if config.order == "gaps":
        strokes = order_into_gaps(kept_lines, fill)
    elif config.order == "kept_first":
        strokes = [*kept_lines, *fill]
    else:
        drawn_dense = np.concatenate(dense_lines) + shift
        kept_keys = [int(_nearest(line[:1], drawn_dense)[1][0]) for line in kept_lines]
        everything = [*kept_lines, *fill]
        order = np.argsort([*kept_keys, *fill_keys], kind="stable")
        strokes = [everything[position] for position in order]
    if config.join > 0:
        kept_ids = {id(line) for line in kept_lines}
        is_kept = [id(stroke) in kept_ids for stroke in strokes]
        strokes = join_cut_strokes(strokes, is_kept, config.join * config.radius * extent)
    # stroke-3 keeps no first point: the first stroke's start becomes the origin
    return polylines_to_stroke3(strokes), np.asarray(strokes[0][0], dtype=np.float64)


def fill_all(
    corrupted: Sequence[np.ndarray], drawn: Sequence[np.ndarray], config: FillConfig | None = None
) -> list[np.ndarray]:
    """:func:`fill_erased` of each pair, in order."""
    if len(corrupted) != len(drawn):
        raise ConfigError(f"fill needs one drawing per input: {len(corrupted)} and {len(drawn)}")
    pairs = zip(corrupted, drawn, strict=True)
    return [np.asarray(fill_erased(kept, new, config)) for kept, new in pairs]
