"""QuickDraw .bin: hand-packed records (from the format description), round trip, truncation."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sketchssl.data.io import iter_sketches, write_binary
from sketchssl.data.records import ReadStats
from sketchssl.errors import SketchFileError, SketchFormatError


def _record(key_id: int, strokes: list[tuple[list[int], list[int]]]) -> bytes:
    """Pack one record by hand, following the quickdraw-dataset README field by field."""
    out = struct.pack("<Q", key_id) + b"DE" + struct.pack("<B", 1) + struct.pack("<I", 1490000000)
    out += struct.pack("<H", len(strokes))
    for xs, ys in strokes:
        out += struct.pack("<H", len(xs)) + bytes(xs) + bytes(ys)
    return out


def test_hand_packed_records(tmp_path):
    path = tmp_path / "cat.bin"
    path.write_bytes(
        _record(2**63 + 5, [([0, 10, 20], [0, 0, 5]), ([30], [40])])
        + _record(9, [([255, 0], [0, 255])])
    )
    first, second = iter_sketches(path)
    assert first.strokes.tolist() == [[10, 0, 0], [10, 5, 1], [10, 35, 1]]
    assert first.strokes.dtype == np.int16
    assert (first.label, first.key_id, first.index) == ("cat", 2**63 + 5, 0)
    assert second.strokes.tolist() == [[-255, 255, 1]] and second.index == 1


def test_truncated_record_is_named(tmp_path):
    path = tmp_path / "cat.bin"
    content = _record(1, [([1, 2], [3, 4])]) + _record(2, [([5, 6, 7], [8, 9, 10])])
    path.write_bytes(content[:-2])
    with pytest.raises(SketchFileError, match=r"cat.bin, record 1 \(byte 23\): truncated record"):
        list(iter_sketches(path))
    stats = ReadStats()
    assert len(list(iter_sketches(path, skip_bad=True, stats=stats))) == 1
    assert (stats.read, stats.skipped) == (1, 1)
    path.write_bytes(content[:30])  # cut inside the second record's header
    with pytest.raises(SketchFileError, match="record 1.*header needs 17 bytes"):
        list(iter_sketches(path))


def test_drawing_without_offsets(tmp_path):
    path = tmp_path / "dot.bin"
    path.write_bytes(_record(1, [([4], [4])]) + _record(2, [([1, 2], [3, 4])]))
    with pytest.raises(SketchFileError, match="record 0"):
        list(iter_sketches(path))
    stats = ReadStats()
    assert [record.key_id for record in iter_sketches(path, skip_bad=True, stats=stats)] == [2]
    assert stats.skipped == 1


def _closed_sketch(rows):
    """Polyline formats always end the last stroke, so the last pen flag is 1."""
    sketch = np.array(rows, dtype=np.int16)
    sketch[-1, 2] = 1
    return sketch


small_sketches = st.lists(
    st.tuples(st.integers(-5, 5), st.integers(-5, 5), st.integers(0, 1)), min_size=1, max_size=50
).map(_closed_sketch)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawings=st.lists(small_sketches, min_size=1, max_size=5))
def test_round_trip(tmp_path, drawings):
    path = tmp_path / "frog.bin"
    write_binary(path, drawings, key_ids=[100 + i for i in range(len(drawings))])
    records = list(iter_sketches(path))
    assert [record.key_id for record in records] == [100 + i for i in range(len(drawings))]
    for record, drawing in zip(records, drawings, strict=True):
        np.testing.assert_array_equal(record.strokes, drawing)
        assert record.label == "frog"


def test_writer_refuses_what_does_not_fit(tmp_path):
    with pytest.raises(SketchFormatError, match="0..255 box"):
        write_binary(tmp_path / "big.bin", [np.array([[300, 0, 1]], dtype=np.int16)])
    assert not (tmp_path / "big.bin").exists()
