"""`sketchssl embed` and the shipped-encoder machinery (export, hash check, loading)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sketchssl import pretrained
from sketchssl.cli.app import app
from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError, SketchFileError

runner = CliRunner()

SMALL = [
    "model.image_size=32",
    "model.conv_channels=[4,8]",
    "model.projection_dims=[16,8]",
    "data.raster_size=32",
    "data.batch_size=8",
    "data.num_workers=0",
    "trainer.progress_bar=false",
    "trainer.max_steps=2",
    "trainer.val_every_n_steps=2",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embed")
    store = folder / "doodles.store"
    build_store(["doodles:3"], store, workers=1, progress=False)
    result = runner.invoke(
        app,
        ["train", "contrastive_cnn", "--data", str(store), "--out", str(folder / "run"), *SMALL],
    )
    assert result.exit_code == 0, result.output
    return store, folder / "run" / "checkpoints" / "last.ckpt"


def test_embed_a_store_and_files_in_three_formats(trained, tmp_path) -> None:
    store, checkpoint = trained
    result = runner.invoke(
        app, ["embed", str(store), "--model", str(checkpoint), "-o", str(tmp_path / "e.npz"), "-q"]
    )
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "e.npz")
    count = len(saved["embeddings"])
    assert saved["embeddings"].shape == (count, 8) and count == 42  # 14 classes x 3 doodles
    assert set(saved["labels"].tolist()) == set(range(14))
    # the same sketches from a sketch file: the same embeddings, row for row
    from sketchssl.data.store import SketchStore

    opened = SketchStore.open(store)
    from sketchssl.data.io import write_sketchrnn_npz

    write_sketchrnn_npz(tmp_path / "some.npz", {"train": [opened[i] for i in range(5)]})
    result = runner.invoke(
        app,
        [
            "embed",
            str(tmp_path / "some.npz"),
            "--model",
            str(checkpoint),
            "-o",
            str(tmp_path / "e.npy"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert np.allclose(np.load(tmp_path / "e.npy"), saved["embeddings"][:5], atol=1e-5)
    result = runner.invoke(
        app, ["embed", str(store), "--model", str(checkpoint), "-o", str(tmp_path / "e.csv")]
    )
    assert isinstance(result.exception, ConfigError) and ".npy" in str(result.exception)


def test_export_load_and_refuse_a_changed_file(trained, tmp_path) -> None:
    _, checkpoint = trained
    path = pretrained.export_encoder(
        checkpoint,
        "tiny-test",
        description="a test encoder",
        model_card={"data": "doodles"},
        folder=tmp_path,
    )
    assert path.stat().st_size < 200_000
    index = json.loads((tmp_path / "models.json").read_text())
    assert index["tiny-test"]["method"] == "contrastive_cnn"
    original, _ = pretrained.load_model(checkpoint)
    # load from the exported folder: weights equal to float16 precision
    monkey = pytest.MonkeyPatch()
    monkey.setattr(pretrained, "_folder", lambda: tmp_path)
    try:
        loaded = pretrained.load("tiny-test")
        images = torch.rand(3, 1, 32, 32)
        assert torch.allclose(
            loaded.embed({"image": images}), original.embed({"image": images}), atol=2e-2
        )
        assert "tiny-test" in pretrained.list_models()
        assert "- data: doodles" in pretrained.card("tiny-test")
        with open(path, "ab") as handle:  # damage the file: the hash no longer matches
            handle.write(b"\0")
        with pytest.raises(SketchFileError, match="sha256 differs"):
            pretrained.load("tiny-test")
        with pytest.raises(ConfigError, match="no shipped model named 'other'"):
            pretrained.load("other")
    finally:
        monkey.undo()
