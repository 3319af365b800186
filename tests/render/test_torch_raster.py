"""The batched torch rasteriser against the aggdraw renderer, and its gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.data.io import load_sketchrnn_npz
from sketchssl.errors import SketchFormatError
from sketchssl.render.raster import render_strokes
from sketchssl.render.torch_raster import rasterize, rasterize_strokes, strokes_to_segments

CATEGORIES = ("cat", "bee", "bus", "umbrella")


def real_sketches(shared_data, per_category: int) -> list[np.ndarray]:
    sketches = []
    for name in CATEGORIES:
        arrays = load_sketchrnn_npz(shared_data / "quickdraw_sketchrnn_mini" / f"{name}.npz")
        sketches += list(arrays["train"][:per_category])
    return sketches


@pytest.mark.parametrize(("size", "per_category", "bound"), [(64, 16, 2.5), (256, 4, 1.5)])
def test_agrees_with_aggdraw_on_real_sketches(shared_data, size, per_category, bound):
    sketches = real_sketches(shared_data, per_category)
    ours = rasterize_strokes(sketches, size=size, line_width=2.0).numpy()  # (B, H, W) ink
    reference = np.stack([render_strokes(s, size=size, line_width=2.0) for s in sketches])
    reference_ink = 1.0 - reference.astype(np.float64) / 255.0
    error = np.abs(ours - reference_ink).mean() * 255.0
    # docs/BENCHMARKS.md quotes the error measured by benchmarks/data_bench.py on more sketches.
    assert error < bound, f"mean absolute error {error:.2f}/255"
    ink_ratio = ours.sum() / reference_ink.sum()
    assert 0.9 < ink_ratio < 1.1


def test_hand_computed_pixels():
    # One horizontal segment along y = 4 from x = 2 to x = 8, width 2: coverage
    # clamp(1 + 0.5 - distance, 0, 1).
    segments = torch.tensor([[[[2.0, 4.0], [8.0, 4.0]]]])
    image = rasterize(segments, size=10, line_width=2.0)[0]
    assert image[4, 5] == 1.0  # on the line
    assert image[5, 5] == pytest.approx(0.5)  # distance 1
    assert image[6, 5] == 0.0  # distance 2
    assert image[4, 0] == 0.0  # beyond the round cap (distance 2)
    assert image[4, 1] == pytest.approx(0.5)  # cap: distance 1 from (2, 4)


def test_gradient_flows_to_the_points():
    segments = torch.tensor([[[[2.0, 4.0], [8.0, 4.3]]]], dtype=torch.float64, requires_grad=True)

    def ink_below(points: torch.Tensor) -> torch.Tensor:
        return rasterize(points, size=12, line_width=2.0)[0, 5, 3:8].sum()  # row under the line

    value = ink_below(segments)
    value.backward()
    assert torch.isfinite(segments.grad).all()
    assert segments.grad[0, 0, :, 1].sum() > 0  # moving the line down (+y) inks row 5 more
    step = 1e-6  # a finite difference agrees with autograd
    for endpoint in (0, 1):
        moved = segments.detach().clone()
        moved[0, 0, endpoint, 1] += step
        numeric = (ink_below(moved) - value.detach()) / step
        assert float(numeric) == pytest.approx(float(segments.grad[0, 0, endpoint, 1]), rel=1e-3)


def test_chunking_and_union_and_errors(square_sketch):
    segments, mask = strokes_to_segments([square_sketch, square_sketch[:3]], size=32)
    # one segment per point: to the next point inside a stroke, a dot at stroke ends
    assert mask.sum(1).tolist() == [7, 4]
    whole = rasterize(segments, mask, size=32, chunk_size=64)
    chunked = rasterize(segments, mask, size=32, chunk_size=2)
    torch.testing.assert_close(whole, chunked)
    union = rasterize(segments, mask, size=32, combine="union")
    assert (union >= whole - 1e-6).all()
    with pytest.raises(SketchFormatError, match="combine"):
        rasterize(segments, mask, size=32, combine="sum")
    with pytest.raises(SketchFormatError, match="shape"):
        rasterize(torch.zeros(2, 3, 4), size=8)
