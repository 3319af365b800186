"""The patches view in training batches: geometry from the data section, masks reproducible."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError
from sketchssl.render.patch_view import patch_config_from_data
from sketchssl.train.config import DataConfig
from sketchssl.train.data import SketchDataModule, make_dataset


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:4:1"], path, workers=1, progress=False)
    return path


def _data(store, **overrides) -> DataConfig:
    base = DataConfig(
        store=str(store),
        views=("sequence", "patches"),
        normalization="std",
        start_token=True,
        batch_size=4,
        num_workers=0,
        patch_size=32,
        patch_slots=6,
        patch_canvas_scale=80.0,
        patch_line_width=2.0,
    )
    return dataclasses.replace(base, **overrides)


def test_batches_hold_patches_of_the_configured_geometry(doodle_store):
    module = SketchDataModule(_data(doodle_store), seed=0)
    batch = next(iter(module.train_dataloader()))
    assert batch["patches"].shape == (4, 7, 32, 32)  # node 0 + 6 slots
    assert batch["patch_valid"].shape == batch["patch_masked"].shape == (4, 6)
    assert batch["patch_original"].shape == (4, 32, 32)
    assert batch["strokes5"].shape[0] == 4
    # unmasked training data: node 0 is the original whole sketch
    assert torch.equal(batch["patches"][:, 0], batch["patch_original"])


def test_training_masks_are_reproducible_and_validation_fixed(doodle_store):
    data = _data(doodle_store, patch_mask_prob=0.5)
    first = make_dataset(data, module_store(doodle_store), "train", seed=3)
    second = make_dataset(data, module_store(doodle_store), "train", seed=3)
    other = make_dataset(data, module_store(doodle_store), "train", seed=4)
    masks = [
        torch.stack([dataset[i]["patch_masked"] for i in range(len(dataset))])
        for dataset in (first, second, other)
    ]
    assert torch.equal(masks[0], masks[1])
    assert masks[0].any() and not torch.equal(masks[0], masks[2])


def module_store(path):
    from sketchssl.data.store import SketchStore

    return SketchStore.open(path)


def test_patch_geometry_round_trips_through_the_data_section():
    config = patch_config_from_data(dataclasses.asdict(_data("x")))
    assert (config.patch_size, config.max_patches, config.canvas_scale, config.line_width) == (
        32,
        6,
        80.0,
        2.0,
    )
    assert config.border_size == 48  # -1 -> SP-gra2seq's 1.5 x patch_size


def test_patches_without_a_sequence_view_is_refused(doodle_store):
    with pytest.raises(ConfigError, match="sequence view"):
        make_dataset(_data(doodle_store, views=("patches",)), module_store(doodle_store), "train")
