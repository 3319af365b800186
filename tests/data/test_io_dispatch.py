"""iter_sketches over files and folders: dispatch by suffix, ordering, limits, errors."""

from __future__ import annotations

import numpy as np
import pytest

from sketchssl.data.io import (
    SUPPORTED_SUFFIXES,
    iter_sketches,
    write_binary,
    write_ndjson,
    write_sketchrnn_npz,
)
from sketchssl.data.records import ReadStats
from sketchssl.errors import SketchFileError


def test_supported_suffixes():
    assert set(SUPPORTED_SUFFIXES) == {".npz", ".ndjson", ".bin"}


def test_folder_reads_every_supported_file_sorted(tmp_path, square_sketch):
    write_sketchrnn_npz(
        tmp_path / "b_bee.npz", {"train": [square_sketch], "valid": [square_sketch]}
    )
    write_ndjson(tmp_path / "a_ant.ndjson", [square_sketch, square_sketch], words="ant")
    write_binary(tmp_path / "c_cow.bin", [square_sketch])
    (tmp_path / "notes.txt").write_text("ignored")
    stats = ReadStats()
    records = list(iter_sketches(tmp_path, stats=stats))
    assert [record.label for record in records] == ["ant", "ant", "b_bee", "b_bee", "c_cow"]
    assert [record.split for record in records] == [None, None, "train", "valid", None]
    assert all(np.array_equal(record.strokes, square_sketch) for record in records)
    assert stats.read == 5
    assert [record.label for record in iter_sketches(tmp_path, max_drawings=3)] == [
        "ant",
        "ant",
        "b_bee",
    ]
    assert list(iter_sketches(tmp_path, max_drawings=0)) == []


def test_errors_name_the_path(tmp_path):
    with pytest.raises(SketchFileError, match="no such file"):
        list(iter_sketches(tmp_path / "missing.npz"))
    (tmp_path / "x.csv").write_text("1,2,3")
    with pytest.raises(SketchFileError, match=r"x.csv: unknown sketch file type '.csv'"):
        list(iter_sketches(tmp_path / "x.csv"))
    with pytest.raises(SketchFileError, match="holds no sketch files"):
        list(iter_sketches(tmp_path))
