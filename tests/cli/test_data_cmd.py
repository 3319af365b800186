"""`sketchssl data build | info | download` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sketchssl.cli.app import app
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, StoreError

runner = CliRunner()


def write_sources(folder: Path) -> None:
    from sketchssl.data.io import write_sketchrnn_npz

    rng = np.random.default_rng(0)
    for number, name in enumerate(("ant", "bee", "cow", "dog", "eel", "fox", "gnu")):
        splits = {
            split: [
                np.column_stack([rng.integers(-9, 10, (n, 2)), np.r_[np.zeros(n - 1), 1]]).astype(
                    np.int16
                )
                for n in rng.integers(3, 20, size=count)
            ]
            for split, count in (("train", 3 + number), ("valid", 1), ("test", 1))
        }
        write_sketchrnn_npz(folder / f"{name}.npz", splits)


def test_build_then_info(tmp_path):
    write_sources(tmp_path)
    out = tmp_path / "store"
    result = runner.invoke(
        app, ["data", "build", str(tmp_path), "-o", str(out), "--workers", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "built" in result.output and "7 classes" in result.output
    store = SketchStore.open(out)
    assert len(store) == sum(3 + n for n in range(7)) + 14

    result = runner.invoke(app, ["data", "info", str(out), "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "train 42, valid 7, test 7" in result.output
    assert "top and bottom 3" in result.output
    lines = result.output.splitlines()
    start = lines.index("per class (top and bottom 3; --all lists every class):")
    assert [line.split() for line in lines[start + 1 : start + 8]] == [
        ["11", "gnu"],
        ["10", "fox"],
        ["9", "eel"],
        ["..."],
        ["7", "cow"],
        ["6", "bee"],
        ["5", "ant"],
    ]
    result = runner.invoke(app, ["data", "info", str(out), "--all"])
    assert "8  dog" in result.output and "... and" not in result.output

    result = runner.invoke(app, ["data", "info", str(out), "--json"])
    summary = json.loads(result.output)
    assert summary == json.loads(json.dumps(store.summary()))
    assert summary["per_class"]["ant"] == 5


def test_build_options_and_errors(tmp_path):
    write_sources(tmp_path)
    out = tmp_path / "store"
    args = ["data", "build", str(tmp_path / "ant.npz"), "-o", str(out), "-j", "1", "-q"]
    assert runner.invoke(app, [*args, "--max-len", "14"]).exit_code == 0
    assert SketchStore.open(out).lengths.tolist() == [13, 11, 13]  # of 17, 13, 11, 13, 17
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and isinstance(again.exception, StoreError)
    assert "--force" in str(again.exception)
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    result = runner.invoke(app, [*args, "--force", "--json", "--split-ratios", "0.5,0.5,0"])
    report = json.loads(result.output)
    assert report["num_sketches"] == 5 and report["splits"]["test"] == 1  # the file's own split
    assert report["path"] == str(out)
    bad = runner.invoke(app, [*args, "--force", "--split-ratios", "0.8,0.2"])
    assert isinstance(bad.exception, ConfigError)
    missing = runner.invoke(app, ["data", "info", str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, StoreError)


def test_download_calls_the_downloader(tmp_path, monkeypatch):
    download = pytest.importorskip("sketchssl.data.download")
    calls = []

    def fake(categories, out_dir, **options):
        calls.append((list(categories), Path(out_dir), options))
        return [Path(out_dir) / f"{name}.ndjson" for name in categories]

    monkeypatch.setattr(download, "download_categories", fake)
    result = runner.invoke(
        app,
        [
            "data",
            "download",
            "cat",
            "The Eiffel Tower",
            "--format",
            "simplified",
            "-o",
            str(tmp_path),
            "--base-url",
            "http://localhost:1/qd",
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        (
            ["cat", "The Eiffel Tower"],
            tmp_path,
            {"fmt": "simplified", "base_url": "http://localhost:1/qd"},
        )
    ]
    assert "cat.ndjson" in result.output
    wrong = runner.invoke(app, ["data", "download", "cat", "--format", "svg", "-o", str(tmp_path)])
    assert isinstance(wrong.exception, ConfigError)


def test_info_on_the_real_mini_store(shared_data, tmp_path):
    out = tmp_path / "mini"
    result = runner.invoke(
        app,
        ["data", "build", str(shared_data / "quickdraw_sketchrnn_mini"), "-o", str(out), "-q"],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "info", str(out)])
    assert result.exit_code == 0, result.output
    assert "sketches   10317 (train 8397, valid 960, test 960)" in result.output
    assert "classes    345 (0 sketches unlabelled)" in result.output
    assert "sources    345" in result.output
