"""Hostile and broken QuickDraw ndjson files: records or a SketchFileError, bounded memory."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from fuzz_runner import fuzz
from hypothesis import strategies as st
from reliability_targets import mutated_bytes, ndjson_seeds, parse_line, read_ndjson

from sketchssl.data.io import ReadLimits, iter_ndjson
from sketchssl.data.records import ReadStats
from sketchssl.errors import SketchFileError

MIB = 1 << 20
GOOD_LINE = json.dumps({"word": "cat", "key_id": "7", "drawing": [[[0, 10], [0, 10]]]})


@pytest.fixture(scope="module")
def seeds():
    return ndjson_seeds()


def test_seeds_are_read_whole(seeds, tmp_path):
    assert [read_ndjson(seed, tmp_path) for seed in seeds] == [2 * 3, 2 * 1]


def test_mutated_files(seeds, tmp_path):
    fuzz(lambda data: read_ndjson(data, tmp_path), mutated_bytes(seeds), 30, "ndjson (fast)")


# JSON-shaped lines: valid JSON with wrong types and values in every place, which byte
# mutations rarely reach.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children)
    ),
    max_leaves=12,
)
drawing_lines = st.fixed_dictionaries(
    {},
    optional={
        "word": json_values | st.just("cat"),
        "key_id": json_values | st.just("123"),
        "drawing": json_values
        | st.lists(
            st.lists(st.lists(st.integers(-(2**40), 2**40), max_size=4), min_size=1, max_size=4),
            max_size=3,
        ),
    },
).map(lambda item: json.dumps(item).encode())


def test_json_shaped_lines():
    fuzz(parse_line, drawing_lines, 40, "ndjson lines (fast)")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mutated_files_long(seeds, tmp_path):
    count = fuzz(lambda data: read_ndjson(data, tmp_path), mutated_bytes(seeds), 20000, "ndjson")
    count += fuzz(parse_line, drawing_lines, 10000, "ndjson lines")
    assert count > 28000


def _sparse_line_file(path, length: int, after: str = GOOD_LINE) -> None:
    """A file whose first line is ``length`` zero bytes (sparse on disk), then one good line."""
    with open(path, "wb") as handle:
        handle.truncate(length)
        handle.seek(length)
        handle.write(b"\n" + after.encode() + b"\n")


def _read_with_peak(path, limits: ReadLimits):
    stats = ReadStats()
    tracemalloc.start()
    try:
        records = list(iter_ndjson(path, skip_bad=True, stats=stats, limits=limits))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return records, stats, peak


def test_overlong_line_is_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "long.ndjson"
    _sparse_line_file(path, 40 * MIB)
    records, stats, peak = _read_with_peak(path, ReadLimits(max_line_bytes=MIB))
    assert [record.index for record in records] == [2]  # the line after it still reads
    assert stats.skipped == 1 and "longer than 1048576 bytes" in stats.messages[0]
    assert peak < 8 * MIB  # a few times the 1 MiB cap, never the 40 MiB line
    with pytest.raises(SketchFileError, match="line 1: line longer than"):
        list(iter_ndjson(path, limits=ReadLimits(max_line_bytes=MIB)))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_multi_gigabyte_line_with_default_limits(tmp_path):
    path = tmp_path / "huge.ndjson"
    _sparse_line_file(path, 3 << 30)  # 3 GiB of zeros without a newline
    records, stats, peak = _read_with_peak(path, ReadLimits())
    assert [record.index for record in records] == [2] and stats.skipped == 1
    # readline(cap + 1) joins its chunks: about twice the 64 MiB cap, never the 3 GiB line.
    assert peak < 3 * ReadLimits().max_line_bytes
    print(f"3 GiB line: peak traced memory {peak / MIB:.0f} MiB")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"word": "a", "drawing": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"word": "a", "drawing": [[[1e999], [0]]]}', "non-finite"),
        ('{"word": "a", "drawing": [[[NaN], [0]]]}', "non-finite"),
        ('{"word": "a", "drawing": [[[' + "9" * 5000 + "], [0]]]}", "not valid JSON"),
        ('{"word": "a", "drawing": [[[1e300, -1e300], [0, 0]]]}', "int16"),
        ('{"word": "a", "drawing": [[[0, 1], [0]]]}', "different lengths"),
        ('{"word": "a", "drawing": [[[true], [0]]]}', "numbers"),
        ('{"word": "", "drawing": [[[0], [0]]]}', "'word'"),
        ('{"word": "a", "key_id": [1], "drawing": [[[0], [0]]]}', "key_id"),
        ("[1, 2, 3]", "JSON object"),
    ],
)
@pytest.mark.filterwarnings("error::RuntimeWarning")  # no undefined float -> int casts
def test_hostile_lines_are_named(tmp_path, line, message):
    path = tmp_path / "bad.ndjson"
    path.write_text(GOOD_LINE + "\n" + line + "\n")
    with pytest.raises(SketchFileError, match=f"bad.ndjson, line 2: .*{message}"):
        list(iter_ndjson(path))


def test_invalid_utf8_and_cut_off_last_line(tmp_path):
    path = tmp_path / "bytes.ndjson"
    path.write_bytes(GOOD_LINE.encode() + b"\n\xff\xfe{\n" + GOOD_LINE.encode()[:20])
    stats = ReadStats()
    assert len(list(iter_ndjson(path, skip_bad=True, stats=stats))) == 1
    assert stats.skipped == 2
    assert "UTF-8" in stats.messages[0] and "cut off" in stats.messages[1]
