"""`sketchssl render` on real QuickDraw files and stores, and its errors."""

from __future__ import annotations

import pytest
from PIL import Image
from typer.testing import CliRunner

from sketchssl.cli.app import app
from sketchssl.cli.render_cmd import parse_index
from sketchssl.errors import ConfigError

runner = CliRunner()


def test_parse_index():
    assert parse_index("0:3", 10) == [0, 1, 2]
    assert parse_index("-2:", 10) == [8, 9]
    assert parse_index("1,4,9", 10) == [1, 4, 9]
    with pytest.raises(ConfigError, match="out of range"):
        parse_index("12", 10)
    with pytest.raises(ConfigError, match="slice like"):
        parse_index("a:b", 10)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".gif"])
def test_render_real_cat_file(shared_data, tmp_path, suffix):
    out = tmp_path / f"cat{suffix}"
    result = runner.invoke(
        app,
        [
            "render",
            str(shared_data / "quickdraw_sketchrnn_mini" / "cat.npz"),
            "--index",
            "0:16",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "16 sketches" in result.output
    if suffix == ".png":
        image = Image.open(out)
        assert image.width > image.height  # 8 columns, 2 rows
        assert (0 < __import__("numpy").asarray(image)).any()


def test_render_labelled_file_and_ndjson(shared_data, tmp_path):
    result = runner.invoke(
        app,
        [
            "render",
            str(shared_data / "quickdraw345_mini_all.npz"),
            "--index",
            "0,100",
            "--split",
            "test",
            "-o",
            str(tmp_path / "a.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    ndjson = shared_data / "quickdraw_ndjson" / "simplified_first25" / "bee.ndjson"
    result = runner.invoke(
        app, ["render", str(ndjson), "--index", "0:4", "-o", str(tmp_path / "b.png")]
    )
    assert result.exit_code == 0, result.output


def test_render_errors(shared_data, tmp_path):
    cat = shared_data / "quickdraw_sketchrnn_mini" / "cat.npz"
    result = runner.invoke(
        app, ["render", str(cat), "--index", "500", "-o", str(tmp_path / "x.png")]
    )
    assert isinstance(result.exception, ConfigError) and "out of range" in str(result.exception)
    result = runner.invoke(app, ["render", str(cat), "-o", str(tmp_path / "x.bmp")])
    assert isinstance(result.exception, ConfigError)
    result = runner.invoke(
        app, ["render", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.png")]
    )
    assert result.exit_code != 0
