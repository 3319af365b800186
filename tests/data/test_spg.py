"""SPG part-labelled QuickDraw files: reading, labels through simplification, stores with parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sketchssl.data.build import DEFAULT_SPG_SPLIT_COUNTS, build_store
from sketchssl.data.io import iter_sketches
from sketchssl.data.io.npz import iter_npz
from sketchssl.data.io.spg import iter_spg, read_part_names
from sketchssl.data.simplify import resample_polyline_labelled
from sketchssl.data.store import SketchStore
from sketchssl.errors import SketchFileError, StoreError
from sketchssl.render.views import SketchDataset


def write_spg(
    folder: Path, category: str, drawings: list, parts: str = "a\nb\n", key_base: int = 1000
) -> Path:
    """One SPG file and its parts file; ``drawings`` are lists of ``[xs, ys, parts]``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{category}.ndjson"
    lines = [
        json.dumps({"i": index, "key_id": str(key_base + index), "drawing": drawing})
        for index, drawing in enumerate(drawings)
    ]
    path.write_text("\n".join(lines) + "\n")
    (folder / f"{category}.parts.txt").write_text(parts)
    return path


# An L: 0..100 along x (part 0), then a separate stroke 0..100 down y at x = 100 (part 1).
# After scaling (extent 100 -> 255) and RDP, each straight stroke keeps its two end points.
L_DRAWING = [
    [list(range(0, 101, 10)), [0] * 11, [0] * 11],
    [[100] * 11, list(range(0, 101, 10)), [1] * 11],
]


def test_resample_labelled_takes_the_label_of_the_segment_start() -> None:
    points = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    resampled, labels = resample_polyline_labelled(points, np.array([5, 7, 9]), spacing=1.0)
    assert resampled[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # points 0..1 lie on segment 0 (label 5), 2..3 on segment 1 (label 7); the end keeps 9
    assert labels.tolist() == [5, 5, 7, 7, 9]


def test_reads_an_spg_file_with_labels_on_the_stroke3_rows(tmp_path: Path) -> None:
    path = write_spg(tmp_path, "alarm_clock", [L_DRAWING])
    (record,) = list(iter_sketches(path))
    assert record.label == "alarm clock"  # QuickDraw's spelling of the category
    assert record.key_id == 1000
    assert record.part_names == ("a", "b")
    # 4 kept points (0,0) (255,0) | (255,0) (255,255): stroke-3 drops the first point
    assert record.strokes.tolist() == [[255, 0, 1], [0, 0, 0], [0, 255, 1]]
    # row r ends at point r + 1: the end of stroke 1 (part 0), then both points of stroke 2
    assert record.parts.tolist() == [0, 1, 1]
    assert record.parts.dtype == np.int8


def test_a_repeated_part_list_is_accepted_a_different_one_is_not(tmp_path: Path) -> None:
    repeated = [stroke + [stroke[2]] for stroke in L_DRAWING]
    (record,) = list(iter_spg(write_spg(tmp_path / "ok", "cat", [repeated])))
    assert record.parts.tolist() == [0, 1, 1]
    different = [stroke + [[1 - p for p in stroke[2]]] for stroke in L_DRAWING]
    with pytest.raises(SketchFileError, match=r"cat\.ndjson, line 1: stroke 0 must be"):
        list(iter_spg(write_spg(tmp_path / "bad", "cat", [different])))


@pytest.mark.parametrize(
    ("stroke", "message"),
    [
        ([[0, 5, 9], [0, 5, 9], [0, 0]], r"3 xs, 3 ys and 2 part labels"),
        ([[0, 5, 9], [0, 5, 9], [0, 0, 2]], r"part index 2 outside cat\.parts\.txt \(2 parts"),
        ([[0, 5.5, 9], [0, 5, 9], [0, 0, 1]], r"holds 5\.5; SPG coordinates .* are integers"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, stroke: list, message: str) -> None:
    path = write_spg(tmp_path, "cat", [L_DRAWING, [stroke]])
    with pytest.raises(SketchFileError, match=r"cat\.ndjson, line 2: .*" + message):
        list(iter_spg(path))
    skipped = []
    from sketchssl.data.records import ReadStats

    stats = ReadStats()
    skipped = list(iter_spg(path, skip_bad=True, stats=stats))
    assert len(skipped) == 1 and stats.skipped == 1


def test_missing_parts_file_is_named(tmp_path: Path) -> None:
    path = write_spg(tmp_path, "cat", [L_DRAWING])
    (tmp_path / "cat.parts.txt").unlink()
    # without its parts file the file reads as plain QuickDraw ndjson, which says what is missing
    with pytest.raises(SketchFileError, match=r"line 1: missing key 'word'; .*cat.*parts\.txt"):
        list(iter_sketches(path))
    with pytest.raises(SketchFileError, match=r"cat\.parts\.txt: missing part-name file"):
        list(iter_spg(path))


def test_part_names_drop_trailing_blanks_and_refuse_inner_ones(tmp_path: Path) -> None:
    (tmp_path / "x.parts.txt").write_text("wing\nbody\n\n\n")
    assert read_part_names(tmp_path / "x.parts.txt") == ("wing", "body")
    (tmp_path / "y.parts.txt").write_text("wing\n\nbody\n")
    with pytest.raises(SketchFileError, match=r"y\.parts\.txt, line 2: blank part name"):
        read_part_names(tmp_path / "y.parts.txt")


def test_a_bad_line_leaves_no_store_behind(tmp_path: Path) -> None:
    write_spg(tmp_path / "src", "cat", [L_DRAWING, [[[0, 1], [0, 1], [0, 7]]]])
    with pytest.raises(SketchFileError, match="line 2"):
        build_store([tmp_path / "src"], tmp_path / "out.store", workers=1, progress=False)
    assert not (tmp_path / "out.store").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.store")]


def test_store_keeps_parts_and_split_counts(tmp_path: Path) -> None:
    drawings = [L_DRAWING] * 14
    write_spg(tmp_path / "src", "cat", drawings, parts="ear\nbody\n")
    write_spg(tmp_path / "src", "dog", drawings[:7], parts="tail\nhead\nleg\n", key_base=2000)
    report = build_store(
        [tmp_path / "src"],
        tmp_path / "s.store",
        workers=1,
        progress=False,
        split_counts=(6, 2, 2),
    )
    store = SketchStore.open(tmp_path / "s.store", verify=True)
    assert store.has_parts
    assert store.part_names == {"cat": ["ear", "body"], "dog": ["tail", "head", "leg"]}
    labels, splits = np.asarray(store.labels), np.asarray(store.splits)
    # cat: 14 drawings -> 6 / 2 / 2 and 4 left out; dog: 7 < 10 -> in proportion 5 / 1 / 1
    assert np.bincount(splits[labels == 0], minlength=3).tolist() == [6, 2, 2]
    assert np.bincount(splits[labels == 1], minlength=3).tolist() == [5, 1, 1]
    assert report.left_out_by_counts == 4 and report.short_classes == ["dog"]
    assert store.parts_of(0).tolist() == [0, 1, 1]
    first, pairs = store.part_slots()
    assert first.tolist() == [0, 2, 5]
    assert pairs[2] == ("dog", "tail")


def test_duplicate_key_ids_keep_the_part_labelled_copy(tmp_path: Path) -> None:
    from sketchssl.data.io.npz import write_sketchrnn_npz

    write_spg(tmp_path / "spg", "cat", [L_DRAWING, L_DRAWING])  # key ids 1000, 1001
    sketch = np.array([[5, 0, 0], [0, 5, 1]], dtype=np.int16)
    # an .npz file read first (sorted by path) holding key id 1000 too, without parts
    write_sketchrnn_npz(
        tmp_path / "a.npz",
        {"train": [sketch, sketch]},
        train_key_id=np.array([1000, 7], dtype=np.int64),
    )
    report = build_store(
        [tmp_path / "a.npz", tmp_path / "spg"], tmp_path / "m.store", workers=1, progress=False
    )
    store = SketchStore.open(tmp_path / "m.store")
    assert report.duplicates_dropped == 1
    assert store.summary()["duplicates_dropped"] == 1
    assert sorted(np.asarray(store.key_ids).tolist()) == [7, 1000, 1001]
    kept = int(np.flatnonzero(np.asarray(store.key_ids) == 1000)[0])
    assert store.parts_of(kept).tolist() == [0, 1, 1]  # the SPG copy won
    assert store.parts_of(int(np.flatnonzero(np.asarray(store.key_ids) == 7)[0])).tolist() == [
        -1,
        -1,
    ]


def test_a_store_with_parts_refuses_tampered_labels(tmp_path: Path) -> None:
    write_spg(tmp_path / "src", "cat", [L_DRAWING])
    build_store([tmp_path / "src"], tmp_path / "s.store", workers=1, progress=False)
    np.save(tmp_path / "s.store" / "parts.npy", np.zeros(2, dtype=np.int8))
    with pytest.raises(StoreError, match=r"parts\.npy.*(2 part labels for 3 points|shape)"):
        SketchStore.open(tmp_path / "s.store")


def test_views_align_parts_with_the_rows(tmp_path: Path) -> None:
    write_spg(tmp_path / "src", "cat", [L_DRAWING])
    build_store(
        [tmp_path / "src"], tmp_path / "s.store", workers=1, progress=False, split_counts=(1, 0, 0)
    )
    dataset = SketchDataset(
        tmp_path / "s.store",
        views=("sequence", "points"),
        max_len=6,
        start_token=True,
        with_parts=True,
    )
    item = dataset[0]
    # strokes5: the start token, then the 3 rows; points: the implicit first point, then rows
    assert item["parts"].tolist() == [-1, 0, 1, 1, -1, -1, -1]
    assert item["point_parts"].tolist() == [-1, 0, 1, 1, -1, -1]
    assert item["strokes5"].shape[0] == len(item["parts"])
    assert item["points"].shape[0] == len(item["point_parts"])


def test_views_refuse_parts_of_a_store_without_them(tmp_path: Path, square_sketch) -> None:
    from sketchssl.data.io.npz import write_sketchrnn_npz

    write_sketchrnn_npz(tmp_path / "sq.npz", {"train": [square_sketch]})
    build_store([tmp_path / "sq.npz"], tmp_path / "s.store", workers=1, progress=False)
    with pytest.raises(StoreError, match="no part labels; build it from SPG files"):
        SketchDataset(tmp_path / "s.store", with_parts=True)


# ------------------------------------------------------------------ the real SPG20 files


def test_real_spg20_category_reads_as_documented(shared_data: Path) -> None:
    folder = shared_data / "quickdraw_spg20"
    records = list(iter_sketches(folder / "airplane.ndjson"))
    assert len(records) == 700
    assert records[0].part_names == ("front wings", "body", "windows", "tail wings")
    assert all(len(r.parts) == len(r.strokes) for r in records)
    assert all(0 <= r.parts.min() and r.parts.max() <= 3 for r in records)
    # simplified as QuickDraw's own files: the drawings that are also in the mini set (Google's
    # simplification of the same drawing) come out within a few points of them
    mini = {
        r.key_id: r.strokes
        for r in iter_npz(shared_data / "quickdraw_sketchrnn_mini" / "airplane.npz")
    }
    shared = [(r.strokes, mini[r.key_id]) for r in records if r.key_id in mini]
    assert len(shared) >= 10
    for ours, google in shared:
        assert abs(len(ours) - len(google)) <= 6
        assert abs(int(ours[:, 2].sum()) - int(google[:, 2].sum())) <= 1  # same strokes


def test_real_spg20_build_mixed_with_the_mini_set(shared_data: Path, tmp_path: Path) -> None:
    spg = shared_data / "quickdraw_spg20"
    mini = shared_data / "quickdraw_sketchrnn_mini"
    sources = [spg / f"{name}.ndjson" for name in ("airplane", "alarm_clock")]
    sources += [mini / "airplane.npz", mini / "alarm clock.npz"]
    report = build_store(sources, tmp_path / "mix.store", workers=1, progress=False)
    store = SketchStore.open(tmp_path / "mix.store")
    assert store.class_names == ["airplane", "alarm clock"]
    overlap = report.duplicates_dropped
    assert overlap > 0  # SPG drawings that are also in the mini set are stored once
    mini_count = sum(1 for path in sources[2:] for _ in iter_npz(path))
    assert len(store) == 1400 + mini_count - overlap
    spg_records = [r for s in sources[:2] for r in iter_sketches(s)]
    # every SPG drawing keeps its labels; the mini set's own drawings have none
    labelled = int((np.asarray(store._array("parts")) >= 0).sum())
    assert labelled == sum(len(r.strokes) for r in spg_records)
    # the SPG drawings' default split: 600 / 50 / 50 a class
    spg_rows = np.flatnonzero(np.isin(np.asarray(store.key_ids), [r.key_id for r in spg_records]))
    assert len(spg_rows) == 1400
    counts = np.bincount(np.asarray(store.splits)[spg_rows], minlength=3)
    assert counts.tolist() == [2 * n for n in DEFAULT_SPG_SPLIT_COUNTS]
