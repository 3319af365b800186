"""RDP and QuickDraw's simplification: hand cases, a naive reference, and Google's own files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchssl.data.simplify import quickdraw_simplify, rdp, rdp_mask, resample_polyline
from sketchssl.errors import SketchFormatError


def reference_rdp_mask(points: list[tuple[float, float]], epsilon: float) -> list[bool]:
    """Textbook recursive RDP with the perpendicular distance to the line, in plain Python."""
    keep = [False] * len(points)

    def distance(point, start, end):
        dx, dy = end[0] - start[0], end[1] - start[1]
        length = math.hypot(dx, dy)
        if length == 0:
            return math.hypot(point[0] - start[0], point[1] - start[1])
        return abs(dx * (point[1] - start[1]) - dy * (point[0] - start[0])) / length

    def visit(first, last):
        keep[first] = keep[last] = True
        best, best_index = -1.0, None
        for index in range(first + 1, last):
            value = distance(points[index], points[first], points[last])
            if value > best:
                best, best_index = value, index
        if best_index is not None and best > epsilon:
            visit(first, best_index)
            visit(best_index, last)

    if points:
        visit(0, len(points) - 1)
    return keep


def test_rdp_hand_cases():
    line = np.array([[0, 0], [1, 0.1], [2, -0.1], [3, 0], [10, 0]], dtype=float)
    assert rdp(line, 0.5).tolist() == [[0, 0], [10, 0]]
    # A peak 5 above the chord survives epsilon 2 and goes at epsilon 6.
    peak = np.array([[0, 0], [5, 5], [10, 0]], dtype=float)
    assert rdp(peak, 2.0).tolist() == peak.tolist()
    assert rdp(peak, 6.0).tolist() == [[0, 0], [10, 0]]
    # Exactly on the threshold is dropped: kept only when strictly farther than epsilon.
    assert rdp_mask(np.array([[0, 0], [1, 2], [2, 0]]), 2.0).tolist() == [True, False, True]
    # A closed stroke (first == last) measures to that point.
    loop = np.array([[0, 0], [4, 0], [4, 4], [0, 0]], dtype=float)
    assert rdp_mask(loop, 1.0).all()
    assert rdp_mask(np.zeros((0, 2)), 1.0).tolist() == []
    assert rdp_mask(np.array([[3, 4]]), 1.0).tolist() == [True]


def test_rdp_rejects_bad_input():
    with pytest.raises(SketchFormatError, match="shape"):
        rdp_mask(np.zeros((4, 3)), 1.0)
    with pytest.raises(SketchFormatError, match="epsilon"):
        rdp_mask(np.zeros((4, 2)), -1.0)


polylines = st.lists(
    st.tuples(st.integers(-50, 50), st.integers(-50, 50)), min_size=0, max_size=40
).map(lambda rows: [(float(x), float(y)) for x, y in rows])


@settings(max_examples=150, deadline=None)
@given(points=polylines, epsilon=st.sampled_from([0.0, 0.5, 2.0, 7.5]))
def test_rdp_matches_recursive_reference(points, epsilon):
    expected = reference_rdp_mask(points, epsilon)
    assert rdp_mask(np.array(points, dtype=float).reshape(-1, 2), epsilon).tolist() == expected


def test_rdp_long_stroke_needs_no_recursion():
    # A zig-zag keeps every point; split at the farthest point, a recursive RDP would go far
    # deeper than Python's default recursion limit of 1000.
    count = 5_000
    x = np.arange(count, dtype=float)
    y = np.where(np.arange(count) % 2 == 0, 0.0, 10.0)
    mask = rdp_mask(np.stack([x, y], axis=1), 1.0)
    assert mask.sum() == count
    with pytest.raises(RecursionError):
        reference_rdp_mask(list(zip(x.tolist(), y.tolist(), strict=True)), 1.0)


def test_resample_polyline_spacing():
    points = resample_polyline(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 2.5]]), 1.0)
    assert points.tolist() == [[0, 0], [1, 0], [2, 0], [3, 0], [3, 1], [3, 2], [3, 2.5]]
    assert resample_polyline(np.array([[1.0, 1.0], [1.0, 1.0]])).tolist() == [[1, 1]]


def test_quickdraw_simplify_box_and_types():
    raw = [[[10.0, 210.0, 210.0], [20.0, 20.0, 530.0], [0, 10, 20]], [[110.0], [275.0], [30]]]
    strokes = quickdraw_simplify(raw)
    # Aligned to (0, 0), scaled by 255 / 510 (the largest extent), resampled straight runs
    # collapse back to their corners, 127.5 rounds to 128.
    assert [stroke.tolist() for stroke in strokes] == [[[0, 0], [100, 0], [100, 255]], [[50, 128]]]
    assert all(stroke.dtype == np.int64 for stroke in strokes)
    with pytest.raises(SketchFormatError, match="empty"):
        quickdraw_simplify([])
    with pytest.raises(SketchFormatError, match="same length"):
        quickdraw_simplify([[[1, 2, 3], [1, 2]]])
    with pytest.raises(SketchFormatError, match="non-finite"):
        quickdraw_simplify([[[1, float("nan")], [1, 2]]])


# A spread of categories, so the comparison takes a second or two.
RAW_CATEGORIES = 40
#: Measured over all 7,853 drawings present in both folders (see the IO report): 85% identical,
#: stroke counts always equal, at most 3 points more or fewer per stroke, every vertex of either
#: version within 2.77 px of the other's polyline.
MAX_POINT_COUNT_DIFFERENCE = 3
MAX_POLYLINE_DISTANCE = 3.0
MIN_IDENTICAL_FRACTION = 0.8


def _vertex_to_polyline(points: np.ndarray, line: np.ndarray) -> float:
    """Largest distance from a vertex of ``points`` to the polyline ``line``."""
    if len(line) == 1:
        return float(np.hypot(*(points - line[0]).T).max())
    start, end = line[:-1][None], line[1:][None]  # (1, M - 1, 2)
    query = points[:, None]  # (K, 1, 2)
    chord = end - start
    length = np.maximum((chord**2).sum(-1), 1e-12)
    along = np.clip(((query - start) * chord).sum(-1) / length, 0, 1)
    offset = query - start - along[..., None] * chord
    return float(np.hypot(offset[..., 0], offset[..., 1]).min(axis=1).max())


def _by_key(path):
    return {int(item["key_id"]): item["drawing"] for item in map(json.loads, path.open())}


def test_quickdraw_simplify_reproduces_google_simplified(shared_data):
    folder = shared_data / "quickdraw_ndjson"
    names = sorted(path.name for path in (folder / "simplified_first25").glob("*.ndjson"))
    pairs = []
    for name in names[:: max(1, len(names) // RAW_CATEGORIES)]:
        simplified = _by_key(folder / "simplified_first25" / name)
        raw = _by_key(folder / "raw_exupery" / name)
        pairs += [(raw[key], simplified[key]) for key in simplified if key in raw]
    assert len(pairs) > 500
    identical = 0
    for raw, expected in pairs:
        ours = quickdraw_simplify(raw)
        reference = [np.array(stroke, dtype=np.int64).T for stroke in expected]  # (n, 2) each
        assert len(ours) == len(reference)
        identical += all(
            a.shape == b.shape and (a == b).all() for a, b in zip(ours, reference, strict=True)
        )
        for a, b in zip(ours, reference, strict=True):
            assert abs(len(a) - len(b)) <= MAX_POINT_COUNT_DIFFERENCE
            distance = max(
                _vertex_to_polyline(a.astype(float), b.astype(float)),
                _vertex_to_polyline(b.astype(float), a.astype(float)),
            )
            assert distance <= MAX_POLYLINE_DISTANCE
    assert identical / len(pairs) >= MIN_IDENTICAL_FRACTION
