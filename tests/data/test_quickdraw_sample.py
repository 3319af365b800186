"""The built-in sample of real QuickDraw drawings: what it holds and that it can be rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sketchssl.data.build import build_store
from sketchssl.data.io import load_sketchrnn_npz
from sketchssl.data.quickdraw_sample import SAMPLE_SOURCE, make_quickdraw_sample, sample_path
from sketchssl.data.store import SketchStore


def test_the_sample_ships_with_the_package_and_builds_by_name(tmp_path: Path) -> None:
    assert sample_path().is_file()
    assert sample_path().stat().st_size < 1 << 20  # a small file
    report = build_store([SAMPLE_SOURCE], tmp_path / "s.store", workers=1, progress=False)
    assert report.splits == {"train": 1600, "valid": 200, "test": 200}
    store = SketchStore.open(tmp_path / "s.store")
    assert len(store.class_names) == 20 and "alarm clock" in store.class_names
    assert set(store.summary()["per_class"].values()) == {100}
    assert not store.has_parts  # strokes only


def test_the_sample_is_rebuilt_from_the_spg20_files(shared_data: Path, tmp_path: Path) -> None:
    build_store(
        [shared_data / "quickdraw_spg20"], tmp_path / "spg.store", workers=1, progress=False
    )
    make_quickdraw_sample(tmp_path / "spg.store", tmp_path / "again.npz")
    shipped, rebuilt = load_sketchrnn_npz(sample_path()), load_sketchrnn_npz(tmp_path / "again.npz")
    assert sorted(shipped) == sorted(rebuilt)
    for key in shipped:
        if key in ("train", "valid", "test"):
            assert len(shipped[key]) == len(rebuilt[key])
            assert all(
                np.array_equal(a, b) for a, b in zip(shipped[key], rebuilt[key], strict=True)
            )
        else:
            assert np.array_equal(shipped[key], rebuilt[key])
    # the sample's test drawings are SPG20 test drawings
    spg = SketchStore.open(tmp_path / "spg.store")
    test_keys = set(np.asarray(spg.key_ids)[spg.split_indices("test")].tolist())
    assert set(shipped["test_key_id"].tolist()) <= test_keys
