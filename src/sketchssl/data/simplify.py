"""Polyline simplification: Ramer-Douglas-Peucker and QuickDraw's "simplified" procedure.

* Ramer-Douglas-Peucker (Ramer 1972; Douglas & Peucker 1973): keep a polyline's end points,
  then recursively keep the point farthest from the chord between the kept points while that
  distance exceeds ``epsilon``. Written here with an explicit stack, so strokes of any length
  cannot hit Python's recursion limit, and a vectorised distance per chord.
* :func:`quickdraw_simplify` follows the preprocessing the quickdraw-dataset README documents for
  its ``simplified`` files (https://github.com/googlecreativelab/quickdraw-dataset): align the
  drawing so its minimum is ``(0, 0)``, scale it uniformly so its maximum coordinate is 255,
  resample every stroke with 1 pixel spacing, simplify every stroke with RDP at epsilon 2.0.

Numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sketchssl.errors import SketchFormatError

__all__ = [
    "rdp_mask",
    "rdp",
    "resample_polyline",
    "resample_polyline_labelled",
    "quickdraw_simplify",
    "quickdraw_simplify_labelled",
]

#: Coordinate range of QuickDraw's simplified drawings (a 256 x 256 box).
QUICKDRAW_SIZE = 255.0
#: RDP tolerance of QuickDraw's simplified drawings, in pixels of the 256 x 256 box.
QUICKDRAW_EPSILON = 2.0


def _distances_to_line(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Perpendicular distance of each of ``points`` (K, 2) to the line through ``start``, ``end``.

    This is the classic RDP measure (distance to the infinite line, not to the segment). It is
    the one that reproduces QuickDraw's simplified drawings: measuring to the segment instead
    keeps the tips of strokes that double back on themselves, which Google's files drop. When the
    two ends coincide (a closed stroke) the distance to that point is used.
    """
    chord = end - start  # (2,)
    length = float(np.hypot(chord[0], chord[1]))
    relative = points - start  # (K, 2)
    if length == 0.0:
        return np.hypot(relative[:, 0], relative[:, 1])
    return np.abs(chord[0] * relative[:, 1] - chord[1] * relative[:, 0]) / length


def rdp_mask(points: np.ndarray | Sequence[Sequence[float]], epsilon: float) -> np.ndarray:
    """Which points Ramer-Douglas-Peucker keeps.

    Args:
        points: ``(n, 2)`` polyline (any real dtype).
        epsilon: distance tolerance; a point is kept when it lies farther than ``epsilon`` from
            the line through the kept points around it. ``0`` keeps every point that is not
            exactly on its chord.

    Returns:
        bool ``(n,)`` mask; the first and last points are always kept.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise SketchFormatError(f"a polyline must have shape (n, 2), got {array.shape}")
    if epsilon < 0 or not np.isfinite(epsilon):
        raise SketchFormatError(f"epsilon must be a finite number >= 0, got {epsilon}")
    count = len(array)
    keep = np.zeros(count, dtype=bool)
    if count == 0:
        return keep
    keep[0] = keep[-1] = True
    stack = [(0, count - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        distances = _distances_to_line(array[first + 1 : last], array[first], array[last])
        farthest = int(np.argmax(distances))
        if distances[farthest] > epsilon:
            middle = first + 1 + farthest
            keep[middle] = True
            stack.append((middle, last))
            stack.append((first, middle))
    return keep


def rdp(points: np.ndarray | Sequence[Sequence[float]], epsilon: float) -> np.ndarray:
    """Simplify a polyline with Ramer-Douglas-Peucker; returns the kept ``(m, 2)`` points."""
    array = np.asarray(points)
    return array[rdp_mask(array, epsilon)]


def _resample_targets(array: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Arc length of each input point ``(n,)`` and of each output point ``(m,)``."""
    steps = np.hypot(*np.diff(array, axis=0).T)  # (n - 1,)
    arc = np.concatenate([[0.0], np.cumsum(steps)])  # (n,)
    total = float(arc[-1])
    targets = np.arange(0.0, total, spacing)
    if total - targets[-1] > 1e-9:
        targets = np.append(targets, total)
    else:
        targets[-1] = total
    return arc, targets


def resample_polyline(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points every ``spacing`` along a polyline's length, both end points included.

    Args:
        points: ``(n, 2)`` absolute points.
        spacing: arc length between consecutive output points (the last gap may be shorter).

    Returns:
        float64 ``(m, 2)``; a polyline of zero length collapses to its first point.
    """
    array = np.asarray(points, dtype=np.float64)
    if len(array) < 2:
        return array.copy()
    if not np.any(np.diff(array, axis=0)):
        return array[:1].copy()
    arc, targets = _resample_targets(array, spacing)
    x = np.interp(targets, arc, array[:, 0])
    y = np.interp(targets, arc, array[:, 1])
    return np.stack([x, y], axis=1)


def resample_polyline_labelled(
    points: np.ndarray, labels: np.ndarray, spacing: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resample_polyline` that carries a label per point along.

    A new point takes the label of the input point that starts the segment it lies on (the
    last point keeps its own), so a label changes where the input's labels change, never
    earlier.

    Args:
        points: ``(n, 2)`` absolute points.
        labels: ``(n,)`` integer label of each point.
        spacing: arc length between consecutive output points.

    Returns:
        ``(m, 2)`` float64 points and ``(m,)`` labels (the dtype of ``labels``).
    """
    array = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels)
    if len(labels) != len(array):
        raise SketchFormatError(f"{len(labels)} labels for {len(array)} points")
    if len(array) < 2:
        return array.copy(), labels.copy()
    if not np.any(np.diff(array, axis=0)):
        return array[:1].copy(), labels[:1].copy()
    arc, targets = _resample_targets(array, spacing)
    x = np.interp(targets, arc, array[:, 0])
    y = np.interp(targets, arc, array[:, 1])
    # the segment each target lies on: the last input point at or before it along the arc;
    # repeated points (zero-length segments) resolve to the last of them
    segment = np.searchsorted(arc, targets, side="right") - 1  # (m,)
    segment = np.clip(segment, 0, len(array) - 1)
    resampled_labels = labels[segment]
    resampled_labels[-1] = labels[-1]
    return np.stack([x, y], axis=1), resampled_labels


def quickdraw_simplify(
    raw_strokes: Sequence[Sequence[Sequence[float]]] | Sequence[np.ndarray],
    *,
    size: float = QUICKDRAW_SIZE,
    epsilon: float = QUICKDRAW_EPSILON,
    spacing: float = 1.0,
) -> list[np.ndarray]:
    """Turn a raw QuickDraw drawing into the "simplified" form Google publishes.

    Args:
        raw_strokes: one entry per stroke, either ``[xs, ys]`` / ``[xs, ys, ts]`` as in the raw
            ndjson files, or an ``(n, 2)`` array of points. Timestamps are ignored.
        size: the largest coordinate after scaling (255 in QuickDraw).
        epsilon: RDP tolerance after scaling (2.0 in QuickDraw).
        spacing: resampling step in pixels after scaling (1 in QuickDraw).

    Returns:
        One int64 ``(m, 2)`` array of points per stroke, coordinates in ``[0, size]``.

    Raises:
        SketchFormatError: no points, ragged coordinate lists or non-finite values.
    """
    strokes = [_stroke_points(stroke, index) for index, stroke in enumerate(raw_strokes)]
    simplified, _ = _simplify(strokes, None, size, epsilon, spacing)
    return simplified


def quickdraw_simplify_labelled(
    strokes: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    size: float = QUICKDRAW_SIZE,
    epsilon: float = QUICKDRAW_EPSILON,
    spacing: float = 1.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`quickdraw_simplify` for drawings whose points carry a label (SPG part labels).

    Resampling gives each new point the label of the segment it lies on
    (:func:`resample_polyline_labelled`); RDP keeps a subset of the points, with their labels.

    Args:
        strokes: ``(n_i, 2)`` points of each stroke.
        labels: ``(n_i,)`` integer labels of each stroke's points.
        size: the largest coordinate after scaling, as :func:`quickdraw_simplify`.
        epsilon: RDP tolerance after scaling.
        spacing: resampling step after scaling.

    Returns:
        int64 ``(m_i, 2)`` points and ``(m_i,)`` labels of each kept stroke (strokes without
        points are dropped from both lists).
    """
    points = [_stroke_points(stroke, index) for index, stroke in enumerate(strokes)]
    if len(labels) != len(points):
        raise SketchFormatError(f"{len(labels)} label lists for {len(points)} strokes")
    simplified, kept_labels = _simplify(
        points, [np.asarray(stroke_labels) for stroke_labels in labels], size, epsilon, spacing
    )
    assert kept_labels is not None
    return simplified, kept_labels


def _simplify(
    strokes: list[np.ndarray],
    labels: list[np.ndarray] | None,
    size: float,
    epsilon: float,
    spacing: float,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Align, scale, resample and RDP-simplify ``(n, 2)`` float strokes (labels carried along)."""
    if labels is not None:
        for index, (stroke, stroke_labels) in enumerate(zip(strokes, labels, strict=True)):
            if len(stroke_labels) != len(stroke):
                raise SketchFormatError(
                    f"stroke {index} has {len(stroke)} points but {len(stroke_labels)} labels"
                )
    keep = [index for index, stroke in enumerate(strokes) if len(stroke)]
    if not keep:
        raise SketchFormatError("empty drawing (no strokes with points)")
    strokes = [strokes[index] for index in keep]
    stacked = np.concatenate(strokes, axis=0)  # (P, 2)
    low = stacked.min(axis=0)
    extent = float((stacked - low).max())
    scale = size / extent if extent > 0 else 1.0
    simplified, simplified_labels = [], []
    for position, stroke in enumerate(strokes):
        scaled = (stroke - low) * scale
        if labels is None:
            resampled = resample_polyline(scaled, spacing)
        else:
            resampled, resampled_labels = resample_polyline_labelled(
                scaled, labels[keep[position]], spacing
            )
        mask = rdp_mask(resampled, epsilon)
        simplified.append(np.clip(np.rint(resampled[mask]), 0, size).astype(np.int64))
        if labels is not None:
            simplified_labels.append(resampled_labels[mask])
    return simplified, (simplified_labels if labels is not None else None)


def _stroke_points(stroke: object, index: int) -> np.ndarray:
    """One stroke as ``(n, 2)`` float64, from ``[xs, ys(, ts)]`` lists or an ``(n, 2)`` array."""
    if isinstance(stroke, np.ndarray) and stroke.ndim == 2 and stroke.shape[1] == 2:
        points = stroke.astype(np.float64)
    else:
        if not isinstance(stroke, (list, tuple, np.ndarray)) or len(stroke) not in (2, 3):
            raise SketchFormatError(f"stroke {index} must be [xs, ys] or [xs, ys, ts]")
        xs, ys = stroke[0], stroke[1]
        try:
            x_array = np.asarray(xs, dtype=np.float64)
            y_array = np.asarray(ys, dtype=np.float64)
        except (TypeError, ValueError):
            raise SketchFormatError(f"stroke {index} holds something other than numbers") from None
        if x_array.ndim != 1 or y_array.ndim != 1 or len(x_array) != len(y_array):
            raise SketchFormatError(
                f"stroke {index}: xs and ys must be flat lists of the same length, "
                f"got shapes {x_array.shape} and {y_array.shape}"
            )
        points = np.stack([x_array, y_array], axis=1)
    if not np.isfinite(points).all():
        raise SketchFormatError(f"stroke {index} holds a non-finite coordinate")
    return points
