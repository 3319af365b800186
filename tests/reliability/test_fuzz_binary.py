"""Hostile and broken QuickDraw .bin files: records or a SketchFileError, never a crash."""

from __future__ import annotations

import struct

import pytest
from fuzz_runner import fuzz
from reliability_targets import binary_seeds, mutated_bytes, read_binary

from sketchssl.data.io import iter_binary
from sketchssl.data.records import ReadStats
from sketchssl.errors import SketchFileError

RECORD_HEADER = struct.Struct("<Q2sBIH")


@pytest.fixture(scope="module")
def seeds():
    return binary_seeds()


def test_seeds_are_read_whole(seeds, tmp_path):
    assert [read_binary(seed, tmp_path) for seed in seeds] == [2 * 3]


def test_mutated_files(seeds, tmp_path):
    fuzz(lambda data: read_binary(data, tmp_path), mutated_bytes(seeds), 30, "bin (fast)")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mutated_files_long(seeds, tmp_path):
    assert (
        fuzz(lambda data: read_binary(data, tmp_path), mutated_bytes(seeds), 20000, "bin") > 19000
    )


def test_record_claiming_the_most_strokes_and_points_is_cut_off_cleanly(tmp_path):
    # 65535 strokes, the first claiming 65535 points, and 10 bytes of data: a truncation error
    # naming the record, after reading only what is there.
    path = tmp_path / "cat.bin"
    content = RECORD_HEADER.pack(1, b"US", 1, 0, 0xFFFF) + struct.pack("<H", 0xFFFF) + bytes(10)
    path.write_bytes(content)
    with pytest.raises(SketchFileError, match=r"record 0 \(byte 0\).*truncated"):
        list(iter_binary(path))
    stats = ReadStats()
    assert list(iter_binary(path, skip_bad=True, stats=stats)) == []
    assert stats.skipped == 1


def test_strokes_without_points_are_skipped_or_named(tmp_path):
    path = tmp_path / "cat.bin"
    empty = RECORD_HEADER.pack(1, b"US", 1, 0, 3) + struct.pack("<HHH", 0, 0, 0)
    good = RECORD_HEADER.pack(2, b"US", 1, 0, 1) + struct.pack("<H", 2) + bytes([0, 9, 0, 9])
    path.write_bytes(empty + good)
    with pytest.raises(SketchFileError, match="record 0"):
        list(iter_binary(path))
    records = list(iter_binary(path, skip_bad=True))
    assert [record.key_id for record in records] == [2]
    assert records[0].strokes.tolist() == [[9, 9, 1]]
