"""Tests of the stroke-3 augmentations against hand-computed cases and absolute-point geometry."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from sketchssl.data.augment import (
    Augmentation,
    SketchAugmenter,
    compose,
    drop_points,
    random_scale,
    random_sine_deform,
    rotate,
    rotate90,
    sine_deform,
    sine_remap,
)
from sketchssl.data.formats import stroke3_to_absolute
from sketchssl.errors import ConfigError


def random_sketch(rng: np.random.Generator, length: int = 60) -> np.ndarray:
    """A random stroke-3 sketch with several strokes of varied length."""
    sketch = np.zeros((length, 3), dtype=np.int16)
    sketch[:, 0:2] = rng.integers(-20, 21, size=(length, 2))
    sketch[:, 2] = rng.random(length) < 0.12
    sketch[-1, 2] = 1
    return sketch


# ---------------------------------------------------------------- random_scale


def test_random_scale_scales_axes_independently_within_range():
    rng = np.random.default_rng(0)
    sketch = np.array([[10, 0, 0], [0, 10, 1]], dtype=np.int16)
    factors = []
    for _ in range(200):
        scaled = random_scale(sketch, rng, factor=0.15)
        assert scaled.dtype == np.float32
        factors.append((scaled[0, 0] / 10.0, scaled[1, 1] / 10.0))
        assert scaled[0, 1] == 0 and scaled[1, 0] == 0
        np.testing.assert_array_equal(scaled[:, 2], sketch[:, 2])
    factors = np.array(factors)
    assert factors.min() >= 0.85 - 1e-6 and factors.max() <= 1.15 + 1e-6
    # independent x and y factors: they differ, and span most of the range
    assert np.abs(factors[:, 0] - factors[:, 1]).max() > 0.1
    assert factors.min() < 0.88 and factors.max() > 1.12


def test_random_scale_reproducible_and_input_untouched():
    sketch = random_sketch(np.random.default_rng(1))
    before = sketch.copy()
    first = random_scale(sketch, np.random.default_rng(5))
    second = random_scale(sketch, np.random.default_rng(5))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(sketch, before)


# ---------------------------------------------------------------- drop_points


def test_drop_points_prob_zero_is_identity():
    sketch = random_sketch(np.random.default_rng(2))
    result = drop_points(sketch, np.random.default_rng(0), prob=0.0)
    np.testing.assert_array_equal(result, sketch)
    assert result.dtype == sketch.dtype


def test_drop_points_prob_one_hand_computed():
    # Stroke 1: 7 points (pen 0 x6, then 1). Counter: 0,1,2,3,4,5 then reset at the stroke end:
    # rows 3, 4, 5 are dropped. Stroke 2: 5 points: counter 0,1,2,3 then end: row 10 dropped.
    # Stroke 3: 3 points, none eligible.
    pens = [0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 1] + [0, 0, 1]
    sketch = np.zeros((len(pens), 3), dtype=np.int16)
    sketch[:, 0] = np.arange(1, len(pens) + 1)  # distinct offsets
    sketch[:, 1] = -np.arange(1, len(pens) + 1)
    sketch[:, 2] = pens
    result = drop_points(sketch, np.random.default_rng(0), prob=1.0)
    assert len(sketch) - len(result) == 4
    # magenta adds the dropped offsets to the last kept row (row 2 absorbs rows 3..5, row 9
    # absorbs row 10); row k has dx = k + 1
    expected_dx = [1, 2, 3 + 4 + 5 + 6, 7, 8, 9, 10 + 11, 12, 13, 14, 15]
    np.testing.assert_array_equal(result[:, 0], expected_dx)
    np.testing.assert_array_equal(result[:, 1], -np.array(expected_dx))
    np.testing.assert_array_equal(result[:, 2], [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1])


def test_drop_points_preserves_stroke_ends_and_total_displacement():
    rng = np.random.default_rng(3)
    for trial in range(30):
        sketch = random_sketch(rng, length=int(rng.integers(5, 120)))
        result = drop_points(sketch, np.random.default_rng(trial), prob=0.5)
        assert result.dtype == sketch.dtype
        assert result[:, 2].sum() == sketch[:, 2].sum()  # no stroke end is lost
        before = stroke3_to_absolute(sketch)
        after = stroke3_to_absolute(result)
        np.testing.assert_array_equal(after[after[:, 2] == 1, 0:2], before[before[:, 2] == 1, 0:2])
        np.testing.assert_array_equal(
            result[:, 0:2].astype(np.int64).sum(0), sketch[:, 0:2].astype(np.int64).sum(0)
        )
        # every kept position is one of the original positions
        original = {tuple(point) for point in before[:, 0:2]}
        assert all(tuple(point) in original for point in after[:, 0:2])


def test_drop_points_rate_matches_prob():
    # one long stroke: every point after the third (except the end) is eligible
    sketch = np.zeros((1003, 3), dtype=np.int16)
    sketch[:, 0] = 1
    sketch[-1, 2] = 1
    eligible = 1003 - 4
    dropped = len(sketch) - len(drop_points(sketch, np.random.default_rng(0), prob=0.1))
    assert abs(dropped - 0.1 * eligible) < 4 * math.sqrt(eligible * 0.1 * 0.9)


def test_drop_points_rejects_bad_prob():
    with pytest.raises(ConfigError, match="prob"):
        drop_points(np.array([[1, 1, 1]]), np.random.default_rng(0), prob=1.5)


# ---------------------------------------------------------------- rotations


def rotate_points(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    matrix = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return points @ matrix.T


@pytest.mark.parametrize("degrees", [0.0, 17.0, 90.0, -135.0, 300.0])
def test_rotate_matches_rotating_absolute_points_about_any_centre(degrees):
    sketch = random_sketch(np.random.default_rng(4))
    points = stroke3_to_absolute(sketch)[:, 0:2]
    centre = (points.min(0) + points.max(0)) / 2
    rotated_about_centre = rotate_points(points - centre, degrees) + centre
    result = stroke3_to_absolute(rotate(sketch, degrees).astype(np.float64))
    # stroke-3 keeps no start position: compare shapes after aligning the first point
    np.testing.assert_allclose(
        result[:, 0:2], rotated_about_centre - rotated_about_centre[0], atol=1e-3
    )
    np.testing.assert_array_equal(result[:, 2], stroke3_to_absolute(sketch)[:, 2])


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, -1, 7])
def test_rotate90_is_exact_and_matches_rotate(k):
    sketch = random_sketch(np.random.default_rng(5))
    result = rotate90(sketch, k)
    assert result.dtype == sketch.dtype
    np.testing.assert_allclose(result, rotate(sketch, 90.0 * k), atol=1e-4)
    # four quarter turns are the identity, exactly
    np.testing.assert_array_equal(rotate90(rotate90(result, 2), 2 - k), sketch)


def test_rotate90_matches_xu_unit_box_formula():
    # Xu et al.: (x, y) -> (1 - y, x) on absolute points in the unit box
    sketch = np.array([[0.25, 0.5, 0], [0.5, -0.25, 1]])
    points = stroke3_to_absolute(sketch)[:, 0:2] + 0.1
    xu = np.stack([1 - points[:, 1], points[:, 0]], axis=1)
    ours = stroke3_to_absolute(rotate90(sketch, 1))[:, 0:2]
    np.testing.assert_allclose(ours, xu - xu[0])


# ---------------------------------------------------------------- sine deformation


def test_sine_remap_hand_computed_values():
    # f(x) = x + 0.5 * lam * x * (sin(2x) - sin 2) for a = 0, b = 1
    # sin 1 = 0.841471, sin 2 = 0.909297, sin 0.5 = 0.479426
    assert sine_remap(np.array(0.0), 2.1) == 0.0
    assert sine_remap(np.array(1.0), 2.1) == pytest.approx(1.0, abs=1e-12)
    assert sine_remap(np.array(1.0), -4.1) == pytest.approx(1.0, abs=1e-12)
    # 0.5 + 0.525 * (0.841471 - 0.909297) = 0.464391
    assert sine_remap(np.array(0.5), 2.1) == pytest.approx(0.464391, abs=2e-6)
    # 0.5 - 1.025 * (0.841471 - 0.909297) = 0.569522
    assert sine_remap(np.array(0.5), -4.1) == pytest.approx(0.569522, abs=2e-6)
    # 0.25 - 0.5125 * (0.479426 - 0.909297) = 0.470309
    assert sine_remap(np.array(0.25), -4.1) == pytest.approx(0.470309, abs=2e-6)
    # end points stay fixed for other phases too: g(1) = 2b whatever a is
    assert sine_remap(np.array(1.0), 3.0, a=0.3, b=0.8) == pytest.approx(1.0, abs=1e-12)


def test_sine_remap_monotone_for_paper_lambdas_and_not_beyond():
    grid = np.linspace(0.0, 1.0, 200_001)
    for strength, lowest_slope in ((2.1, 0.045), (-4.1, 0.0125)):
        slope = np.diff(sine_remap(grid, strength)) / np.diff(grid)
        assert slope.min() > 0, strength
        assert slope.min() == pytest.approx(lowest_slope, abs=5e-4)
    # a slightly stronger y deformation folds the axis: -4.1 is monotone only barely
    assert np.diff(sine_remap(grid, -4.3)).min() < 0


def test_sine_deform_hand_computed_points():
    # absolute path (0,0) -> (5,10) -> (10,20) -> (0,20): bbox 10 x 20
    sketch = np.array([[5, 10, 0], [5, 10, 0], [-10, 0, 1]], dtype=np.int16)
    result = sine_deform(sketch)
    points = stroke3_to_absolute(result)[:, 0:2]
    np.testing.assert_allclose(points[0], [0, 0], atol=1e-9)
    np.testing.assert_allclose(points[1], [4.64391, 11.39044], atol=1e-4)
    np.testing.assert_allclose(points[2], [10, 20], atol=1e-9)
    np.testing.assert_allclose(points[3], [0, 20], atol=1e-9)
    np.testing.assert_array_equal(result[:, 2], sketch[:, 2])
    unit = stroke3_to_absolute(sine_deform(sketch, unit_box=True))[:, 0:2]
    np.testing.assert_allclose(unit[1], [0.464391, 0.569522], atol=2e-6)
    np.testing.assert_allclose(unit.max(0) - unit.min(0), [1.0, 1.0])


def test_sine_deform_keeps_bbox_order_and_flat_axes():
    sketch = random_sketch(np.random.default_rng(6))
    before = stroke3_to_absolute(sketch)[:, 0:2]
    after = stroke3_to_absolute(sine_deform(sketch))[:, 0:2]
    # stroke-3 keeps no start position, and the start point moves: compare after aligning the
    # bounding boxes' corners; the extent must be unchanged
    np.testing.assert_allclose(after.max(0) - after.min(0), before.max(0) - before.min(0))
    after += before.min(0) - after.min(0)
    for axis in (0, 1):  # monotone remap: the order of coordinates along each axis is kept
        order = np.argsort(before[:, axis], kind="stable")
        assert (np.diff(after[order, axis]) >= -1e-9).all()
    flat = np.array([[4, 0, 0], [3, 0, 1]], dtype=np.int16)  # zero height
    deformed = sine_deform(flat)
    np.testing.assert_allclose(deformed[:, 1], 0.0)
    assert deformed[:, 0].sum() == pytest.approx(7.0)


# ---------------------------------------------------------------- chains


def test_random_sine_deform_is_a_drawn_paper_warp_in_the_same_box():
    sketch = random_sketch(np.random.default_rng(5))
    before = stroke3_to_absolute(sketch)[:, 0:2]
    seen = set()
    for seed in range(40):
        warped = random_sine_deform(sketch, np.random.default_rng(seed))
        after = stroke3_to_absolute(warped)[:, 0:2]
        np.testing.assert_array_equal(warped[:, 2], sketch[:, 2])
        # monotone per axis, ends fixed: the box size and the order of points are kept (stroke-3
        # starts at the origin, so the box is kept up to where the warped first point lands)
        np.testing.assert_allclose(np.ptp(after, axis=0), np.ptp(before, axis=0), atol=1e-9)
        for axis in (0, 1):
            order = np.argsort(before[:, axis], kind="stable")
            assert np.all(np.diff(after[order, axis]) >= -1e-9)
        moved = np.abs(after - before).max(axis=0) > 1e-6  # (2,) which axes were warped
        assert moved.any()
        seen.add(tuple(moved))
        # the same generator state gives the same warp
        again = random_sine_deform(sketch, np.random.default_rng(seed))
        np.testing.assert_array_equal(again, warped)
    assert seen == {(True, False), (False, True), (True, True)}  # x only, y only, both


def test_random_sine_deform_matches_sine_deform_on_the_drawn_strengths():
    """With the mirror undone by hand, a draw is :func:`sine_deform` with strengths in range."""
    sketch = random_sketch(np.random.default_rng(6))
    for seed in range(20):
        rng = np.random.default_rng(seed)
        warped = random_sine_deform(sketch, rng)
        replay = np.random.default_rng(seed)
        axes = ((True, False), (False, True), (True, True))[int(replay.integers(3))]
        strengths = []
        for warped_axis in axes:
            if not warped_axis:
                strengths.append(0.0)
            elif replay.random() < 0.5:
                strengths.append(-float(replay.uniform(1.0, 4.1)))
            else:
                strengths.append(float(replay.uniform(1.0, 2.1)))
        mirror = np.where(replay.random(2) < 0.5, -1.0, 1.0)
        assert all(s == 0.0 or 1.0 <= abs(s) <= 4.1 for s in strengths)
        flipped = sketch.astype(np.float64) * np.array([mirror[0], mirror[1], 1.0])
        expected = sine_deform(flipped, strengths[0], strengths[1])
        expected[:, 0:2] *= mirror
        np.testing.assert_allclose(warped, expected, atol=1e-12)


def test_random_sine_deform_rejects_folding_ranges():
    sketch = random_sketch(np.random.default_rng(7))
    with pytest.raises(ConfigError, match="folds"):
        random_sine_deform(sketch, np.random.default_rng(0), max_squeeze=4.5)
    with pytest.raises(ConfigError, match="min_strength"):
        random_sine_deform(sketch, np.random.default_rng(0), min_strength=3.0)


def test_compose_applies_in_order_with_one_generator():
    sketch = random_sketch(np.random.default_rng(7))
    chain = compose(
        lambda s, rng: random_scale(s, rng, 0.1), lambda s, rng: drop_points(s, rng, 0.3)
    )
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    expected = drop_points(random_scale(sketch, rng_b, 0.1), rng_b, 0.3)
    np.testing.assert_array_equal(chain(sketch, rng_a), expected)


def test_augmenter_is_reproducible_per_index_and_epoch():
    sketch = random_sketch(np.random.default_rng(8), length=100)
    augmenter = SketchAugmenter(Augmentation(scale_factor=0.2, drop_prob=0.3), seed=11)
    first = augmenter(sketch, index=4)
    np.testing.assert_array_equal(first, augmenter(sketch, index=4))
    np.testing.assert_array_equal(
        first,
        SketchAugmenter(Augmentation(scale_factor=0.2, drop_prob=0.3), seed=11)(sketch, index=4),
    )
    assert not np.array_equal(first, augmenter(sketch, index=5))
    augmenter.epoch = 1
    assert not np.array_equal(first, augmenter(sketch, index=4))
    assert first.dtype == np.float32


def test_augmenter_with_everything_off_is_identity():
    sketch = random_sketch(np.random.default_rng(9))
    augmenter = SketchAugmenter(Augmentation(scale_factor=0.0, drop_prob=0.0), seed=0)
    result = augmenter(sketch)
    np.testing.assert_array_equal(result, sketch)
    assert result is not sketch


def test_augmentation_validates_options():
    with pytest.raises(ConfigError, match="scale_factor"):
        Augmentation(scale_factor=1.5)
    with pytest.raises(ConfigError, match="drop_prob"):
        Augmentation(drop_prob=-0.1)


def test_augmenter_pickles_for_dataloader_workers():
    sketch = random_sketch(np.random.default_rng(10), length=80)
    augmenter = SketchAugmenter(Augmentation(max_rotation_degrees=10.0), seed=2)
    copy = pickle.loads(pickle.dumps(augmenter))
    np.testing.assert_array_equal(copy(sketch, index=3), augmenter(sketch, index=3))
