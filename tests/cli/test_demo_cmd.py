"""`sketchssl demo` end to end, with a few seconds of pre-training."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sketchssl.cli.app import app

runner = CliRunner()


def test_demo_writes_drawings_report_and_figures(tmp_path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--minutes", "0.05", "--workers", "1"])
    assert result.exit_code == 0, result.output
    for name in ("drawings.png", "drawings.svg", "drawings.gif", "store_summary.json"):
        assert (out / name).is_file()
    for name in ("metrics.md", "metrics.json", "embedding_map.png", "neighbours.png"):
        assert (out / "report" / name).is_file()
    report = json.loads((out / "report" / "metrics.json").read_text())
    assert set(report["results"]) == {"pretrained", "random_init", "pixels"}
    assert report["meta"]["model_overrides"] == {"embed_layer": "fc1"}
    assert report["meta"]["method"] == "rotation_cnn"
    assert "2,000 real QuickDraw drawings" in result.output
    summary = json.loads((out / "store_summary.json").read_text())
    assert summary["num_sketches"] == 2000 and summary["num_classes"] == 20
    # step 4: the shipped encoders on the same test drawings (when the installation has any)
    from sketchssl import pretrained

    if pretrained.list_models("encoder"):
        assert "the encoders that ship with sketchssl" in result.output
        for name in pretrained.list_models("encoder"):
            assert f"shipped: {name}" in result.output
        for name in pretrained.list_models("healer"):  # a healer is not an encoder to rank
            assert f"shipped: {name}" not in result.output
        assert (out / "shipped" / "neighbours.png").is_file()
        # step 5: the shipped healer's before / after figure, 4 rows of 10 drawings
        if pretrained.default_healer() is not None:
            from PIL import Image

            with Image.open(out / "shipped" / "healing.png") as figure:
                width, height = figure.size
            assert width > 2 * height, (width, height)
            assert "redrawn by the shipped healer" in result.output
    else:
        assert "none in this installation" in result.output
