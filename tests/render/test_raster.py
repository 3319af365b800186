"""The aggdraw CPU rasteriser: placement, anti-aliasing, round caps / joins, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from sketchssl.errors import SketchFormatError
from sketchssl.render.raster import (
    CanvasTransform,
    RasterConfig,
    fit_transform,
    render_batch,
    render_strokes,
)


def ink(image: np.ndarray) -> np.ndarray:
    """Ink coverage in [0, 1] of a black-on-white image."""
    return 1.0 - image.astype(np.float64) / 255.0


def test_horizontal_line_hand_computed() -> None:
    # From (5, 10) to (15, 10), width 2: rows 9 and 11 are half covered, row 10 fully.
    sketch = np.array([[10, 0, 1]])
    image = render_strokes(sketch, size=24, line_width=2.0, transform=CanvasTransform(1, 1, 5, 10))
    coverage = ink(image)
    assert np.allclose(coverage[10, 6:15], 1.0, atol=0.02)
    assert np.allclose(coverage[9, 8:13], 0.5, atol=0.03)
    assert np.allclose(coverage[11, 8:13], 0.5, atol=0.03)
    # Next to the ends the cap disc is composited over the line's anti-aliased edge: a little
    # darker than exact (0.5), which the module docstring accepts.
    assert np.all((coverage[[9, 11]][:, [6, 14]] > 0.45) & (coverage[[9, 11]][:, [6, 14]] < 0.7))
    assert np.allclose(coverage[[7, 13], :], 0.0, atol=0.01)
    # Round cap: pixel (10, 4) is 1 px from the end point -> about half covered; (10, 2) empty.
    assert 0.3 < coverage[10, 4] < 0.8
    assert coverage[10, 2] < 0.02
    # Total ink is the capsule area: length * width + pi * r^2.
    assert coverage.sum() == pytest.approx(10 * 2 + np.pi, rel=0.05)


def test_round_join_has_no_miter_spike() -> None:
    # A V turning by ~127 degrees; a miter join would stick out about 9 px above the apex.
    apex_first = np.array([[10, -20, 0], [10, 20, 1]])
    image = render_strokes(
        apex_first, size=40, line_width=8.0, transform=CanvasTransform(1, 1, 5, 28)
    )  # apex at (15, 8)
    coverage = ink(image)
    assert coverage[8 - 5, 15] < 0.02  # 5 px above the apex: outside a round join (r = 4)
    assert coverage[8 - 3, 15] > 0.95  # 3 px above: inside it


def test_single_point_stroke_is_a_dot(square_sketch: np.ndarray) -> None:
    dot = np.array([[0, 0, 1]])
    coverage = ink(render_strokes(dot, size=32, line_width=6.0))
    assert coverage.sum() == pytest.approx(np.pi * 9, rel=0.05)
    rows, cols = np.nonzero(coverage > 0.5)
    assert rows.mean() == pytest.approx(15.5, abs=0.1)  # centred on (size - 1) / 2
    assert cols.mean() == pytest.approx(15.5, abs=0.1)
    # A lone point after a lift inside a sketch is drawn too.
    with_dot = np.vstack([square_sketch, [[5, 5, 0], [0, 0, 1]]])  # isolated 1-point stroke
    lone = np.vstack([square_sketch, [[5, 5, 1]]])  # lands on (12, 12): 2 * 12 + 10 = 34
    place = CanvasTransform(2, 2, 10, 10)  # same placement for all three

    def draw(sketch: np.ndarray) -> np.ndarray:
        return ink(render_strokes(sketch, 64, line_width=3.0, transform=place))

    added = draw(lone) - draw(square_sketch)
    assert added.sum() == pytest.approx(np.pi * 1.5**2, rel=0.05)  # one disc at (34, 34)
    assert added[34, 34] > 0.99
    assert np.abs(draw(with_dot) - draw(lone)).max() < 0.02


def test_fit_places_bounding_box(square_sketch: np.ndarray) -> None:
    # The 10 x 10 square fills 100 * (1 - 0.2) = 80 px, centred: edges at x = 9.5 and 89.5.
    coverage = ink(render_strokes(square_sketch, size=100, line_width=1.0, padding=0.1))
    rows, cols = np.nonzero(coverage > 0.01)
    assert cols.min() == 9 and cols.max() == 90
    assert rows.min() == 9 and rows.max() == 90
    transform = fit_transform(np.array([[0, 0], [10, 10]]), 100, 0.1)
    assert transform.scale_x == pytest.approx(8.0)
    assert transform.offset_x == pytest.approx(9.5)


def test_y_grows_downward_and_fit_false_uses_pixels() -> None:
    down = np.array([[0, 20, 1]])  # (0, 0) -> (0, 20): pen moves down the page
    coverage = ink(render_strokes(down, size=32, fit=False))
    assert coverage[0:21, 0].min() > 0.45  # column 0, rows 0..20
    assert coverage[25:, :].max() < 0.01
    assert coverage[:, 3:].max() < 0.01


def test_degenerate_bounding_boxes_do_not_divide_by_zero() -> None:
    vertical = np.array([[0, 10, 1]])
    for keep_aspect in (True, False):
        image = render_strokes(vertical, size=64, keep_aspect=keep_aspect)
        rows, cols = np.nonzero(ink(image) > 0.5)
        assert cols.mean() == pytest.approx(31.5, abs=0.6)
        assert rows.min() <= 5 and rows.max() >= 58  # stretched over the canvas height


def test_keep_aspect_false_stretches(square_sketch: np.ndarray) -> None:
    wide = np.array([[40, 0, 0], [0, 10, 1]])
    rows, _ = np.nonzero(ink(render_strokes(wide, 64, keep_aspect=False)) > 0.5)
    assert rows.max() - rows.min() > 50
    rows, _ = np.nonzero(ink(render_strokes(wide, 64, keep_aspect=True)) > 0.5)
    assert rows.max() - rows.min() < 20


def test_invert_and_batch(square_sketch: np.ndarray) -> None:
    normal = render_strokes(square_sketch, 48).astype(int)
    inverted = render_strokes(square_sketch, 48, invert=True).astype(int)
    # Same coverage, composited in 8 bits the other way round: equal up to rounding.
    assert np.abs(255 - normal - inverted).max() <= 6
    assert np.abs(255 - normal - inverted).mean() < 0.5
    assert inverted[0, 0] == 0 and normal[0, 0] == 255
    batch = render_batch([square_sketch, square_sketch[:3]], size=48)
    assert batch.shape == (2, 48, 48) and batch.dtype == np.uint8
    assert np.array_equal(batch[1], render_strokes(square_sketch[:3], 48))
    config = RasterConfig(size=48, invert=True)
    assert np.array_equal(config.render(square_sketch), inverted)
    assert config.render_batch([square_sketch]).shape == (1, 48, 48)


def test_float_sketches_render() -> None:
    sketch = np.array([[0.5, 0.25, 0.0], [-0.1, 0.3, 1.0]], dtype=np.float32)
    assert ink(render_strokes(sketch, 32)).sum() > 10


def test_errors() -> None:
    with pytest.raises(SketchFormatError, match="shape"):
        render_strokes(np.zeros((3, 2)))
    with pytest.raises(SketchFormatError, match="empty"):
        render_strokes(np.zeros((0, 3)))
    with pytest.raises(SketchFormatError, match="sketch 1"):
        render_batch([np.array([[1, 1, 1]]), np.array([[1, 1, 7]])])
    with pytest.raises(SketchFormatError, match="line_width"):
        render_strokes(np.array([[1, 1, 1]]), line_width=0)
    with pytest.raises(SketchFormatError, match="size"):
        RasterConfig(size=0)


def test_real_sketches_render_quickly_enough_to_count(shared_data) -> None:
    data = np.load(
        shared_data / "quickdraw_sketchrnn_mini" / "cat.npz", allow_pickle=True, encoding="latin1"
    )
    images = render_batch(list(data["train"][:16]), size=64)
    inked = (images < 128).mean(axis=(1, 2))
    assert (inked > 0.01).all() and (inked < 0.5).all()
