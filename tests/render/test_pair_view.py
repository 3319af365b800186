"""The pairs view: two augmented copies per sketch, reproducible from (seed, epoch, sketch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.data.augment import drop_strokes, keep_prefix
from sketchssl.data.build import build_store
from sketchssl.data.formats import stroke3_to_absolute
from sketchssl.errors import ConfigError
from sketchssl.render.pair_view import PairAugmentation, PairViewDataset, views_without_pairs
from sketchssl.render.views import SketchDataset


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "doodles.store"
    build_store(["doodles:4"], path, workers=1, progress=False)
    return path


def test_drop_strokes_keeps_the_other_strokes_in_place(square_sketch) -> None:
    # two strokes: the square, then the tick from (3, 3) to (7, 7)
    kept = drop_strokes(square_sketch, np.random.default_rng(0), prob=0.5)
    points = stroke3_to_absolute(kept)[:, :2]
    original = stroke3_to_absolute(square_sketch)[:, :2]
    # whatever is kept is a subset of the original points, up to one translation
    shift = original[0] - points[0] if len(points) == 5 else original[5] - points[0]
    assert {tuple(p) for p in (points + shift).tolist()} <= {tuple(p) for p in original.tolist()}
    always = drop_strokes(square_sketch, np.random.default_rng(1), prob=1.0)
    assert int(always[:, 2].sum()) == 1 or len(always) >= 1  # one stroke stays
    assert np.array_equal(
        drop_strokes(square_sketch, np.random.default_rng(2), 0.0), square_sketch.astype(float)
    )


def test_keep_prefix_cuts_and_ends_the_stroke(square_sketch) -> None:
    cut = keep_prefix(square_sketch, np.random.default_rng(0), min_fraction=0.5)
    assert 3 <= len(cut) <= 6
    assert np.array_equal(cut[:-1], square_sketch[: len(cut) - 1])
    assert cut[-1, 2] == 1
    with pytest.raises(ConfigError, match="min_fraction"):
        keep_prefix(square_sketch, np.random.default_rng(0), min_fraction=0.0)


def test_pairs_are_reproducible_and_differ_between_copies_and_epochs(doodle_store) -> None:
    base = SketchDataset(doodle_store, views=("raster", "sequence"), raster_size=32)
    pairs = PairViewDataset(base, PairAugmentation(), seed=3)
    item = pairs[2]
    assert set(item) >= {"image_a", "image_b", "strokes5_a", "mask_b", "index", "label"}
    assert item["image_a"].shape == (1, 32, 32)
    again = PairViewDataset(base, PairAugmentation(), seed=3)[2]
    assert all(torch.equal(item[key], again[key]) for key in item)
    assert not torch.equal(item["image_a"], item["image_b"])
    next_epoch = pairs[2 + len(pairs)]  # the same sketch drawn in epoch 1
    assert int(next_epoch["index"]) == int(item["index"])
    assert not torch.equal(item["image_a"], next_epoch["image_a"])


def test_switched_off_augmentation_gives_two_identical_copies(doodle_store) -> None:
    off = PairAugmentation(
        partial_min_fraction=1.0,
        stroke_drop_prob=0.0,
        scale=0.0,
        rotation_degrees=0.0,
        drop_prob=0.0,
        crop_zoom=1.0,
        line_width_jitter=0.0,
    )
    base = SketchDataset(doodle_store, views=("raster",), raster_size=32)
    item = PairViewDataset(base, off, seed=0)[1]
    assert torch.equal(item["image_a"], item["image_b"])
    assert torch.allclose(item["image_a"], base[1]["image"], atol=1e-6)


def test_bad_pair_settings_are_clear() -> None:
    with pytest.raises(ConfigError, match="crop_zoom"):
        PairAugmentation(crop_zoom=0.5)
    with pytest.raises(ConfigError, match="pairs view augments other views"):
        views_without_pairs(("pairs",))


def test_pairs_and_training_masks_are_drawn_anew_every_epoch() -> None:
    from sketchssl.train.config import DataConfig
    from sketchssl.train.data import draws_per_epoch

    assert draws_per_epoch(DataConfig(views=("raster", "pairs")))
    assert draws_per_epoch(DataConfig(views=("sequence", "patches"), patch_mask_prob=0.1))
    assert not draws_per_epoch(DataConfig(views=("sequence", "patches"), patch_mask_prob=0.0))
    assert not draws_per_epoch(DataConfig(views=("sequence",)))
    assert draws_per_epoch(DataConfig(views=("sequence",), augment_scale=0.1))
