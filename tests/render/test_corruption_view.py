"""The corrupted_sequence view: the encoder of a sequence healer reads a patch-masked copy."""

from __future__ import annotations

import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError
from sketchssl.methods.registry import build_method
from sketchssl.render.corruption_view import CorruptedSequenceDataset
from sketchssl.render.patches import PatchConfig
from sketchssl.render.views import SketchDataset
from sketchssl.train.config import DataConfig
from sketchssl.train.data import draws_per_epoch, make_dataset


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("corrupt") / "doodles.store"
    build_store(["doodles:4"], path, workers=1, progress=False)
    return path


def test_the_copy_loses_points_the_target_does_not(store) -> None:
    base = SketchDataset(store, views=("sequence",), start_token=True, normalization="std")
    heavy = CorruptedSequenceDataset(base, 0.6, PatchConfig(), seed=0)
    none = CorruptedSequenceDataset(base, 0.0, PatchConfig(), seed=0)
    item, clean = heavy[3], none[3]
    assert torch.equal(item["strokes5"], base[3]["strokes5"])  # the target is untouched
    assert torch.equal(clean["input_strokes5"], clean["strokes5"])  # nothing masked: the same
    assert int(item["input_mask"].sum()) < int(item["mask"].sum())
    again = CorruptedSequenceDataset(base, 0.6, PatchConfig(), seed=0)[3]
    assert torch.equal(again["input_strokes5"], item["input_strokes5"])  # reproducible
    later = heavy[3 + len(heavy)]  # the same sketch in epoch 1: other squares
    assert not torch.equal(later["input_strokes5"], item["input_strokes5"])


def test_make_dataset_wraps_and_sketch_rnn_encodes_the_copy(store) -> None:
    data = DataConfig(
        store=str(store),
        views=("sequence", "corrupted_sequence"),
        sequence_mask_prob=0.3,
        normalization="std",
        start_token=True,
        max_len=250,
    )
    assert draws_per_epoch(data)
    dataset = make_dataset(data, SketchStore.open(store), "train")
    assert isinstance(dataset, CorruptedSequenceDataset)
    batch = {key: torch.stack([dataset[i][key] for i in range(4)]) for key in dataset[0]}
    model = build_method(
        "sketch_rnn",
        {"encoder_size": 8, "decoder": {"size": 16, "num_mixtures": 2}, "latent_size": 4},
    ).eval()
    with_copy = model.encode(batch)[0]
    without = model.encode({"strokes5": batch["strokes5"], "mask": batch["mask"]})[0]
    assert not torch.allclose(with_copy, without)
    assert torch.isfinite(model.loss(batch)["loss"])


def test_needs_the_sequence_view(store) -> None:
    base = SketchDataset(store, views=("raster",), normalization="none")
    with pytest.raises(ConfigError, match="needs the sequence view"):
        CorruptedSequenceDataset(base, 0.1)
