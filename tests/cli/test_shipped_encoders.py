"""The encoders that ship in the package: they load (hash checked), embed and classify.

The sample's test drawings are in the SPG20 test split, which none of the shipped encoders or
heads was trained on, so the accuracy here is a held-out figure (chance: 1 / 345).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sketchssl import pretrained
from sketchssl.cli.app import app

runner = CliRunner()
SHIPPED = sorted(pretrained.list_models())
SPG20 = Path(os.environ.get("SKETCHSSL_DATA", "../shared/data")) / "quickdraw_spg20"


def test_the_package_ships_an_image_and_a_sequence_encoder():
    methods = {pretrained.model_entry(name)["method"] for name in SHIPPED}
    assert "rotation_cnn" in methods and "sketchgloc" in methods
    assert pretrained.default_model() == "rotation-cnn-spg20"
    for name in SHIPPED:
        card = pretrained.card(name)
        assert "command" in card and "figures" in card
        size = (pretrained._folder() / pretrained.model_entry(name)["file"]).stat().st_size
        assert size < 8 * 2**20, f"{name}: {size} bytes is more than a small weight file"


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_encoder_classifies_held_out_real_drawings(name, tmp_path):
    out = tmp_path / "predictions.csv"
    result = runner.invoke(
        app,
        ["classify", "quickdraw-sample", "--model", name, "--split", "test", "-o", str(out), "-q"],
    )
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 200
    top1 = sum(row["true_class"] == row["class_1"] for row in rows) / len(rows)
    assert top1 > 0.5, f"{name}: top-1 {top1:.2f} on held-out drawings"  # chance 0.003


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", SHIPPED)
def test_the_model_card_figures_reproduce(name, tmp_path):
    """``sketchssl eval NAME`` on SPG20 gives the figures its model card states."""
    if not SPG20.is_dir():
        pytest.skip(f"SPG20 not found at {SPG20}")
    store = tmp_path / "spg.store"
    assert runner.invoke(app, ["data", "build", str(SPG20), "-o", str(store)]).exit_code == 0
    report = tmp_path / "report"
    result = runner.invoke(app, ["eval", name, "--data", str(store), "-o", str(report)])
    assert result.exit_code == 0, result.output
    measured = json.loads((report / "metrics.json").read_text())["results"]["pretrained"]
    stated = pretrained.model_entry(name)["card"]["figures"]["pretrained"]
    for key, value in stated.items():
        # kNN and retrieval are exact; a probe is an iterative fit whose float sums depend on
        # the thread count (measured: part mIoU 73.06 at 1 thread vs 73.01 at 2)
        tolerance = 0.2 if key in ("linear_top1", "part_miou") else 0.02
        assert 100 * measured[key] == pytest.approx(value, abs=tolerance), key


def test_serve_defaults_to_the_shipped_encoder_and_its_head(tmp_path):
    """No --checkpoint: the shipped image encoder, its 345-class head, the sample as gallery."""
    from fastapi.testclient import TestClient

    from sketchssl.cli.serve_cmd import resolve_defaults
    from sketchssl.serve.app import create_app
    from sketchssl.serve.service import ModelService

    checkpoint, gallery = resolve_defaults(None, None, lambda message: None)
    assert checkpoint == pretrained.default_model()
    client = TestClient(create_app(ModelService.from_paths(checkpoint, gallery=gallery)))
    info = client.get("/api/info").json()
    assert info["classify"] == "linear_head" and info["classes"] == 345
    house = [  # a square, a roof and a door, in QuickDraw's 0-255 simplified coordinates
        [[60, 200, 200, 60, 60], [120, 120, 240, 240, 120]],
        [[50, 130, 210], [125, 40, 125]],
        [[115, 115, 145, 145], [240, 190, 190, 240]],
    ]
    reply = client.post("/api/classify", json={"drawing": house}).json()
    assert reply["source"] == "linear_head"
    assert "house" in [entry["name"] for entry in reply["top"]], reply["top"]
