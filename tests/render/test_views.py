"""SketchDataset: the sequence and raster views built from a SketchStore."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sketchssl.data.build import build_store
from sketchssl.data.formats import (
    bbox_scale,
    clamp_offsets,
    offset_scale_factor,
    stroke5_to_stroke3,
)
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError
from sketchssl.render.views import SketchDataset


def random_sketch(rng: np.random.Generator, length: int) -> np.ndarray:
    sketch = np.zeros((length, 3), dtype=np.int16)
    sketch[:, 0:2] = rng.integers(-40, 41, size=(length, 2))
    sketch[:, 2] = rng.random(length) < 0.2
    sketch[-1, 2] = 1
    return sketch


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    from sketchssl.data.io import write_sketchrnn_npz

    folder = tmp_path_factory.mktemp("views")
    rng = np.random.default_rng(3)
    for name in ("apple", "pear"):
        splits = {
            split: [random_sketch(rng, int(rng.integers(2, 30))) for _ in range(count)]
            for split, count in (("train", 12), ("valid", 4), ("test", 4))
        }
        if name == "pear":
            splits["train"][0] = random_sketch(rng, 40)  # longer than the max_len used below
            splits["train"][1][0, 0:2] = (5000, -3000)  # a huge jump, clamped to +-1000
        write_sketchrnn_npz(folder / f"{name}.npz", splits)
    build_store([folder], folder / "store", workers=1, progress=False)
    return folder / "store"


def test_std_scale_is_sketch_rnn_factor_of_the_train_split(store_path):
    store = SketchStore.open(store_path)
    dataset = SketchDataset(store, split="valid", max_len=32)
    train = [clamp_offsets(store[i])[:32] for i in store.split_indices("train")]
    assert dataset.scale == pytest.approx(offset_scale_factor(train), rel=1e-9)
    # Small blocks give the same factor as one big block.
    from sketchssl.render.views import store_scale_factor

    assert store_scale_factor(store, max_len=32, block_rows=7) == pytest.approx(dataset.scale)


def test_sequence_view_round_trips_to_the_stored_sketch(store_path):
    store = SketchStore.open(store_path)
    dataset = SketchDataset(store_path, split="train", max_len=32, scale=2.5)
    assert len(dataset) == 24
    for position in range(len(dataset)):
        item = dataset[position]
        index = int(item["index"])
        raw = clamp_offsets(store[index])
        assert item["strokes5"].shape == (32, 5) and item["strokes5"].dtype == torch.float32
        length = min(len(raw), 32)
        assert int(item["length"]) == length == int(item["mask"].sum())
        assert item["mask"][:length].all() and not item["mask"][length:].any()
        assert (item["strokes5"][length:, 4] == 1).all()
        back = stroke5_to_stroke3(item["strokes5"].numpy())
        assert len(back) == length
        np.testing.assert_allclose(back[:, 0:2] * 2.5, raw[:length, 0:2], rtol=1e-6)
        if len(raw) > 32:  # cut: the new last point lifts the pen
            assert back[-1, 2] == 1
            np.testing.assert_array_equal(back[:-1, 2], raw[: length - 1, 2])
        else:
            np.testing.assert_array_equal(back[:, 2], raw[:, 2])
        assert int(item["label"]) == store.label(index)
    big = [dataset[p] for p in range(len(dataset)) if len(store[int(dataset.indices[p])]) > 32]
    assert len(big) == 1
    clamped = [dataset[p] for p in range(len(dataset)) if dataset[p]["strokes5"][0, 0] * 2.5 > 999]
    assert len(clamped) == 1 and float(clamped[0]["strokes5"][0, 0]) * 2.5 == pytest.approx(1000)


def test_start_token_bbox_normalisation_drop_long_and_no_labels(store_path):
    store = SketchStore.open(store_path)
    dataset = SketchDataset(
        store,
        split="train",
        max_len=32,
        normalization="bbox",
        start_token=True,
        drop_long=True,
        with_labels=False,
    )
    assert len(dataset) == 23  # the 40-point sketch is left out
    item = dataset[3]
    assert "label" not in item
    raw = clamp_offsets(store[int(item["index"])])
    assert item["strokes5"].shape == (33, 5)
    np.testing.assert_array_equal(item["strokes5"][0].numpy(), [0, 0, 1, 0, 0])
    assert int(item["length"]) == len(raw) + 1 == int(item["mask"].sum())
    expected = bbox_scale(raw, 10.0)
    np.testing.assert_allclose(
        item["strokes5"][1 : len(raw) + 1, 0:2].numpy(), expected[:, 0:2], rtol=1e-6
    )


def test_augment_runs_before_normalisation(store_path):
    calls = []

    def double(sketch: np.ndarray) -> np.ndarray:
        calls.append(len(sketch))
        result = np.array(sketch, dtype=np.float32)
        result[:, 0:2] *= 2
        return result

    plain = SketchDataset(store_path, split="test", normalization="none")
    augmented = SketchDataset(store_path, split="test", normalization="none", augment=double)
    a, b = plain[0], augmented[0]
    assert calls == [int(a["length"])]
    np.testing.assert_allclose(b["strokes5"][:, 0:2].numpy(), 2 * a["strokes5"][:, 0:2].numpy())


def test_raster_view_is_the_rendered_sketch_with_ink_one(store_path):
    from sketchssl.render.raster import render_strokes

    store = SketchStore.open(store_path)
    dataset = SketchDataset(
        store, split="valid", views=("raster",), raster_size=48, raster_line_width=2.0
    )
    item = dataset[1]
    assert "strokes5" not in item
    image = item["image"]
    assert image.shape == (1, 48, 48) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    human = render_strokes(store[int(item["index"])], size=48, line_width=2.0, padding=0.05)
    # Black ink on white for people; the network view is its negative scaled to [0, 1] (up to
    # anti-aliasing rounding).
    np.testing.assert_allclose(
        image[0].numpy(), 1.0 - human.astype(np.float32) / 255.0, atol=6 / 255
    )
    assert float(image.sum()) > 10  # some ink


def test_bad_options_are_reported(store_path):
    with pytest.raises(ConfigError, match="views"):
        SketchDataset(store_path, views=("sequence", "video"))
    with pytest.raises(ConfigError, match="normalization"):
        SketchDataset(store_path, normalization="minmax")
    with pytest.raises(ConfigError, match="scale"):
        SketchDataset(store_path, scale=0.0)


def test_dataloader_workers_read_the_same_data(store_path):
    dataset = SketchDataset(
        store_path, split="all", views=("sequence", "raster"), max_len=32, raster_size=32
    )
    direct = [dataset[i] for i in range(len(dataset))]
    pickle.loads(pickle.dumps(dataset))  # what a spawn-started worker receives
    loader = DataLoader(dataset, batch_size=5, num_workers=2, shuffle=False)
    batches = list(loader)
    for key in ("strokes5", "mask", "length", "label", "index", "image"):
        joined = torch.cat([batch[key] for batch in batches])
        expected = torch.stack([item[key] for item in direct])
        assert torch.equal(joined, expected), key
    assert batches[0]["strokes5"].shape == (5, 32, 5)  # (B, T, 5)
