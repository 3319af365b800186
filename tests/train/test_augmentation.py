"""Training augmentation: drawn per (seed, epoch, sketch), training split only, exact on resume."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sketchssl.data.augment import Augmentation, SketchAugmenter
from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError
from sketchssl.render.views import SketchDataset
from sketchssl.train.config import DataConfig
from sketchssl.train.data import SketchDataModule, make_dataset
from sketchssl.train.sampler import StepSeededBatchSampler


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:4:1"], path, workers=1, progress=False)
    return path


def _data(store, **overrides) -> DataConfig:
    base = DataConfig(store=str(store), normalization="none", batch_size=4, num_workers=0)
    return dataclasses.replace(base, **overrides)


def test_tagged_draws_are_positions_plus_whole_epochs():
    plain = StepSeededBatchSampler(10, batch_size=4, seed=2)
    tagged = StepSeededBatchSampler(10, batch_size=4, seed=2, tag_epochs=True)
    # 2 batches per epoch: steps 0-1 are epoch 0, 2-3 epoch 1, 4 epoch 2.
    for step in range(5):
        epoch = step // 2
        assert tagged.batch_at(step) == [p + 10 * epoch for p in plain.batch_at(step)]


def test_a_draw_is_scaled_by_the_factors_of_its_epoch_and_sketch(doodle_store):
    # Hand check of sketch-rnn's random_scale: x * (1 + u_x), y * (1 + u_y), with (u_x, u_y)
    # the first two uniforms of the generator seeded (seed, epoch, store index).
    augmenter = SketchAugmenter(Augmentation(scale_factor=0.2, drop_prob=0.0), seed=5)
    plain = SketchDataset(doodle_store, split="train", normalization="none")
    augmented = SketchDataset(doodle_store, split="train", normalization="none", augment=augmenter)
    count = len(plain)
    position = 3
    index = int(plain.indices[position])
    raw = plain.store[index].astype(np.float64)
    draws = {}
    for epoch in (0, 1):
        _, sketch = augmented.sketch_at(position + epoch * count)
        u_x, u_y = np.random.default_rng([5, epoch, index]).uniform(-0.2, 0.2, size=2)
        np.testing.assert_allclose(sketch[:, 0], raw[:, 0] * (1 + u_x), rtol=1e-5)
        np.testing.assert_allclose(sketch[:, 1], raw[:, 1] * (1 + u_y), rtol=1e-5)
        np.testing.assert_array_equal(sketch[:, 2], raw[:, 2])
        draws[epoch] = sketch
    assert not np.allclose(draws[0], draws[1])  # a new augmentation each epoch
    again = augmented[position + count]  # the same draw again: the same item
    np.testing.assert_allclose(again["strokes5"][: len(raw), 0], draws[1][:, 0], rtol=1e-6)
    assert int(again["index"]) == index


def test_only_the_training_split_is_augmented(doodle_store):
    data = _data(doodle_store, augment_scale=0.15, augment_drop_prob=0.1)
    train_set = make_dataset(data, SketchDataset(doodle_store).store, "train", seed=1)
    valid_set = make_dataset(data, SketchDataset(doodle_store).store, "valid", seed=1)
    assert isinstance(train_set.augment, SketchAugmenter) and train_set.augment.seed == 1
    assert train_set.augment.config == Augmentation(0.15, 0.1, 0.0)
    assert valid_set.augment is None
    assert _data(doodle_store).augmentation() is None
    module = SketchDataModule(data, seed=1)
    assert module.val_dataset.augment is None


def test_the_training_loader_tags_epochs_only_when_augmenting(doodle_store):
    for augmenting in (False, True):
        data = _data(doodle_store, augment_rotation_degrees=10.0 if augmenting else 0.0)
        module = SketchDataModule(data, seed=0)
        sampler = module.train_dataloader().batch_sampler
        assert sampler.tag_epochs is augmenting
        late = sampler.batch_at(len(sampler) * 3)  # a step of epoch 3
        assert (min(late) >= 3 * len(module.train_dataset)) is augmenting


def test_patch_view_draws_from_the_augmented_sketch(doodle_store):
    data = _data(
        doodle_store,
        views=("sequence", "patches"),
        patch_size=32,
        patch_slots=6,
        patch_canvas_scale=80.0,
        patch_line_width=2.0,
        augment_scale=0.3,
    )
    dataset = make_dataset(data, SketchDataset(doodle_store).store, "train", seed=0)
    count = len(dataset)
    first, later = dataset[2], dataset[2 + count]
    assert int(first["index"]) == int(later["index"])
    # the whole-sketch canvas changes with the augmentation of the epoch
    assert not np.allclose(first["patch_original"].numpy(), later["patch_original"].numpy())


@pytest.mark.parametrize(
    ("key", "value"),
    [("augment_scale", 1.5), ("augment_drop_prob", -0.1), ("augment_rotation_degrees", 200.0)],
)
def test_out_of_range_augmentation_is_refused_with_its_name(doodle_store, key, value):
    with pytest.raises(ConfigError, match="data: augmentation"):
        _data(doodle_store, **{key: value})
