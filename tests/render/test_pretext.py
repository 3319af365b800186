"""Pretext views: every copy's label matches the transform actually applied (render, undo, compare),
and the TCN point input is what METHODS.md section 2 specifies, on hand-made sketches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sketchssl.data.build import build_store
from sketchssl.errors import ConfigError
from sketchssl.render.pretext import RandomWarp, build_view, sketch_points
from sketchssl.render.raster import render_strokes
from sketchssl.render.views import SketchDataset

RASTER = dict(max_points=100, raster_size=48, raster_line_width=1.5, raster_padding=0.05)


@pytest.fixture
def asymmetric_sketch() -> np.ndarray:
    """An 'F': no rotation by a multiple of 90 degrees maps it onto itself."""
    return np.array(
        [[0, 30, 0], [0, 10, 1], [20, -40, 0], [-20, 0, 1], [0, 15, 0], [12, 0, 1]], dtype=np.int16
    )


def paper_remap(values: np.ndarray, strength: float) -> np.ndarray:
    """f(x) = x + 0.5 λ x (sin(2x) - sin(2)) with a = 0, b = 1 (METHODS.md section 2)."""
    return values + 0.5 * strength * values * (np.sin(2.0 * values) - math.sin(2.0))


def absolute_points(sketch: np.ndarray) -> np.ndarray:
    """(N + 1, 2) absolute points, the implicit start (0, 0) first."""
    return np.vstack([[0.0, 0.0], np.cumsum(sketch[:, :2].astype(np.float64), axis=0)])


def centre_normalise(points: np.ndarray) -> np.ndarray:
    """The reference's center_norm: longest side -> [0, 1], the other axis centred."""
    low, high = points.min(axis=0), points.max(axis=0)
    ranges = high - low
    longest = ranges.max()
    return (points - low + (longest - ranges) / 2.0) / longest


def warped_sketch(sketch: np.ndarray) -> np.ndarray:
    """The paper's warp written out independently: each axis over its own extent, same box."""
    points = absolute_points(sketch)
    low, extent = points.min(axis=0), np.ptp(points, axis=0)
    unit = (points - low) / extent
    remapped = np.stack([paper_remap(unit[:, 0], 2.1), paper_remap(unit[:, 1], -4.1)], 1)
    warped = low + remapped * extent
    return np.column_stack([np.diff(warped, axis=0), sketch[:, 2]])


def unwarped_sketch(sketch: np.ndarray) -> np.ndarray:
    """Inverse of :func:`warped_sketch` by interpolating the monotone remap on a fine grid."""
    points = absolute_points(sketch)
    low, extent = points.min(axis=0), np.ptp(points, axis=0)
    unit = (points - low) / extent
    grid = np.linspace(0.0, 1.0, 200001)
    restored = np.stack(
        [
            np.interp(unit[:, 0], paper_remap(grid, 2.1), grid),
            np.interp(unit[:, 1], paper_remap(grid, -4.1), grid),
        ],
        1,
    )
    return np.column_stack([np.diff(low + restored * extent, axis=0), sketch[:, 2]])


def test_rotation_images_undo_to_the_original(asymmetric_sketch):
    item = build_view("rotation_images", asymmetric_sketch, **RASTER)
    images = item["rotation_images"].numpy()  # (4, 1, H, W)
    labels = item["rotation_images_labels"].tolist()
    assert images.shape == (4, 1, 48, 48) and sorted(labels) == [0, 1, 2, 3]
    original = render_strokes(asymmetric_sketch, 48, 1.5, 0.05, invert=True) / 255.0
    for image, label in zip(images[:, 0], labels, strict=True):
        # label k = k quarter turns, clockwise on screen: np.rot90 by +k (anticlockwise) undoes it
        undone = np.rot90(image, label)
        assert np.abs(undone - original).max() < 0.05  # anti-aliasing is not exactly symmetric
        for wrong in {0, 1, 2, 3} - {label}:
            assert np.abs(np.rot90(image, wrong) - original).mean() > 0.02


def test_deformation_images_are_renders_of_the_warped_strokes(asymmetric_sketch):
    item = build_view("deformation_images", asymmetric_sketch, **RASTER)
    images = item["deformation_images"].numpy()[:, 0]
    labels = item["deformation_images_labels"].tolist()
    assert labels == [0, 1]

    def render(sketch: np.ndarray) -> np.ndarray:
        return render_strokes(sketch, 48, 1.5, 0.05, invert=True).astype(np.float32) / 255.0

    warped = warped_sketch(asymmetric_sketch)
    np.testing.assert_allclose(images[0], render(asymmetric_sketch), atol=1e-6)
    np.testing.assert_allclose(images[1], render(warped), atol=2 / 255)
    assert (np.abs(images[1] - images[0]) > 0.5).sum() > 20  # the warp is visible
    # undo: the inverse warp of the label-1 strokes renders as the label-0 copy
    restored = unwarped_sketch(warped)
    np.testing.assert_allclose(restored[:, :2], asymmetric_sketch[:, :2], atol=1e-3)
    np.testing.assert_allclose(render(restored), images[0], atol=2 / 255)


def test_points_of_a_hand_made_square(square_sketch):
    # points (0,0) (10,0) (10,10) (0,10) (0,0)| (3,3) (7,7)|: box 10 x 10 fills 0..255 -> x / 10
    expected = np.zeros((100, 4), dtype=np.float32)
    expected[:7] = [
        [0.0, 0.0, 1, 0],
        [1.0, 0.0, 1, 0],
        [1.0, 1.0, 1, 0],
        [0.0, 1.0, 1, 0],
        [0.0, 0.0, 0, 1],  # pen lifts after this point: p1 = 0, p2 = 1
        [0.3, 0.3, 1, 0],
        [0.7, 0.7, 0, 1],
    ]
    np.testing.assert_allclose(sketch_points(square_sketch), expected, atol=1e-6)


def test_points_keep_aspect_and_centre_the_short_side():
    # (0,0) -> (40,0) -> (40,10): 40 wide fills 0..255; 10 high is 63.75 px, centred at 127.5
    rows = sketch_points(np.array([[40, 0, 0], [0, 10, 1]]), max_points=5)
    centre, half = 127.5 / 255, 63.75 / 2 / 255
    np.testing.assert_allclose(
        rows[:3, :2], [[0, centre - half], [1, centre - half], [1, centre + half]], atol=1e-6
    )
    assert (rows[3:] == 0).all()


def test_points_cut_to_max_points():
    sketch = np.tile(np.array([[1, 2, 0]], dtype=np.int16), (150, 1))
    rows = sketch_points(sketch, max_points=100)
    assert rows.shape == (100, 4)
    assert (rows[:, 2] + rows[:, 3] == 1).all()  # no padding row left
    assert rows[-1, 3] == 1 and rows[:-1, 3].sum() == 0  # the cut closes the stroke
    np.testing.assert_allclose(rows[:, :2].max(axis=0), [0.75, 1.0], atol=1e-6)
    with pytest.raises(ConfigError, match="at least 2"):
        sketch_points(sketch, max_points=1)


def test_rotation_points_follow_the_paper_formula(asymmetric_sketch):
    item = build_view("rotation_points", asymmetric_sketch, **RASTER)
    copies, labels = item["rotation_points"].numpy(), item["rotation_points_labels"].tolist()
    count = len(asymmetric_sketch) + 1
    original = copies[labels.index(0)]
    for copy, label in zip(copies, labels, strict=True):
        expected = original.copy()
        for _ in range(label):  # METHODS.md: 90 degrees is (x, y) -> (1 - y, x)
            expected[:count, :2] = np.stack([1 - expected[:count, 1], expected[:count, 0]], 1)
        np.testing.assert_allclose(copy, expected, atol=1e-6)  # padding stays zero
    assert not np.allclose(copies[0], copies[1])


def test_deformation_points_are_warped_then_centre_normalised(asymmetric_sketch):
    item = build_view("deformation_points", asymmetric_sketch, **RASTER)
    copies, labels = item["deformation_points"].numpy(), item["deformation_points_labels"]
    assert labels.tolist() == [0, 1]
    count = len(asymmetric_sketch) + 1
    np.testing.assert_allclose(copies[0], sketch_points(asymmetric_sketch), atol=1e-6)
    expected = centre_normalise(absolute_points(warped_sketch(asymmetric_sketch)))
    np.testing.assert_allclose(copies[1, :count, :2], expected, atol=1e-6)
    np.testing.assert_array_equal(copies[1, :, 2:], copies[0, :, 2:])  # pen columns unchanged
    assert (copies[1, count:] == 0).all()
    # both copies fill the same centred box: neither position nor size gives the label away
    for copy in copies:
        np.testing.assert_allclose(copy[:count, :2].min(0) + copy[:count, :2].max(0), [1, 1])


def test_sketch_dataset_builds_the_new_views(tmp_path):
    store = tmp_path / "doodles.store"
    build_store(["doodles:2"], store, workers=1, progress=False)
    views = ("points", "rotation_images", "deformation_points", "raster")
    dataset = SketchDataset(store, views=views, max_len=64, normalization="none", raster_size=32)
    item = dataset[0]
    assert item["points"].shape == (64, 4) and item["points"].dtype == torch.float32
    assert item["rotation_images"].shape == (4, 1, 32, 32)
    assert item["rotation_images_labels"].tolist() == [0, 1, 2, 3]
    assert item["deformation_points"].shape == (2, 64, 4)
    torch.testing.assert_close(item["rotation_images"][0], item["image"])  # copy 0 = plain render
    torch.testing.assert_close(item["deformation_points"][0], item["points"])
    with pytest.raises(ConfigError, match="views"):
        SketchDataset(store, views=("rotations",), normalization="none")


def test_random_warp_changes_only_the_warped_copy_and_each_epoch(tmp_path):
    store = tmp_path / "doodles.store"
    build_store(["doodles:2"], store, workers=1, progress=False)
    options = dict(views=("deformation_images",), max_len=64, normalization="none", raster_size=32)
    paper = SketchDataset(store, **options)
    drawn = SketchDataset(store, **options, warp=RandomWarp(seed=3))
    first, again, later = drawn[0], drawn[0], drawn[len(drawn)]  # later: item 0 of epoch 1
    images = first["deformation_images"]  # (2, 1, 32, 32)
    assert first["deformation_images_labels"].tolist() == [0, 1]
    torch.testing.assert_close(images[0], paper[0]["deformation_images"][0])  # copy 0: original
    torch.testing.assert_close(images, again["deformation_images"])  # reproducible
    assert (images[1] - images[0]).abs().max() > 0.5  # the drawn warp is visible
    assert (images[1] - paper[0]["deformation_images"][1]).abs().max() > 0.5  # not the paper's
    assert (images[1] - later["deformation_images"][1]).abs().max() > 0.5  # new each epoch
    other_seed = SketchDataset(store, **options, warp=RandomWarp(seed=4))[0]
    assert (images[1] - other_seed["deformation_images"][1]).abs().max() > 0.5


def test_random_warp_is_a_data_option_that_draws_every_epoch():
    from sketchssl.train.config import DataConfig
    from sketchssl.train.data import draws_per_epoch

    assert draws_per_epoch(DataConfig(views=("deformation_images",), deformation="random"))
    assert not draws_per_epoch(DataConfig(views=("deformation_images",)))
    assert not draws_per_epoch(DataConfig(views=("sequence",), deformation="random"))
    with pytest.raises(ConfigError, match="data.deformation 'wavy'"):
        DataConfig(deformation="wavy")
