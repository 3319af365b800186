"""`sketchssl classify`: a classifier's own head, and a linear head fitted on a frozen encoder."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from sketchssl.cli.app import app
from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError, SketchFileError

runner = CliRunner()
COMMON = ["data.num_workers=0", "trainer.progress_bar=false", "trainer.val_every_n_steps=50"]


@pytest.fixture(scope="module")
def doodles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classify")
    store = folder / "doodles.store"
    build_store(["doodles:12"], store, workers=1, progress=False)
    return folder, store


def test_a_classifier_checkpoint_classifies_with_its_own_head(doodles) -> None:
    folder, store = doodles
    run = folder / "sup"
    result = runner.invoke(
        app,
        [
            "train",
            "supervised_cnn",
            "--data",
            str(store),
            "--out",
            str(run),
            *COMMON,
            "model.image_size=32",
            "data.raster_size=32",
            "model.conv_channels=[8,16]",
            "model.feature_dim=32",
            "data.batch_size=32",
            "trainer.max_steps=60",
            "optim.lr=3e-3",
        ],
    )
    assert result.exit_code == 0, result.output
    out = folder / "predictions.csv"
    result = runner.invoke(
        app,
        [
            "classify",
            str(store),
            "--model",
            str(run / "checkpoints" / "last.ckpt"),
            "--split",
            "train",
            "-q",
            "-o",
            str(out),
            "--top",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) > 100 and set(rows[0]) >= {"key_id", "true_class", "class_1", "probability_3"}
    # doodles are easy: most train sketches get their class first
    hits = sum(row["class_1"] == row["true_class"] for row in rows)
    assert hits / len(rows) > 0.5
    assert "top-1" in result.output


def test_an_encoder_needs_a_fitted_head(doodles) -> None:
    folder, store = doodles
    run = folder / "contrastive"
    result = runner.invoke(
        app,
        [
            "train",
            "contrastive_cnn",
            "--data",
            str(store),
            "--out",
            str(run),
            *COMMON,
            "model.image_size=32",
            "data.raster_size=32",
            "model.conv_channels=[8,16]",
            "model.projection_dims=[16,8]",
            "data.batch_size=16",
            "trainer.max_steps=3",
        ],
    )
    assert result.exit_code == 0, result.output
    checkpoint = str(run / "checkpoints" / "last.ckpt")
    result = runner.invoke(app, ["classify", str(store), "--model", checkpoint])
    assert isinstance(result.exception, ConfigError) and "--fit" in str(result.exception)
    head = folder / "head.pt"
    result = runner.invoke(
        app, ["classify", "--model", checkpoint, "--fit", str(store), "--head", str(head), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "14 classes" in result.output and "valid_top1" in result.output
    result = runner.invoke(
        app, ["classify", str(store), "--model", checkpoint, "--head", str(head), "-q"]
    )
    assert result.exit_code == 0, result.output
    head.write_bytes(b"not a head")
    result = runner.invoke(
        app, ["classify", str(store), "--model", checkpoint, "--head", str(head), "-q"]
    )
    assert isinstance(result.exception, SketchFileError)
