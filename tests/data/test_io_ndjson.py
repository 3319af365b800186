"""QuickDraw ndjson: golden comparison with the sketch-rnn files, bad lines, round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sketchssl.data.formats import polylines_to_stroke3
from sketchssl.data.io import ReadLimits, iter_sketches, write_ndjson
from sketchssl.data.records import ReadStats
from sketchssl.data.simplify import quickdraw_simplify
from sketchssl.errors import SketchFileError

GOOD = {
    "word": "cat",
    "countrycode": "US",
    "timestamp": "2017-03-02 23:25:10.07453 UTC",
    "recognized": True,
    "key_id": "5201136883597312",
    "drawing": [[[0, 10, 20], [0, 0, 5]], [[30], [40]]],
}
GOOD_LINE = json.dumps(GOOD).encode()
# Absolute points (0,0) (10,0) (20,5) | (30,40); stroke-3 drops the first point.
GOOD_STROKES = [[10, 0, 0], [10, 5, 1], [10, 35, 1]]


def _with(**changes) -> bytes:
    item = dict(GOOD)
    item.update(changes)
    return json.dumps(item).encode()


def test_golden_simplified_ndjson_equals_sketchrnn_npz(shared_data):
    """Every drawing in both folders converts to exactly the int16 array of the .npz file."""
    ndjson_folder = shared_data / "quickdraw_ndjson" / "simplified_first25"
    npz_folder = shared_data / "quickdraw_sketchrnn_mini"
    matched = categories = 0
    for path in sorted(ndjson_folder.glob("*.ndjson")):
        expected = {
            record.key_id: record.strokes
            for record in iter_sketches(npz_folder / f"{path.stem}.npz")
        }
        categories += 1
        for record in iter_sketches(path):
            assert record.label == path.stem
            if record.key_id in expected:
                assert record.strokes.dtype == np.int16
                np.testing.assert_array_equal(record.strokes, expected[record.key_id])
                matched += 1
    assert categories == 344
    assert matched == 8600  # every simplified drawing is in the sketch-rnn files


def test_hand_made_line(tmp_path):
    path = tmp_path / "cat.ndjson"
    path.write_bytes(GOOD_LINE + b"\n\n")  # a blank line is ignored
    (record,) = iter_sketches(path)
    assert record.strokes.tolist() == GOOD_STROKES and record.strokes.dtype == np.int16
    assert (record.label, record.key_id, record.index, record.split) == (
        "cat",
        5201136883597312,
        1,
        None,
    )


def test_raw_line_is_simplified_first(tmp_path):
    raw = [[[10.0, 210.0, 210.0], [20.0, 20.0, 530.0], [0, 5, 9]], [[110.0], [275.0], [12]]]
    path = tmp_path / "raw.ndjson"
    path.write_bytes(_with(drawing=raw))
    (record,) = iter_sketches(path)
    # quickdraw_simplify gives (0,0) (100,0) (100,255) | (50,128).
    assert record.strokes.tolist() == [[100, 0, 0], [0, 255, 1], [-50, -127, 1]]


BAD_LINES = {
    "utf8": (b'{"word": "caf\xe9", "drawing": [[[1,2],[3,4]]]}', "not valid UTF-8"),
    "json": (b'{"word": "cat", "drawing": [[[1,2],[3,4]]', "not valid JSON"),
    "missing": (json.dumps({"word": "cat"}).encode(), "missing key 'drawing'"),
    "nesting": (_with(drawing=[[1, 2, 3]]), "stroke 0 must be"),
    "lengths": (_with(drawing=[[[1, 2, 3], [4, 5]]]), "different lengths 3/2"),
    "empty": (_with(drawing=[]), "non-empty list"),
    "nan": (b'{"word": "cat", "drawing": [[[1, NaN], [3, 4]]]}', "non-finite number NaN"),
    "single point": (_with(drawing=[[[1], [2]]]), "single point"),
    "key_id": (_with(key_id="abc"), "'key_id'"),
    "word": (_with(word=3), "'word'"),
    "huge int": (_with(drawing=[[[10**400, 1], [3, 4]]]), "too large"),
    "huge float": (b'{"word": "cat", "drawing": [[[1e999, 1], [3, 4]]]}', "non-finite"),
    "digits": (b'{"word": "cat", "drawing": [[[' + b"9" * 5000 + b", 1], [3, 4]]]}", "JSON"),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_bad_line_is_named_by_line_number(tmp_path, kind):
    line, reason = BAD_LINES[kind]
    path = tmp_path / "bad.ndjson"
    path.write_bytes(GOOD_LINE + b"\n" + GOOD_LINE + b"\n" + line + b"\n" + GOOD_LINE + b"\n")
    with pytest.raises(SketchFileError) as caught:
        list(iter_sketches(path))
    assert f"{path}, line 3:" in str(caught.value) and reason in str(caught.value)


def test_half_written_last_line(tmp_path):
    path = tmp_path / "cut.ndjson"
    path.write_bytes(GOOD_LINE + b"\n" + GOOD_LINE[:40])
    with pytest.raises(SketchFileError, match=r"line 2: not valid JSON.*cut off"):
        list(iter_sketches(path))
    # A complete last line without its newline is fine.
    path.write_bytes(GOOD_LINE + b"\n" + GOOD_LINE)
    assert len(list(iter_sketches(path))) == 2


def test_skip_bad_counts_every_bad_line(tmp_path):
    path = tmp_path / "mixed.ndjson"
    lines = [GOOD_LINE] + [line for line, _ in BAD_LINES.values()] + [GOOD_LINE]
    path.write_bytes(b"\n".join(lines) + b"\n")
    stats = ReadStats()
    records = list(iter_sketches(path, skip_bad=True, stats=stats))
    assert [record.index for record in records] == [1, len(lines)]
    assert (stats.read, stats.skipped) == (2, len(BAD_LINES))
    assert stats.messages[0].startswith(f"{path}, line 2:")


def test_overlong_line_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "long.ndjson"
    long_line = _with(drawing=[[list(range(5000)), list(range(5000))]])
    path.write_bytes(GOOD_LINE + b"\n" + long_line + b"\n" + GOOD_LINE + b"\n")
    limits = ReadLimits(max_line_bytes=len(GOOD_LINE) + 10)
    with pytest.raises(SketchFileError, match=r"line 2: line longer than"):
        list(iter_sketches(path, limits=limits))
    stats = ReadStats()
    records = list(iter_sketches(path, limits=limits, skip_bad=True, stats=stats))
    assert [record.index for record in records] == [1, 3] and stats.skipped == 1
    assert len(list(iter_sketches(path))) == 3  # the default limit is generous


def _closed_sketch(rows):
    """Polyline formats always end the last stroke, so the last pen flag is 1."""
    sketch = np.array(rows, dtype=np.int16)
    sketch[-1, 2] = 1
    return sketch


sketches = st.lists(
    st.tuples(st.integers(-60, 60), st.integers(-60, 60), st.integers(0, 1)),
    min_size=1,
    max_size=40,
).map(_closed_sketch)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawings=st.lists(sketches, min_size=1, max_size=5))
def test_simplified_round_trip(tmp_path, drawings):
    path = tmp_path / "owl.ndjson"
    write_ndjson(path, drawings, words="owl", key_ids=[7 + i for i in range(len(drawings))])
    records = list(iter_sketches(path))
    assert [record.key_id for record in records] == [7 + i for i in range(len(drawings))]
    for record, drawing in zip(records, drawings, strict=True):
        np.testing.assert_array_equal(record.strokes, drawing)
        assert record.label == "owl"
    for line in path.read_text().splitlines():  # simplified: ints, never negative
        strokes = json.loads(line)["drawing"]
        assert all(isinstance(v, int) and v >= 0 for s in strokes for xy in s for v in xy)


def test_raw_round_trip_with_timings(tmp_path):
    rng = np.random.default_rng(0)
    drawings = [[rng.uniform(0, 900, size=(n, 2)) for n in (30, 12)] for _ in range(3)]
    timings = [[list(range(len(stroke))) for stroke in drawing] for drawing in drawings]
    path = tmp_path / "raw.ndjson"
    write_ndjson(path, drawings, words=["a", "b", "c"], timings=timings)
    first = json.loads(path.read_text().splitlines()[0])["drawing"][0]
    assert len(first) == 3 and first[2] == list(range(30))
    records = list(iter_sketches(path))
    assert [record.label for record in records] == ["a", "b", "c"]
    for record, drawing in zip(records, drawings, strict=True):
        expected = polylines_to_stroke3(quickdraw_simplify(drawing)).astype(np.int16)
        np.testing.assert_array_equal(record.strokes, expected)
    with pytest.raises(Exception, match="one time per point"):
        write_ndjson(path, drawings[:1], words="a", timings=[[[0, 1]]])
