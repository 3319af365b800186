"""sketch-rnn .npz reading (safe, no pickled code runs), writing, and the real shipped files."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sketchssl.data.io import (
    ReadLimits,
    iter_sketches,
    load_sketchrnn_npz,
    write_sketchrnn_npz,
)
from sketchssl.data.records import ReadStats
from sketchssl.errors import SketchFileError, UnsafeFileError


def _npy_bytes(header: dict, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _object_npy(payload: bytes, count: int = 1) -> bytes:
    return _npy_bytes({"descr": "|O", "fortran_order": False, "shape": (count,)}, payload)


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _CallsEval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


# ----------------------------------------------------------------------------------------------
# Real files


def test_mini_folder_totals(shared_data):
    folder = shared_data / "quickdraw_sketchrnn_mini"
    assert len(list(folder.glob("*.npz"))) == 345
    records = list(iter_sketches(folder))
    assert Counter(record.split for record in records) == {"train": 8397, "valid": 960, "test": 960}
    assert len({record.label for record in records}) == 345
    assert all(record.strokes.dtype == np.int16 for record in records)
    assert all(record.key_id is not None for record in records)
    cat = [record for record in records if record.label == "cat"]
    assert cat and {record.source for record in cat} == {str(folder / "cat.npz")}


def test_labelled_file_matches_the_per_category_files(shared_data):
    stats = ReadStats()
    records = list(iter_sketches(shared_data / "quickdraw345_mini_all.npz", stats=stats))
    assert Counter(record.split for record in records) == {"train": 8397, "valid": 960, "test": 960}
    assert stats.read == 8397 + 960 + 960 and stats.skipped == 0
    assert len({record.label for record in records}) == 345
    per_category = iter_sketches(shared_data / "quickdraw_sketchrnn_mini")

    def signature(record):
        return record.label, record.split, record.strokes.tobytes()

    assert Counter(map(signature, records)) == Counter(map(signature, per_category))


@pytest.mark.parametrize("name", ["aaron_sheep.npz", "short_kanji.npz"])
def test_safe_loader_matches_numpy_load(shared_data, name):
    # These files are Python 2 era pickles (protocol 2, numpy.core names, latin1 strings).
    path = shared_data / "sketchrnn_extra" / name
    ours = load_sketchrnn_npz(path)
    with np.load(path, allow_pickle=True, encoding="latin1") as reference:
        assert sorted(ours) == sorted(reference.files)
        for key in reference.files:
            assert len(ours[key]) == len(reference[key])
            for mine, theirs in zip(ours[key], reference[key], strict=True):
                assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs)


# ----------------------------------------------------------------------------------------------
# Round trip

sketches = st.lists(
    st.tuples(st.integers(-32768, 32767), st.integers(-32768, 32767), st.integers(0, 1)),
    min_size=1,
    max_size=30,
).map(lambda rows: np.array(rows, dtype=np.int16))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    train=st.lists(sketches, min_size=1, max_size=6),
    test=st.lists(sketches, min_size=0, max_size=3),
)
def test_write_read_round_trip(tmp_path, train, test):
    path = tmp_path / "bee.npz"
    key_ids = np.arange(len(train), dtype=np.int64) + 10**15
    write_sketchrnn_npz(path, {"train": train, "test": test}, train_key_id=key_ids)
    records = list(iter_sketches(path))
    assert [record.split for record in records] == ["train"] * len(train) + ["test"] * len(test)
    for record, expected in zip(records, train + test, strict=True):
        assert record.strokes.dtype == np.int16
        np.testing.assert_array_equal(record.strokes, expected)
        assert record.label == "bee"
    assert [record.key_id for record in records[: len(train)]] == key_ids.tolist()
    # The file is what Google's are: object arrays that np.load can read too.
    with np.load(path, allow_pickle=True, encoding="latin1") as reference:
        assert reference["train"].dtype == object and len(reference["train"]) == len(train)


def test_write_labelled_file_and_equal_lengths(tmp_path, square_sketch):
    path = tmp_path / "all.npz"
    shifted = square_sketch.copy()
    shifted[:, 0] += 1
    same_length = [square_sketch, shifted]  # must stay two (6, 3) arrays, not one (2, 6, 3)
    write_sketchrnn_npz(
        path,
        {"train": same_length},
        train_label=np.array([1, 0], dtype=np.int16),
        class_names=np.array(["ant", "bee"]),
    )
    arrays = load_sketchrnn_npz(path)
    assert arrays["train"].shape == (2,) and arrays["train"][1].shape == (6, 3)
    assert [record.label for record in iter_sketches(path)] == ["bee", "ant"]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_writer_refuses_bad_sketch_and_leaves_no_file(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(Exception, match=r"train\[1\]"):
        write_sketchrnn_npz(path, {"train": [np.zeros((2, 3), np.int16), np.zeros((2, 2))]})
    assert not path.exists()


# ----------------------------------------------------------------------------------------------
# Hostile files


def test_pickle_that_runs_a_command_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    hostile = np.empty(2, dtype=object)
    hostile[0] = np.array([[1, 2, 1]], dtype=np.int16)
    hostile[1] = _RunsShell(marker)
    path = tmp_path / "cat.npz"
    np.savez(path, train=hostile)

    with pytest.raises(UnsafeFileError) as caught:
        list(iter_sketches(path))
    message = str(caught.value)
    assert str(path) in message and "train.npy" in message and "system" in message
    assert not marker.exists()

    # Control: numpy's own loader does run the payload, so the refusal above is what saved us.
    with np.load(path, allow_pickle=True) as archive:
        archive["train"]
    assert marker.exists()


def test_pickle_asking_for_eval_is_refused(tmp_path):
    path = _zip(tmp_path / "x.npz", {"train.npy": _object_npy(pickle.dumps(_CallsEval()))})
    with pytest.raises(UnsafeFileError, match=r"builtins\.eval"):
        load_sketchrnn_npz(path)


def test_pickle_calling_ndarray_directly_is_refused(tmp_path):
    # GLOBAL numpy.ndarray then REDUCE: numpy.ndarray((huge,)) would allocate; ours is no callable.
    payload = b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x7f\x85\x85R."
    path = _zip(tmp_path / "x.npz", {"train.npy": _object_npy(payload)})
    with pytest.raises(SketchFileError, match="malformed object array pickle"):
        load_sketchrnn_npz(path)


def test_truncated_and_not_a_zip(tmp_path, shared_data):
    content = (shared_data / "quickdraw_sketchrnn_mini" / "cat.npz").read_bytes()
    truncated = tmp_path / "cat.npz"
    truncated.write_bytes(content[: len(content) // 2])
    with pytest.raises(SketchFileError, match="cat.npz"):
        list(iter_sketches(truncated))
    text = tmp_path / "notes.npz"
    text.write_text("this is not a zip archive\n")
    with pytest.raises(SketchFileError, match="notes.npz.*not a readable .npz"):
        load_sketchrnn_npz(text)
    with pytest.raises(SketchFileError, match="no such file"):
        load_sketchrnn_npz(tmp_path / "missing.npz")


def test_bad_npy_header_and_short_data(tmp_path):
    path = _zip(tmp_path / "x.npz", {"train.npy": b"not a numpy file at all"})
    with pytest.raises(SketchFileError, match="train.npy.*not a valid .npy header"):
        load_sketchrnn_npz(path)
    header = {"descr": "<i8", "fortran_order": False, "shape": (100,)}
    path = _zip(tmp_path / "y.npz", {"train_key_id.npy": _npy_bytes(header, b"\x00" * 8)})
    with pytest.raises(SketchFileError, match="truncated or corrupt"):
        load_sketchrnn_npz(path)


def test_member_declaring_a_huge_size_is_refused(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez(path, train=np.zeros(10, dtype=np.int64))
    content = bytearray(path.read_bytes())
    # Patch the central directory's uncompressed size (offset 24 in the entry) to ~4 GiB.
    entry = content.index(b"PK\x01\x02")
    struct.pack_into("<I", content, entry + 24, 0xFFFFFFF0)
    path.write_bytes(bytes(content))
    with pytest.raises(SketchFileError, match="declares 4294967280 decompressed bytes"):
        load_sketchrnn_npz(path)


def test_decompressed_size_cap_is_configurable(tmp_path):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, train=np.zeros(1_000_000, dtype=np.uint8))  # ~1 KB compressed
    assert path.stat().st_size < 10_000
    with pytest.raises(SketchFileError, match="more than the limit of 100000"):
        load_sketchrnn_npz(path, limits=ReadLimits(max_member_bytes=100_000))
    assert load_sketchrnn_npz(path)["train"].shape == (1_000_000,)


def _bad_elements_file(tmp_path: Path) -> Path:
    items = [
        np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16),  # good
        np.array([[1.5, 2.0, 1.0]]),  # floats
        np.array([[1, 2]], dtype=np.int16),  # (N, 2)
        np.array([[1, 2, 3]], dtype=np.int16),  # pen 3
        np.zeros((0, 3), dtype=np.int16),  # empty
        np.array([[5, 6, 1]], dtype=np.int32),  # good, converted to int16
    ]
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    path = tmp_path / "mixed.npz"
    np.savez(path, train=array)
    return path


def test_bad_elements_named_by_split_and_index(tmp_path):
    path = _bad_elements_file(tmp_path)
    with pytest.raises(SketchFileError) as caught:
        list(iter_sketches(path))
    assert str(path) in str(caught.value) and "'train' index 1" in str(caught.value)
    assert "integers" in str(caught.value)


def test_skip_bad_counts_the_skipped_elements(tmp_path):
    path = _bad_elements_file(tmp_path)
    stats = ReadStats()
    records = list(iter_sketches(path, skip_bad=True, stats=stats))
    assert [record.index for record in records] == [0, 5]
    assert records[1].strokes.dtype == np.int16
    assert (stats.read, stats.skipped) == (2, 4)
    assert all("mixed.npz, 'train' index" in message for message in stats.messages)


def test_labels_out_of_range_and_missing_splits(tmp_path, square_sketch):
    path = tmp_path / "labels.npz"
    write_sketchrnn_npz(
        path, {"train": [square_sketch]}, train_label=np.array([7]), class_names=np.array(["a"])
    )
    with pytest.raises(SketchFileError, match="not an index into the 1 class_names"):
        list(iter_sketches(path))
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(SketchFileError, match="no 'train', 'valid' or 'test'"):
        list(iter_sketches(other))


@pytest.mark.parametrize("protocol", [2, 4])
def test_python3_pickles_of_any_protocol(tmp_path, square_sketch, protocol):
    # Protocol 2 written by Python 3 spells byte strings as _codecs.encode(text, "latin1").
    array = np.empty(2, dtype=object)
    array[0], array[1] = square_sketch, square_sketch[:2].astype(np.int32)
    payload = pickle.dumps(array, protocol=protocol)
    assert (b"_codecs" in payload) == (protocol == 2)
    path = _zip(tmp_path / "p.npz", {"train.npy": _object_npy(payload, count=2)})
    loaded = load_sketchrnn_npz(path)["train"]
    assert loaded[0].dtype == np.int16 and np.array_equal(loaded[0], square_sketch)
    assert loaded[1].dtype == np.int32 and np.array_equal(loaded[1], square_sketch[:2])
