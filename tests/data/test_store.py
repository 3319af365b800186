"""SketchStore: reading back, summaries, pickling and the checks made when opening a store."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from sketch_sources import make_sources, write_npz

from sketchssl.data.build import build_store
from sketchssl.data.formats import count_strokes
from sketchssl.data.store import SketchStore
from sketchssl.errors import StoreError


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, dict[str, list[np.ndarray]]]]:
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    sources = make_sources(source_dir)
    store_path = tmp_path / "store"
    build_store([source_dir], store_path, workers=1, progress=False)
    return store_path, sources


def test_every_sketch_reads_back_exactly(built):
    store_path, sources = built
    store = SketchStore.open(store_path)
    assert store.class_names == ["bus", "cat"]
    assert len(store) == 20
    # Order: sources sorted (bus.npz, cat.npz), records in file order (train, valid, test).
    expected, expected_labels, expected_splits = [], [], []
    for label, name in enumerate(["bus", "cat"]):
        for code, split in enumerate(("train", "valid", "test")):
            expected += sources[name][split]
            expected_labels += [label] * len(sources[name][split])
            expected_splits += [code] * len(sources[name][split])
    for index, sketch in enumerate(expected):
        got = store[index]
        assert got.dtype == np.int16 and got.shape == sketch.shape
        np.testing.assert_array_equal(got, sketch)
        assert store.label(index) == expected_labels[index]
    np.testing.assert_array_equal(store[-1], expected[-1])
    np.testing.assert_array_equal(store.splits, expected_splits)
    np.testing.assert_array_equal(store.lengths, [len(s) for s in expected])
    np.testing.assert_array_equal(store.key_ids, -1)
    assert store.label_name(0) == "bus"
    np.testing.assert_array_equal(
        store.split_indices("valid"), np.flatnonzero(np.array(expected_splits) == 1)
    )
    np.testing.assert_array_equal(store.split_indices("all"), np.arange(20))
    with pytest.raises(IndexError):
        store[20]
    with pytest.raises(StoreError, match="unknown split"):
        store.split_indices("training")


def test_arrays_are_read_only_memmaps_and_items_are_copies(built):
    store = SketchStore.open(built[0])
    assert isinstance(store.points, np.memmap)
    assert not store.points.flags.writeable
    item = store[0]
    item[0, 0] = 999  # a copy: the store is unchanged
    np.testing.assert_array_equal(store[0], built[1]["bus"]["train"][0])


def test_summary_matches_numpy(built):
    store_path, sources = built
    summary = SketchStore.open(store_path).summary()
    lengths = np.array(
        [len(s) for name in ("bus", "cat") for split in sources[name].values() for s in split]
    )
    assert summary["splits"] == {"train": 11, "valid": 5, "test": 4}
    assert summary["per_class"] == {"bus": 9, "cat": 11}
    assert summary["num_classes"] == 2 and summary["unlabelled"] == 0
    assert summary["num_points"] == lengths.sum()
    assert summary["lengths"] == {
        "min": lengths.min(),
        "mean": pytest.approx(lengths.mean()),
        "median": pytest.approx(np.median(lengths)),
        "p95": pytest.approx(np.percentile(lengths, 95)),
        "max": lengths.max(),
    }
    strokes = np.array(
        [
            count_strokes(s)
            for name in ("bus", "cat")
            for split in sources[name].values()
            for s in split
        ]
    )
    store = SketchStore.open(store_path)
    per_sketch = [count_strokes(store[index]) for index in range(len(store))]
    np.testing.assert_array_equal(store.stroke_counts(), per_sketch)
    assert summary["strokes"]["max"] == strokes.max()
    assert summary["strokes"]["mean"] == pytest.approx(strokes.mean())
    assert summary["strokes"]["median"] == pytest.approx(np.median(strokes))
    assert [Path(s["path"]).name for s in summary["sources"]] == ["bus.npz", "cat.npz"]
    json.dumps(summary)  # plain Python values only


def test_stroke_counts_end_a_stroke_at_the_last_point(tmp_path: Path):
    # hand-counted: two lifts; one lift then a pen-down tail (2 strokes); a single pen-down point
    sketches = [
        np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0], [1, 1, 1]], dtype=np.int16),
        np.array([[1, 0, 0], [1, 0, 1], [0, 2, 0]], dtype=np.int16),
        np.array([[3, 3, 0]], dtype=np.int16),
    ]
    write_npz(tmp_path / "hand.npz", {"train": sketches, "valid": [], "test": []})
    build_store([tmp_path / "hand.npz"], tmp_path / "store", workers=1, progress=False)
    store = SketchStore.open(tmp_path / "store")
    np.testing.assert_array_equal(store.stroke_counts(), [2, 2, 1])
    assert store.summary()["strokes"]["max"] == 2


def test_manifest_records_sources_options_and_checksums(built):
    store_path, _ = built
    manifest = json.loads((store_path / "manifest.json").read_text())
    assert manifest["format"] == "sketchssl-store" and manifest["version"] == 1
    source = manifest["sources"][0]
    assert source["size"] == os.path.getsize(source["path"])
    import hashlib

    assert source["sha256"] == hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
    assert manifest["build_options"]["split_seed"] == 0
    points_sha = hashlib.sha256((store_path / "points.npy").read_bytes()).hexdigest()
    assert manifest["arrays"]["points"]["sha256"] == points_sha
    SketchStore.open(store_path, verify=True)


def test_pickle_keeps_only_the_path_and_reopens(built):
    store = SketchStore.open(built[0])
    blob = pickle.dumps(store)
    assert len(blob) < 4000  # no array data inside
    clone = pickle.loads(blob)
    for index in range(len(store)):
        np.testing.assert_array_equal(clone[index], store[index])


def edit_manifest(store_path: Path, change) -> None:
    manifest_file = store_path / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    change(manifest)
    manifest_file.write_text(json.dumps(manifest))


@pytest.mark.parametrize("file_name", ["../outside.npy", "/etc/passwd", "sub/points.npy", "..", ""])
def test_manifest_member_outside_the_folder_is_refused(built, file_name):
    store_path, _ = built
    shutil.copy(store_path / "points.npy", store_path.parent / "outside.npy")
    edit_manifest(store_path, lambda m: m["arrays"]["points"].update(file=file_name))
    with pytest.raises(StoreError, match="manifest.json"):
        SketchStore.open(store_path)


def test_symlink_leading_outside_is_refused(built):
    store_path, _ = built
    outside = store_path.parent / "elsewhere.npy"
    shutil.copy(store_path / "labels.npy", outside)
    (store_path / "labels.npy").unlink()
    (store_path / "labels.npy").symlink_to(outside)
    with pytest.raises(StoreError, match="outside the store folder"):
        SketchStore.open(store_path)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda m: m.update(num_sketches=21), "says 21 sketches"),
        (lambda m: m.update(num_points=3), "says 3 points"),
        (lambda m: m["splits"].update(train=10), "'train' sketches"),
        (lambda m: m.update(class_names=["bus"]), "labels outside"),
        (lambda m: m.update(version=99), "version 99"),
        (lambda m: m["arrays"]["offsets"].update(shape=[5]), "shape"),
        (lambda m: m.pop("arrays"), "arrays"),
    ],
)
def test_manifest_tampering_is_reported(built, change, pattern):
    store_path, _ = built
    edit_manifest(store_path, change)
    with pytest.raises(StoreError, match=pattern) as caught:
        SketchStore.open(store_path)
    assert "rebuild" in str(caught.value)


def test_inconsistent_arrays_are_reported(built):
    store_path, _ = built
    offsets = np.load(store_path / "offsets.npy")
    offsets[3], offsets[4] = offsets[4], offsets[3]  # not monotone, same length and ends
    if offsets[3] == offsets[4]:
        offsets[3] += 1
    np.save(store_path / "offsets.npy", offsets)
    with pytest.raises(StoreError, match="offsets.npy.*monotone"):
        SketchStore.open(store_path)
    np.save(store_path / "offsets.npy", offsets[:-1])
    edit_manifest(store_path, lambda m: m["arrays"]["offsets"].pop("shape"))
    with pytest.raises(StoreError, match="offsets.npy"):
        SketchStore.open(store_path)


def test_checksum_verification_detects_changed_data(built):
    store_path, _ = built
    points = np.load(store_path / "points.npy")
    points[0, 0] += 1
    np.save(store_path / "points.npy", points)
    SketchStore.open(store_path)  # shapes still agree
    with pytest.raises(StoreError, match="checksum"):
        SketchStore.open(store_path, verify=True)


def test_missing_and_non_store_folders(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        SketchStore.open(tmp_path / "nothing")
    with pytest.raises(StoreError, match="not a sketch store"):
        SketchStore.open(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="folder"):
        SketchStore.open(tmp_path / "file")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable manifest"):
        SketchStore.open(tmp_path / "bad")


def test_missing_array_file(built):
    store_path, _ = built
    (store_path / "key_ids.npy").unlink()
    with pytest.raises(StoreError, match="key_ids.npy: missing array file"):
        SketchStore.open(store_path)


def test_store_being_built_is_detected(tmp_path):
    (tmp_path / ".mystore.tmp-12345-abcd").mkdir()
    with pytest.raises(StoreError, match="a build of this store is in progress"):
        SketchStore.open(tmp_path / "mystore")
