"""SPG end to end: `data build` / `data info` of part-labelled files, `eval` with the part probe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sketchssl.cli.app import app

runner = CliRunner()

SMALL_BERT = [
    "model.num_layers=1",
    "model.hidden_dim=16",
    "model.num_heads=2",
    "model.ffn_dim=32",
    "model.embed_dim=8",
    "model.refine_dims=[16]",
    "model.head_dims=[8]",
    "data.batch_size=16",
    "data.num_workers=0",
    "trainer.progress_bar=false",
    "trainer.max_steps=4",
    "trainer.val_every_n_steps=4",
    "optim.warmup_steps=1",
]


@pytest.fixture(scope="module")
def spg_store(shared_data: Path, tmp_path_factory) -> Path:
    """The first 60 drawings of three real SPG20 categories, split 40 / 10 / 10 a class."""
    source = tmp_path_factory.mktemp("spg_source")
    for name in ("apple", "candle", "ice_cream"):
        lines = (shared_data / "quickdraw_spg20" / f"{name}.ndjson").read_text().splitlines()
        (source / f"{name}.ndjson").write_text("\n".join(lines[:60]) + "\n")
        parts = shared_data / "quickdraw_spg20" / f"{name}.parts.txt"
        (source / parts.name).write_bytes(parts.read_bytes())
    store = tmp_path_factory.mktemp("spg") / "spg.store"
    result = runner.invoke(
        app, ["data", "build", str(source), "-o", str(store), "-q", "--split-counts", "40,10,10"]
    )
    assert result.exit_code == 0, result.output
    assert "180 sketches (train 120, valid 30, test 30)" in result.output
    return store


def test_info_lists_the_parts_of_each_class(spg_store: Path) -> None:
    result = runner.invoke(app, ["data", "info", str(spg_store)])
    assert result.exit_code == 0, result.output
    assert "ice cream: cream or ornament, Sweet tube, ornament on Sweet tube" in result.output
    assert "candle: main, candlewick, fire, base" in result.output
    summary = json.loads(runner.invoke(app, ["data", "info", str(spg_store), "--json"]).output)
    assert summary["labelled_points"] == summary["num_points"]


def test_eval_adds_the_part_probe_beside_its_baselines(spg_store: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "sketch_bert", "--data", str(spg_store), "--out", str(run), *SMALL_BERT]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "eval",
            str(run / "checkpoints" / "last.ckpt"),
            "--data",
            str(spg_store),
            "-o",
            str(out),
            "--baseline",
            "random-init",
            "--set",
            "model.pooling=max",
            "--set",
            "model.embed_layer=0",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    rows = report["results"]
    assert set(rows) == {"pretrained", "random_init", "point_input"}
    for name in rows:
        assert 0 < rows[name]["part_accuracy"] <= 1 and 0 < rows[name]["part_miou"] <= 1
        assert {f"part_miou/{c}" for c in ("apple", "candle", "ice cream")} <= set(rows[name])
    assert "knn_top1" in rows["pretrained"] and "knn_top1" not in rows["point_input"]
    assert report["meta"]["model_overrides"] == {"pooling": "max", "embed_layer": 0}
    markdown = (out / "metrics.md").read_text()
    assert "### Part mIoU per class" in markdown and "| ice cream |" in markdown
    # evaluation-only settings: a key that is not a model setting is a one-line error
    result = runner.invoke(
        app,
        [
            "eval",
            str(run / "checkpoints" / "last.ckpt"),
            "--data",
            str(spg_store),
            "-o",
            str(out),
            "--set",
            "pooling=max",
        ],
    )
    assert result.exit_code != 0 and "write model.KEY=VALUE" in str(result.exception)


def test_render_colours_points_by_part(spg_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "parts.png"
    result = runner.invoke(
        app, ["render", str(spg_store), "--index", "0:6", "--parts", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    from PIL import Image

    image = Image.open(out).convert("RGB")
    colours = {colour for _, colour in image.getcolors(1 << 20)}
    # several part colours besides black, white and grey anti-aliasing
    saturated = {c for c in colours if max(c) - min(c) > 80}
    assert len(saturated) >= 3
    result = runner.invoke(
        app, ["render", str(tmp_path / "missing.store"), "--parts", "-o", str(out)]
    )
    assert result.exit_code != 0
