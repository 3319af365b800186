"""Stroke formats and the conversions between them.

Three ways to write one free-hand sketch:

* **stroke-3** ``(N, 3)``: rows ``(dx, dy, pen_lifted)``. ``dx, dy`` is the offset from the
  previous point, ``pen_lifted = 1`` marks the last point of a stroke. This is the storage format
  of the sketch-rnn ``.npz`` files (Ha & Eck, "A Neural Representation of Sketch Drawings", 2017,
  magenta ``sketch_rnn/utils.py``). The drawing's first absolute point is not stored: it is the
  origin ``(0, 0)`` and row 0 is the offset from it to the second point.
* **stroke-5** ``(Nmax, 5)``: rows ``(dx, dy, p1, p2, p3)`` with one-hot pen states: ``p1`` pen
  stays down, ``p2`` pen lifts after this point, ``p3`` the sketch has ended (every padding row).
  In a sketch-rnn training batch a start token ``S0 = (0, 0, 1, 0, 0)`` is put in front.
* **polylines**: a list of ``(n_i, 2)`` arrays of absolute points, one per stroke.

Plus the per-sketch helpers the methods share: bounding box, sketch-rnn's global offset
normalisation, Sketch-BERT's per-sketch bounding-box scaling, length filter / truncation and
offset clamping. Everything here is numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sketchssl.errors import SketchFormatError

__all__ = [
    "START_TOKEN",
    "validate_stroke3",
    "stroke3_to_stroke5",
    "stroke5_to_stroke3",
    "stroke3_to_polylines",
    "polylines_to_stroke3",
    "stroke3_to_absolute",
    "count_strokes",
    "bounding_box",
    "offset_scale_factor",
    "normalize_offsets",
    "bbox_scale",
    "clamp_offsets",
    "truncate_stroke3",
    "filter_by_length",
]

#: The sketch-rnn start-of-sequence token S0 (pen down at the origin).
START_TOKEN = np.array([0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)


def _where(where: str | None) -> str:
    return f"{where}: " if where else ""


def validate_stroke3(sketch: object, *, where: str | None = None) -> np.ndarray:
    """Check that ``sketch`` is a well-formed stroke-3 array and return it as an ndarray.

    Args:
        sketch: anything array-like.
        where: a label for error messages, such as ``"cat.npz, train[12]"``.

    Returns:
        The sketch as a numpy array of shape ``(N, 3)`` (not copied when it already is one).

    Raises:
        SketchFormatError: wrong type, dtype or shape, no points, a non-finite offset, or a pen
            column holding something other than 0 and 1.
    """
    try:
        array = np.asarray(sketch)
    except (TypeError, ValueError) as error:
        raise SketchFormatError(f"{_where(where)}not an array of numbers ({error})") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise SketchFormatError(
            f"{_where(where)}stroke-3 data must be integers or floats, got dtype {array.dtype}"
        )
    if array.ndim != 2 or array.shape[1] != 3:
        raise SketchFormatError(
            f"{_where(where)}stroke-3 data must have shape (N, 3) = (dx, dy, pen_lifted), "
            f"got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise SketchFormatError(f"{_where(where)}empty sketch (no points)")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0, 0])
        raise SketchFormatError(f"{_where(where)}non-finite value (NaN or inf) in row {row}")
    pen = array[:, 2]
    if not np.isin(pen, (0, 1)).all():
        row = int(np.argwhere(~np.isin(pen, (0, 1)))[0, 0])
        raise SketchFormatError(
            f"{_where(where)}pen column must be 0 or 1, row {row} holds {pen[row]!r}"
        )
    return array


def stroke3_to_stroke5(
    sketch: np.ndarray, max_len: int | None = None, *, start_token: bool = False
) -> np.ndarray:
    """Convert stroke-3 to padded stroke-5, as sketch-rnn's ``to_big_strokes`` / ``pad_batch``.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        max_len: pad to this many rows (``N`` when None). ``N > max_len`` is an error: truncate or
            filter first (:func:`truncate_stroke3`, :func:`filter_by_length`).
        start_token: put the start token ``S0 = (0, 0, 1, 0, 0)`` in front, giving
            ``max_len + 1`` rows; the decoder input is then ``[:-1]`` and its target ``[1:]``.

    Returns:
        float32 array of shape ``(max_len, 5)`` or ``(max_len + 1, 5)``.
    """
    sketch = validate_stroke3(sketch)
    length = sketch.shape[0]
    max_len = length if max_len is None else int(max_len)
    if length > max_len:
        raise SketchFormatError(
            f"sketch has {length} points, more than max_len={max_len}; "
            "truncate it (truncate_stroke3) or drop it (filter_by_length) first"
        )
    big = np.zeros((max_len, 5), dtype=np.float32)  # (Nmax, 5)
    big[:length, 0:2] = sketch[:, 0:2]
    big[:length, 3] = sketch[:, 2]
    big[:length, 2] = 1.0 - big[:length, 3]
    big[length:, 4] = 1.0
    if start_token:
        big = np.concatenate([START_TOKEN[None, :], big], axis=0)  # (Nmax + 1, 5)
    return big


def stroke5_to_stroke3(big: np.ndarray, *, start_token: bool = False) -> np.ndarray:
    """Convert stroke-5 back to stroke-3, as sketch-rnn's ``to_normal_strokes``.

    The sketch ends before the first row whose ``p3`` is set (generated sequences may use any
    positive value, so the largest pen state decides). Pen states are taken by argmax, so the
    output of a model (probabilities) converts as well as exact one-hot rows.

    Args:
        big: ``(T, 5)`` stroke-5 rows.
        start_token: drop row 0 first (it is the S0 token).

    Returns:
        float32 ``(N, 3)`` stroke-3; ``N`` may be 0 when the sequence ends at once.
    """
    big = np.asarray(big, dtype=np.float32)
    if big.ndim != 2 or big.shape[1] != 5:
        raise SketchFormatError(f"stroke-5 data must have shape (T, 5), got {big.shape}")
    if start_token:
        big = big[1:]
    state = np.argmax(big[:, 2:5], axis=1)  # 0 = pen down, 1 = pen up, 2 = end
    ended = np.flatnonzero(state == 2)
    length = int(ended[0]) if ended.size else big.shape[0]
    result = np.zeros((length, 3), dtype=np.float32)
    result[:, 0:2] = big[:length, 0:2]
    result[:, 2] = (state[:length] == 1).astype(np.float32)
    return result


def stroke3_to_absolute(sketch: np.ndarray, start: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Absolute points with their pen flags: ``(N + 1, 3)`` rows ``(x, y, pen_lifted)``.

    Row 0 is the implicit first point ``start`` (pen down); row ``k + 1`` is the point reached by
    stroke-3 row ``k`` and carries that row's pen flag.
    """
    sketch = validate_stroke3(sketch)
    points = np.zeros((sketch.shape[0] + 1, 3), dtype=np.float64)
    points[0, 0:2] = start
    points[1:, 0:2] = np.cumsum(sketch[:, 0:2], axis=0, dtype=np.float64) + np.asarray(start)
    points[1:, 2] = sketch[:, 2]
    return points


def stroke3_to_polylines(
    sketch: np.ndarray, start: Sequence[float] = (0.0, 0.0)
) -> list[np.ndarray]:
    """Split a stroke-3 sketch into strokes of absolute points.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        start: absolute position of the first point (stroke-3 does not store it).

    Returns:
        A list of float64 ``(n_i, 2)`` arrays, one per stroke; a stroke ends at each point whose
        pen flag is 1 (and at the last point).
    """
    points = stroke3_to_absolute(sketch, start)
    ends = np.flatnonzero(points[:, 2] == 1) + 1
    pieces = np.split(points[:, 0:2], ends)
    return [piece for piece in pieces if len(piece)]


def count_strokes(sketch: np.ndarray) -> int:
    """Number of strokes of a stroke-3 sketch.

    Its pen lifts, plus one when the last point keeps the pen down: a stroke ends at each point
    whose pen flag is 1 and at the last point, as in :func:`stroke3_to_polylines`. An empty
    sketch has none.

    Examples:
        >>> count_strokes(np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0], [1, 1, 1]]))
        2
        >>> count_strokes(np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0]]))
        2
    """
    sketch = np.asarray(sketch)
    if len(sketch) == 0:
        return 0
    lifts = int(np.count_nonzero(sketch[:, 2] == 1))
    return lifts + int(sketch[-1, 2] != 1)


def polylines_to_stroke3(
    lines: Iterable[np.ndarray | Sequence[Sequence[float]]],
    *,
    keep_first_point: bool = False,
    dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """Join strokes of absolute points into stroke-3.

    Args:
        lines: strokes, each an ``(n_i, 2)`` array-like of absolute points. Empty strokes are
            skipped.
        keep_first_point: by default the first point becomes the implicit origin and is not
            stored, as in the sketch-rnn QuickDraw ``.npz`` files, so the result has one row
            fewer than there are points. With True a first row holds the first point's absolute
            position (an offset from ``(0, 0)``), as magenta's ``lines_to_strokes`` does.
        dtype: output dtype; float64 when None.

    Returns:
        ``(N, 3)`` stroke-3 with ``pen_lifted = 1`` on the last point of every stroke.
    """
    arrays = []
    for index, line in enumerate(lines):
        array = np.asarray(line, dtype=np.float64)
        if array.size == 0:
            continue
        if array.ndim != 2 or array.shape[1] != 2:
            raise SketchFormatError(f"stroke {index} must have shape (n, 2), got {array.shape}")
        if not np.isfinite(array).all():
            raise SketchFormatError(f"stroke {index} holds a non-finite coordinate")
        arrays.append(array)
    if not arrays:
        raise SketchFormatError("empty sketch (no strokes with points)")
    points = np.concatenate(arrays, axis=0)
    pen = np.zeros(len(points), dtype=np.float64)
    pen[np.cumsum([len(array) for array in arrays]) - 1] = 1.0
    rows = np.zeros((len(points), 3), dtype=np.float64)
    rows[0, 0:2] = points[0]
    rows[1:, 0:2] = np.diff(points, axis=0)
    rows[:, 2] = pen
    if not keep_first_point:
        rows = rows[1:]
        if len(rows) == 0:
            raise SketchFormatError(
                "a sketch of a single point has no offsets in stroke-3; "
                "use keep_first_point=True to keep it"
            )
    return rows.astype(dtype) if dtype is not None else rows


def bounding_box(sketch: np.ndarray) -> tuple[float, float, float, float]:
    """``(min_x, min_y, max_x, max_y)`` of the absolute points, the origin start included."""
    points = stroke3_to_absolute(sketch)
    low = points[:, 0:2].min(axis=0)
    high = points[:, 0:2].max(axis=0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def offset_scale_factor(sketches: Iterable[np.ndarray], *, include_pen: bool = False) -> float:
    """sketch-rnn's normalising scale: the standard deviation of all offsets of a training set.

    sketch-rnn (``calculate_normalizing_scale_factor``) pools dx and dy of every point. The
    SP-gra2seq and Lmser-pix2seq code take the std over all three columns, pen bits included:
    ``include_pen=True`` reproduces that quirk.
    """
    columns = slice(0, 3) if include_pen else slice(0, 2)
    pooled = [np.asarray(sketch, dtype=np.float64)[:, columns].ravel() for sketch in sketches]
    if not pooled or sum(part.size for part in pooled) == 0:
        raise SketchFormatError("cannot compute a scale factor from no sketches")
    values = np.concatenate(pooled)
    # Two-pass std in float64: exact enough for millions of int16 offsets.
    scale = float(np.std(values))
    if not np.isfinite(scale) or scale <= 0:
        raise SketchFormatError(f"offset scale factor is {scale}; the sketches have no movement")
    return scale


def normalize_offsets(sketch: np.ndarray, scale: float) -> np.ndarray:
    """Divide dx, dy by the global ``scale`` (see :func:`offset_scale_factor`); float32 copy."""
    if not scale > 0:
        raise SketchFormatError(f"scale must be positive, got {scale}")
    result = np.array(sketch, dtype=np.float32)
    result[:, 0:2] /= scale
    return result


def bbox_scale(sketch: np.ndarray, factor: float = 10.0) -> np.ndarray:
    """Sketch-BERT's ``max_scale`` normalisation: dx / width and dy / height, times ``factor``.

    Width and height are those of the drawing's bounding box; a zero extent (a vertical or
    horizontal line) divides by 1 so no offset becomes infinite. float32 copy.
    """
    min_x, min_y, max_x, max_y = bounding_box(sketch)
    width = max_x - min_x or 1.0
    height = max_y - min_y or 1.0
    result = np.array(sketch, dtype=np.float32)
    result[:, 0] *= factor / width
    result[:, 1] *= factor / height
    return result


def clamp_offsets(sketch: np.ndarray, limit: float = 1000.0) -> np.ndarray:
    """Clamp dx, dy to ``[-limit, limit]`` (sketch-rnn's "limit" against huge jumps); a copy."""
    result = np.array(sketch)
    bound = result.dtype.type(limit)  # int16 data clamps with an int16 bound, floats with a float
    np.clip(result[:, 0:2], -bound, bound, out=result[:, 0:2])
    return result


def truncate_stroke3(sketch: np.ndarray, max_len: int) -> np.ndarray:
    """Keep at most ``max_len`` points; a cut sketch gets ``pen_lifted = 1`` on its new last point.

    (Sketch-BERT truncates to 250 points. Closing the last stroke keeps the result a valid
    sequence of whole strokes, so renderers and stroke splitters treat it like any sketch.)
    """
    if max_len < 1:
        raise SketchFormatError(f"max_len must be at least 1, got {max_len}")
    sketch = np.asarray(sketch)
    if len(sketch) <= max_len:
        return sketch
    result = np.array(sketch[:max_len])
    result[-1, 2] = 1
    return result


def filter_by_length(
    sketches: Sequence[np.ndarray], max_len: int, min_len: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """Drop sketches with fewer than ``min_len`` or more than ``max_len`` points.

    Returns:
        The kept sketches and their indices in the input (int64).
    """
    kept_index = [i for i, sketch in enumerate(sketches) if min_len <= len(sketch) <= max_len]
    return [sketches[i] for i in kept_index], np.asarray(kept_index, dtype=np.int64)
