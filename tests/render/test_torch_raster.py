"""The torch rasteriser: exact values, agreement with aggdraw on real sketches, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.data.formats import stroke3_to_stroke5
from sketchssl.errors import SketchFormatError
from sketchssl.render.raster import render_batch
from sketchssl.render.torch_raster import (
    rasterize,
    rasterize_stroke5,
    rasterize_strokes,
    stroke5_to_segments,
    strokes_to_segments,
)

CATEGORIES = (
    "cat",
    "bee",
    "bus",
    "airplane",
    "umbrella",
    "spider",
    "flower",
    "The Great Wall of China",
)


def real_sketches(shared_data, per_category: int) -> list[np.ndarray]:
    sketches = []
    for category in CATEGORIES:
        path = shared_data / "quickdraw_sketchrnn_mini" / f"{category}.npz"
        data = np.load(path, allow_pickle=True, encoding="latin1")
        sketches += list(data["train"][:per_category])
    return sketches


def test_horizontal_segment_exact_coverage() -> None:
    segments = torch.tensor([[[[5.0, 10.0], [15.0, 10.0]]]])  # (1, 1, 2, 2)
    ink = rasterize(segments, size=24, line_width=2.0)[0]
    assert torch.allclose(ink[10, 5:16], torch.ones(11))
    assert torch.allclose(ink[9, 5:16], torch.full((11,), 0.5))
    assert torch.allclose(ink[10, 4], torch.tensor(0.5))  # round cap, 1 px past the end
    assert ink[10, 3] == 0 and ink[7].sum() == 0
    assert ink.sum().item() == pytest.approx(10 * 2 + np.pi, rel=0.03)


def test_agrees_with_aggdraw_on_real_sketches(shared_data) -> None:
    # Measured (see the torch_raster module docstring): 0.95/255 at 64 px over these 64
    # sketches, 0.17/255 at 256 px over every 4th of them (16 sketches, to keep the test fast).
    sketches = real_sketches(shared_data, per_category=8)
    for size, subset, bound in ((64, sketches, 1.2), (256, sketches[::4], 0.3)):
        reference = render_batch(subset, size, 2.0).astype(np.float64)
        ours = 255.0 * (1.0 - rasterize_strokes(subset, size, 2.0).double().numpy())
        error = np.abs(ours - reference).mean()
        assert error < bound, f"{size} px: MAE {error:.3f}/255"
        ink_ratio = (255 - ours).sum() / (255 - reference).sum()
        assert 0.95 < ink_ratio < 1.05


def test_chunking_and_combines() -> None:
    generator = torch.Generator().manual_seed(0)
    segments = torch.rand(2, 7, 2, 2, generator=generator) * 30
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    whole = rasterize(segments, mask, size=32, chunk_size=100)
    assert torch.equal(whole, rasterize(segments, mask, size=32, chunk_size=2))
    # Masked segments draw nothing: sketch 1 equals its first 4 segments alone.
    assert torch.equal(whole[1], rasterize(segments[1:, :4], size=32)[0])
    union = rasterize(segments, mask, size=32, combine="union", chunk_size=3)
    assert (union >= whole - 1e-6).all()  # 1 - prod(1 - c) >= max c
    single = segments[:1, :1]
    assert torch.allclose(
        rasterize(single, size=32, combine="union"), rasterize(single, size=32), atol=1e-5
    )


def test_gradcheck_double() -> None:
    segments = torch.tensor(
        [[[[1.37, 2.21], [5.83, 4.12]], [[5.83, 4.12], [2.54, 6.71]]]],
        dtype=torch.float64,
        requires_grad=True,
    )
    for combine in ("max", "union"):
        assert torch.autograd.gradcheck(
            lambda s, c=combine: rasterize(s, size=8, line_width=2.3, combine=c),
            (segments,),
            eps=1e-6,
            atol=1e-5,
        )


def test_checkpoint_gives_same_gradients() -> None:
    segments = torch.rand(2, 9, 2, 2, generator=torch.Generator().manual_seed(1)) * 20
    grads = []
    for use_checkpoint in (False, True):
        leaf = segments.clone().requires_grad_(True)
        rasterize(leaf, size=24, chunk_size=4, checkpoint=use_checkpoint).sum().backward()
        grads.append(leaf.grad)
    assert torch.allclose(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


def test_stroke5_matches_stroke3_segments(square_sketch: np.ndarray) -> None:
    sketches = [square_sketch, np.array([[5, -3, 1], [2, 2, 1], [0, 4, 1]]), square_sketch[:2]]
    segments, mask = strokes_to_segments(sketches, size=40)
    big = torch.as_tensor(np.stack([stroke3_to_stroke5(s, 8) for s in sketches]))  # (3, 8, 5)
    for start_token in (False, True):
        rows = big
        if start_token:
            start = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]).expand(3, 1, 5)
            rows = torch.cat([start, big], dim=1)
        segments5, mask5 = stroke5_to_segments(rows, size=40, start_token=start_token)
        width = segments.shape[1]
        assert torch.equal(mask5[:, :width], mask) and not mask5[:, width:].any()
        assert torch.allclose(segments5[:, :width][mask], segments[mask], atol=1e-4)
    images = rasterize_stroke5(big, size=40)
    assert torch.allclose(images, rasterize_strokes(sketches, size=40), atol=1e-4)


def test_stroke5_gradient_reaches_offsets(square_sketch: np.ndarray) -> None:
    big = torch.as_tensor(stroke3_to_stroke5(square_sketch, 10))[None].requires_grad_(True)
    target = torch.zeros(1, 32, 32)
    loss = ((rasterize_stroke5(big, size=32, line_width=3.0) - target) ** 2).sum()
    loss.backward()
    assert torch.isfinite(big.grad).all()
    assert big.grad[0, :6, 0:2].abs().sum() > 0  # real offsets get gradient
    assert big.grad[0, 6:].abs().sum() == 0  # padding does not


def test_device_and_dtype_follow_input() -> None:
    segments = torch.tensor([[[[1.0, 1.0], [6.0, 6.0]]]], dtype=torch.float64)
    assert rasterize(segments, size=8).dtype == torch.float64
    if torch.cuda.is_available():
        on_gpu = rasterize(segments.cuda(), size=8)
        assert on_gpu.is_cuda
        assert torch.allclose(on_gpu.cpu(), rasterize(segments, size=8))


def test_errors() -> None:
    with pytest.raises(SketchFormatError, match=r"\(B, S, 2, 2\)"):
        rasterize(torch.zeros(2, 3, 4))
    with pytest.raises(SketchFormatError, match="combine"):
        rasterize(torch.zeros(1, 1, 2, 2), combine="sum")
    with pytest.raises(SketchFormatError, match="sketch 1"):
        strokes_to_segments([np.array([[1, 1, 1]]), np.zeros((0, 3))])
    with pytest.raises(SketchFormatError, match=r"\(B, T, 5\)"):
        stroke5_to_segments(torch.zeros(2, 3))
