"""build_store: parallel reading, deterministic splits, atomic replace, cleanup, real data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sketch_sources import make_sources, random_sketch, write_npz

from sketchssl.data.build import build_store
from sketchssl.data.formats import polylines_to_stroke3
from sketchssl.data.store import SketchStore
from sketchssl.errors import SketchFileError, StoreError


def write_ndjson(path: Path, word: str, key_ids: list[int], seed: int = 0) -> list[np.ndarray]:
    """Google "simplified" ndjson lines written by hand; returns the expected stroke-3."""
    rng = np.random.default_rng(seed)
    expected = []
    with open(path, "w") as handle:
        for key_id in key_ids:
            strokes = []
            for _ in range(int(rng.integers(1, 4))):
                count = int(rng.integers(2, 8))
                strokes.append(rng.integers(0, 256, size=(count, 2)))
            drawing = [[stroke[:, 0].tolist(), stroke[:, 1].tolist()] for stroke in strokes]
            line = {
                "word": word,
                "countrycode": "GB",
                "timestamp": "2017-03-01 12:00:00.00000 UTC",
                "recognized": True,
                "key_id": str(key_id),
                "drawing": drawing,
            }
            handle.write(json.dumps(line) + "\n")
            expected.append(polylines_to_stroke3(strokes, dtype=np.int16))
    return expected


def store_contents(path: Path) -> dict[str, np.ndarray]:
    store = SketchStore.open(path)
    return {
        "points": np.array(store.points),
        "offsets": np.array(store.offsets),
        "labels": np.array(store.labels),
        "splits": np.array(store.splits),
        "key_ids": np.array(store.key_ids),
    }


def test_parallel_build_equals_serial_build(tmp_path):
    make_sources(tmp_path)
    write_ndjson(tmp_path / "tree.ndjson", "tree", list(range(100, 130)))
    sources = sorted(str(p) for p in tmp_path.iterdir())
    serial = build_store(sources, tmp_path / "one", workers=1, progress=False)
    parallel = build_store(reversed(sources), tmp_path / "two", workers=2, progress=False)
    assert serial.num_sketches == parallel.num_sketches == 50
    assert serial.num_classes == 3
    one, two = store_contents(tmp_path / "one"), store_contents(tmp_path / "two")
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])


def test_ndjson_records_read_back_with_hashed_deterministic_split(tmp_path):
    key_ids = list(range(5000, 5400))
    expected = write_ndjson(tmp_path / "tree.ndjson", "tree", key_ids)
    report = build_store(
        [tmp_path / "tree.ndjson"],
        tmp_path / "a",
        workers=1,
        progress=False,
        split_ratios=(0.5, 0.25, 0.25),
        split_seed=7,
    )
    store = SketchStore.open(tmp_path / "a")
    assert report.num_sketches == len(store) == 400
    for index, sketch in enumerate(expected):
        np.testing.assert_array_equal(store[index], sketch)
    np.testing.assert_array_equal(store.key_ids, key_ids)
    assert store.class_names == ["tree"]
    counts = np.bincount(store.splits, minlength=3)
    assert abs(counts[0] - 200) < 45 and abs(counts[1] - 100) < 35 and abs(counts[2] - 100) < 35

    # Same key ids in a different file, order and folder: each key keeps its split.
    shuffled = list(reversed(key_ids))
    (tmp_path / "other").mkdir()
    write_ndjson(tmp_path / "other" / "shrub.ndjson", "shrub", shuffled)
    build_store(
        [tmp_path / "other"],
        tmp_path / "b",
        workers=1,
        progress=False,
        split_ratios=(0.5, 0.25, 0.25),
        split_seed=7,
    )
    again = SketchStore.open(tmp_path / "b")
    split_of = dict(zip(store.key_ids.tolist(), store.splits.tolist(), strict=True))
    assert [split_of[k] for k in again.key_ids.tolist()] == again.splits.tolist()

    build_store(
        [tmp_path / "tree.ndjson"],
        tmp_path / "c",
        workers=1,
        progress=False,
        split_ratios=(0.5, 0.25, 0.25),
        split_seed=8,
    )
    other_seed = SketchStore.open(tmp_path / "c")
    assert (other_seed.splits != store.splits).mean() > 0.3


def test_npz_splits_are_kept_and_max_len_filters(tmp_path):
    sources = make_sources(tmp_path)
    report = build_store(
        [tmp_path / "cat.npz"], tmp_path / "s", workers=1, progress=False, max_len=20
    )
    store = SketchStore.open(tmp_path / "s")
    kept = {
        split: [s for s in sources["cat"][split] if len(s) <= 20]
        for split in ("train", "valid", "test")
    }
    assert report.dropped_too_long == 11 - sum(len(v) for v in kept.values())
    for split in ("train", "valid", "test"):
        got = [store[i] for i in store.split_indices(split)]
        assert len(got) == len(kept[split])
        for a, b in zip(got, kept[split], strict=True):
            np.testing.assert_array_equal(a, b)
    assert store.manifest["build_options"]["max_len"] == 20


def test_bad_source_stops_the_build_and_leaves_nothing(tmp_path):
    write_ndjson(tmp_path / "ok.ndjson", "ok", [1, 2, 3])
    with open(tmp_path / "ok.ndjson", "a") as handle:
        handle.write('{"word": "ok", "drawing": [[[1, 2], [3]]\n')  # truncated JSON, line 4
    out = tmp_path / "store"
    with pytest.raises(SketchFileError, match=r"ok\.ndjson.*4"):
        build_store([tmp_path / "ok.ndjson"], out, workers=1, progress=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ok.ndjson"]
    # The same error comes back intact from a worker process.
    write_ndjson(tmp_path / "fine.ndjson", "fine", [9])
    with pytest.raises(SketchFileError, match=r"ok\.ndjson.*4"):
        build_store([tmp_path], out, workers=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fine.ndjson", "ok.ndjson"]

    report = build_store([tmp_path], out, workers=2, skip_bad=True, progress=False)
    assert report.num_sketches == 4
    assert report.skipped == {str((tmp_path / "ok.ndjson").resolve()): 1}
    assert SketchStore.open(out).manifest["skipped"]["total"] == 1


def test_argument_errors(tmp_path):
    make_sources(tmp_path)
    with pytest.raises(StoreError, match="no such file"):
        build_store([tmp_path / "missing.npz"], tmp_path / "s", progress=False)
    with pytest.raises(StoreError, match="split ratios"):
        build_store([tmp_path], tmp_path / "s", split_ratios=(0.5, 0.5, 0.5), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no sketch files"):
        build_store([tmp_path / "empty"], tmp_path / "s", progress=False)
    with pytest.raises(StoreError, match="not a sketch store"):
        build_store([tmp_path / "cat.npz"], tmp_path / "empty", overwrite=True, progress=False)


def test_existing_store_needs_overwrite_and_is_replaced(tmp_path):
    make_sources(tmp_path)
    out = tmp_path / "store"
    build_store([tmp_path / "cat.npz"], out, workers=1, progress=False)
    with pytest.raises(StoreError, match="already exists"):
        build_store([tmp_path / "bus.npz"], out, workers=1, progress=False)
    assert SketchStore.open(out).class_names == ["cat"]
    build_store([tmp_path / "bus.npz"], out, workers=1, overwrite=True, progress=False)
    assert SketchStore.open(out).class_names == ["bus"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bus.npz", "cat.npz", "store"]


def test_replace_without_atomic_exchange(tmp_path, monkeypatch):
    from sketchssl.data import folder_swap

    make_sources(tmp_path)
    out = tmp_path / "store"
    build_store([tmp_path / "cat.npz"], out, workers=1, progress=False)
    monkeypatch.setattr(folder_swap, "_exchange", lambda first, second: False)
    build_store([tmp_path / "bus.npz"], out, workers=1, overwrite=True, progress=False)
    assert SketchStore.open(out).class_names == ["bus"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bus.npz", "cat.npz", "store"]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_store_moved_aside_by_an_interrupted_replace_is_restored(tmp_path):
    make_sources(tmp_path)
    out = tmp_path / "store"
    build_store([tmp_path / "cat.npz"], out, workers=1, progress=False)
    out.rename(tmp_path / f".store.old-{dead_pid()}-abcd")  # died between the two renames
    with pytest.raises(StoreError, match="in progress .or was interrupted"):
        SketchStore.open(out)
    with pytest.raises(StoreError, match="already exists"):
        build_store([tmp_path / "bus.npz"], out, workers=1, progress=False)
    assert SketchStore.open(out).class_names == ["cat"]
    assert not list(tmp_path.glob(".store.*"))


SLOW_BUILD = """
import sys, time
from sketchssl.data import build
original = build._read_source
def slow(*args, **kwargs):
    time.sleep(0.4)
    return original(*args, **kwargs)
build._read_source = slow
build.build_store(sys.argv[1:-1], sys.argv[-1], workers=1, overwrite=True, progress=False)
"""


def start_slow_build(sources: list[Path], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, *map(str, sources), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_when_tmp_appears(process: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 30
    while not list(out.parent.glob(f".{out.name}.tmp-*")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_killed_build_leaves_old_store_and_next_build_cleans_up(tmp_path):
    sources = make_sources(tmp_path)
    for index in range(4):
        write_npz(
            tmp_path / f"extra{index}.npz",
            {"train": [random_sketch(np.random.default_rng(index), 12)]},
        )
    out = tmp_path / "store"
    build_store([tmp_path / "cat.npz"], out, workers=1, progress=False)

    process = start_slow_build(sorted(tmp_path.glob("*.npz")), out)
    kill_when_tmp_appears(process, out)
    assert process.returncode == -signal.SIGKILL
    store = SketchStore.open(out)  # the old store, whole
    assert store.class_names == ["cat"]
    np.testing.assert_array_equal(store[0], sources["cat"]["train"][0])
    leftovers = list(tmp_path.glob(".store.tmp-*"))
    assert len(leftovers) == 1  # hidden, never under the store's name

    build_store([tmp_path / "bus.npz"], out, workers=1, overwrite=True, progress=False)
    assert SketchStore.open(out).class_names == ["bus"]
    assert not list(tmp_path.glob(".store.*"))  # the dead build's folder is gone


def test_killed_first_build_is_reported_as_in_progress(tmp_path):
    make_sources(tmp_path)
    out = tmp_path / "fresh"
    process = start_slow_build([tmp_path / "bus.npz", tmp_path / "cat.npz"], out)
    kill_when_tmp_appears(process, out)
    with pytest.raises(StoreError, match="a build of this store is in progress"):
        SketchStore.open(out)
    build_store([tmp_path / "bus.npz"], out, workers=1, progress=False)
    assert len(SketchStore.open(out)) == 9
    assert not list(tmp_path.glob(".fresh.*"))


def test_live_build_is_not_disturbed(tmp_path):
    make_sources(tmp_path)
    busy = tmp_path / f".store.tmp-{os.getppid()}-abcd"
    busy.mkdir()
    with pytest.raises(StoreError, match="another build of this store is running"):
        build_store([tmp_path / "cat.npz"], tmp_path / "store", workers=1, progress=False)
    assert busy.is_dir()


DISK_FULL_BUILD = """
import resource, signal, sys
from sketchssl.data.build import build_store
from sketchssl.errors import StoreError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (30000, 30000))
try:
    build_store([sys.argv[1]], sys.argv[2], workers=1, progress=False)
except StoreError as error:
    print(error)
    sys.exit(3)
"""


def test_disk_full_gives_a_clear_error_and_cleans_up(tmp_path):
    rng = np.random.default_rng(0)
    write_npz(tmp_path / "big.npz", {"train": [random_sketch(rng, 100) for _ in range(100)]})
    out = tmp_path / "store"
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL_BUILD, str(tmp_path / "big.npz"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "disk is full" in result.stdout and str(out) in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]


def test_doodles_source(tmp_path):
    doodles = pytest.importorskip("sketchssl.data.doodles")
    report = build_store(["doodles:3:1"], tmp_path / "d", workers=1, progress=False)
    store = SketchStore.open(tmp_path / "d")
    assert store.class_names == sorted(doodles.DOODLE_CLASSES)
    assert report.num_sketches == 3 * len(doodles.DOODLE_CLASSES)
    expected = list(doodles.iter_doodle_records(3, 1))
    for index, record in enumerate(expected):
        np.testing.assert_array_equal(store[index], record.strokes)
        assert store.label_name(index) == record.label
    assert store.manifest["sources"] == [
        {"source": "doodles:3:1", "per_class": 3, "seed": 1, "read": len(expected), "skipped": 0}
    ]


def test_real_sketchrnn_mini_store(shared_data, tmp_path):
    folder = shared_data / "quickdraw_sketchrnn_mini"
    files = sorted(folder.glob("*.npz"))
    report = build_store(files, tmp_path / "mini", workers=2, progress=False)
    assert report.splits == {"train": 8397, "valid": 960, "test": 960}
    assert report.num_classes == 345
    store = SketchStore.open(tmp_path / "mini")
    assert "The Great Wall of China" in store.class_names
    # Spot-check against the labelled single-file copy of the same data.
    with np.load(
        shared_data / "quickdraw345_mini_all.npz", allow_pickle=True, encoding="latin1"
    ) as combined:
        assert list(combined["class_names"]) == store.class_names
        test_labels = combined["test_label"]
        test_sketches = combined["test"]
        test_indices = store.split_indices("test")
        assert np.bincount(store.labels[test_indices], minlength=345).tolist() == (
            np.bincount(test_labels, minlength=345).tolist()
        )
        by_label: dict[int, list[np.ndarray]] = {}
        for sketch, label in zip(test_sketches, test_labels, strict=True):
            by_label.setdefault(int(label), []).append(sketch)
        for index in test_indices[::37]:
            matches = by_label[store.label(int(index))]
            assert any(np.array_equal(store[int(index)], m) for m in matches)


def test_real_simplified_ndjson_store(shared_data, tmp_path):
    folder = shared_data / "quickdraw_ndjson" / "simplified_first25"
    report = build_store([folder], tmp_path / "nd", workers=2, progress=False)
    store = SketchStore.open(tmp_path / "nd")
    assert report.num_sketches == len(store) > 8000
    assert len(store.class_names) == 344
    assert (store.key_ids >= 0).all()
    assert min(report.splits.values()) > 500
