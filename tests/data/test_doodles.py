"""Tests of the SYNTHETIC doodle generator: determinism, format, variety and class separability."""

from __future__ import annotations

import numpy as np
import pytest

from sketchssl.data.doodles import (
    DOODLE_CLASSES,
    DOODLE_SOURCE,
    doodle_polylines,
    generate_doodle,
    iter_doodle_records,
)
from sketchssl.data.formats import stroke3_to_absolute, stroke3_to_polylines, validate_stroke3
from sketchssl.data.simplify import resample_polyline
from sketchssl.errors import ConfigError


@pytest.fixture(scope="module")
def samples() -> dict[str, list[np.ndarray]]:
    """40 doodles per class."""
    return {
        name: [generate_doodle(name, np.random.default_rng([99, i])) for i in range(40)]
        for name in DOODLE_CLASSES
    }


def test_at_least_twelve_distinct_classes():
    assert len(DOODLE_CLASSES) >= 12
    assert len(set(DOODLE_CLASSES)) == len(DOODLE_CLASSES)
    for name in ("circle", "square", "triangle", "star", "house", "spiral", "zigzag"):
        assert name in DOODLE_CLASSES


def test_generate_is_deterministic_given_the_generator():
    for name in DOODLE_CLASSES:
        first = generate_doodle(name, np.random.default_rng(5))
        second = generate_doodle(name, np.random.default_rng(5))
        np.testing.assert_array_equal(first, second)
        other = generate_doodle(name, np.random.default_rng(6))
        assert not np.array_equal(first, other)


def test_every_class_gives_valid_int16_stroke3_in_the_box(samples):
    for name, sketches in samples.items():
        for sketch in sketches:
            validate_stroke3(sketch, where=name)
            assert sketch.dtype == np.int16
            assert sketch[-1, 2] == 1
            points = stroke3_to_absolute(sketch)[:, 0:2]
            extent = points.max(0) - points.min(0)
            # QuickDraw's simplified frame: the largest extent is 255 (RDP may trim a pixel
            # or two off an extreme point), and nothing exceeds it
            assert extent.max() <= 255, name
            assert extent.max() >= 245, name
            assert 3 <= len(sketch) <= 200, (name, len(sketch))


def test_polylines_are_in_the_quickdraw_box():
    for name in DOODLE_CLASSES:
        lines = doodle_polylines(name, np.random.default_rng(3))
        stacked = np.concatenate(lines)
        assert stacked.min() == 0 and stacked.max() <= 255
        np.testing.assert_array_equal(
            stroke3_to_absolute(generate_doodle(name, np.random.default_rng(3)))[:, 0:2]
            + stacked[0],
            stacked,
        )


def test_lengths_resemble_quickdraw(samples):
    # mean lengths per class between 8 and 60 points (QuickDraw circles ~24, houses ~30)
    for name, sketches in samples.items():
        mean = np.mean([len(sketch) for sketch in sketches])
        assert 8 <= mean <= 60, (name, mean)


def test_pen_structure_and_start_vary_within_a_class(samples):
    for name, sketches in samples.items():
        starts = set()
        for sketch in sketches:
            points = stroke3_to_absolute(sketch)[:, 0:2]
            relative = (points[0] - points.min(0)) / np.maximum(np.ptp(points, axis=0), 1)
            starts.add(tuple(np.round(relative * 3).astype(int)))
        assert len(starts) >= 3, name  # the drawing starts in different places
    for name in ("square", "triangle", "house", "heart", "arrow", "cross", "smiley", "sun"):
        counts = {int(sketch[:, 2].sum()) for sketch in samples[name]}
        assert len(counts) >= 2, (name, counts)


def point_cloud_features(sketch: np.ndarray) -> np.ndarray:
    """Occupancy of a 6x6 grid by the drawn ink, the bbox aspect and the stroke count."""
    lines = [
        resample_polyline(line, 2.0) if len(line) > 1 else line
        for line in stroke3_to_polylines(sketch)
    ]
    cloud = np.concatenate(lines)
    low, extent = cloud.min(0), np.maximum(np.ptp(cloud, axis=0), 1.0)
    cells = np.minimum(((cloud - low) / extent * 6).astype(int), 5)
    grid = np.zeros((6, 6))
    np.add.at(grid, (cells[:, 1], cells[:, 0]), 1.0)
    grid /= grid.sum()
    aspect = np.log(extent[0] / extent[1])
    return np.concatenate([grid.ravel() * 6, [aspect, np.log(len(lines))]])


def test_classes_are_separable_by_a_nearest_centroid_classifier():
    train = list(iter_doodle_records(25, seed=1))
    test = list(iter_doodle_records(15, seed=2))
    names = sorted(DOODLE_CLASSES)
    features = np.stack([point_cloud_features(record.strokes) for record in train])
    labels = np.array([names.index(record.label) for record in train])
    centroids = np.stack([features[labels == k].mean(0) for k in range(len(names))])
    test_features = np.stack([point_cloud_features(record.strokes) for record in test])
    test_labels = np.array([names.index(record.label) for record in test])
    distances = ((test_features[:, None, :] - centroids[None]) ** 2).sum(-1)
    accuracy = float((distances.argmin(1) == test_labels).mean())
    chance = 1.0 / len(names)
    assert accuracy > 0.75, accuracy  # chance is about 0.07
    assert accuracy > 8 * chance


def test_iter_doodle_records_fields_order_and_seed():
    records = list(iter_doodle_records(2, seed=3))
    assert len(records) == 2 * len(DOODLE_CLASSES)
    assert [record.label for record in records[: len(DOODLE_CLASSES)]] == list(DOODLE_CLASSES)
    assert [record.index for record in records] == list(range(len(records)))
    for record in records:
        assert record.source == DOODLE_SOURCE == "doodles (synthetic)"
        assert record.split is None and record.key_id is None
        assert record.strokes.dtype == np.int16
    again = list(iter_doodle_records(3, seed=3))
    for old, new in zip(records, again, strict=False):  # a sample does not depend on per_class
        np.testing.assert_array_equal(old.strokes, new.strokes)
    different = next(iter_doodle_records(1, seed=4))
    assert not np.array_equal(different.strokes, records[0].strokes)
    subset = list(iter_doodle_records(2, seed=3, classes=["star"]))
    star_index = DOODLE_CLASSES.index("star")
    np.testing.assert_array_equal(
        subset[1].strokes, records[len(DOODLE_CLASSES) + star_index].strokes
    )


def test_unknown_class_lists_the_classes():
    with pytest.raises(ConfigError) as caught:
        generate_doodle("sqare", np.random.default_rng(0))
    message = str(caught.value)
    assert "sqare" in message and "Did you mean 'square'" in message
    assert all(name in message for name in DOODLE_CLASSES)
    with pytest.raises(ConfigError, match="unknown doodle class 'dog'"):
        list(iter_doodle_records(1, classes=["circle", "dog"]))
