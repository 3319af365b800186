"""Batched, differentiable stroke rasteriser in plain torch (CPU or GPU).

Every pixel's ink is computed from its distance ``d`` to the nearest stroke segment, the
"exact segment SDF" of ``docs/ANCHORS.md`` section B4: a segment of width ``w`` with round caps
covers a pixel by ``clamp(w / 2 + 0.5 - d, 0, 1)``, a one-pixel linear ramp across the edge
(the box-filter coverage of a straight edge through the pixel centre). Segments are combined by
**max** (``combine="max"``, the default: exact for the union of round-capped segments up to the
ramp) or by the soft union ``1 - prod(1 - c)`` (``combine="union"``, how alpha compositing
stacks strokes). Ink is differentiable with respect to the point coordinates; the pen states
are discrete and only select which segments exist. In the spirit of jonhare's
DifferentiableSketching (pure-torch relaxed rasterisation); the code here is our own.

Memory: the work is ``(B, S_chunk, H, W)`` per chunk of ``S_chunk`` segments, folded into a
running result, so forward memory is bounded by ``chunk_size``. Under autograd every chunk's
intermediates are kept unless ``checkpoint=True`` recomputes them in the backward pass.

Placement matches :mod:`sketchssl.render.raster` exactly (pixel-index coordinates, pixel
``(i, j)`` centred at ``(x, y) = (j, i)``, the same fit transform). Its agreement with the
aggdraw renderer (mean absolute error of ``255 * (1 - ink)`` against the uint8 image, on real
QuickDraw sketches) is measured by ``benchmarks/data_bench.py`` and quoted in
``docs/BENCHMARKS.md``; ``tests/render/test_torch_raster.py`` bounds it.

Total ink is within 2% of aggdraw's. Most of the remaining difference is where strokes retrace
each other: AGG sums the coverage of overlapping parts of one polyline, max does not. (ANCHORS
B4 for scale: exact SDF vs cairo 0.26/255, aggdraw vs cairo 0.57/255.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint as torch_checkpoint

from sketchssl.data.formats import validate_stroke3
from sketchssl.errors import SketchFormatError
from sketchssl.render.raster import CanvasTransform, sketch_canvas_points

__all__ = [
    "strokes_to_segments",
    "stroke5_to_segments",
    "rasterize",
    "rasterize_strokes",
    "rasterize_stroke5",
]

_COMBINES = ("max", "union")


def _segments_from_points(points: np.ndarray) -> np.ndarray:
    """One segment per point: to the next point while the pen is down, else a dot (zero length).

    ``points`` is ``(P, 3)`` (x, y, pen_lifted); returns ``(P, 2, 2)``. Under ``max`` a dot on a
    stroke end changes nothing (it lies inside the cap), and it draws single-point strokes.
    """
    xy = points[:, 0:2]
    ends = xy.copy()
    draw_on = points[:-1, 2] == 0  # pen stays down after point k
    ends[:-1][draw_on] = xy[1:][draw_on]
    return np.stack([xy, ends], axis=1)


def strokes_to_segments(
    sketches: Sequence[np.ndarray],
    size: int = 256,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    transforms: Sequence[CanvasTransform] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded segment endpoints for a list of stroke-3 sketches, placed as the CPU renderer does.

    Args:
        sketches: ``B`` stroke-3 arrays ``(N_b, 3)``.
        size: canvas side in pixels.
        padding: fraction of the canvas left empty on each side when fitting.
        fit: fit each bounding box into the canvas, as
            :func:`sketchssl.render.raster.render_strokes` does; False uses pixel coordinates.
        keep_aspect: keep the aspect ratio when fitting.
        transforms: one :class:`CanvasTransform` per sketch; overrides the fit.
        device: of the returned tensors.
        dtype: of the returned segments.

    Returns:
        ``segments`` ``(B, S, 2, 2)`` (segment, endpoint, xy) in pixel-index coordinates with
        ``S = max N_b + 1``, and ``mask`` ``(B, S)`` bool, True for real segments.
    """
    per_sketch = []
    for index, sketch in enumerate(sketches):
        sketch = validate_stroke3(sketch, where=f"sketch {index}")
        transform = None if transforms is None else transforms[index]
        points = sketch_canvas_points(
            sketch, size, padding, fit=fit, keep_aspect=keep_aspect, transform=transform
        )
        per_sketch.append(_segments_from_points(points))
    count = max((len(s) for s in per_sketch), default=0)
    segments = np.zeros((len(per_sketch), count, 2, 2), dtype=np.float64)  # (B, S, 2, 2)
    mask = np.zeros((len(per_sketch), count), dtype=bool)  # (B, S)
    for index, sketch_segments in enumerate(per_sketch):
        segments[index, : len(sketch_segments)] = sketch_segments
        mask[index, : len(sketch_segments)] = True
    return (
        torch.as_tensor(segments, dtype=dtype, device=device),
        torch.as_tensor(mask, device=device),
    )


def stroke5_to_segments(
    strokes: torch.Tensor,
    size: int = 256,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    start_token: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Segments of a padded stroke-5 batch, differentiable with respect to ``dx, dy``.

    Absolute points are the cumulative sum of the offsets from the origin; the fit transform is
    the one of :func:`sketchssl.render.raster.fit_transform`, computed in torch over each
    sketch's real points (so gradients flow through the placement too). Pen states are taken by
    argmax (model outputs may be soft): a row whose largest state is ``p3`` ends the sketch.

    Args:
        strokes: ``(B, T, 5)`` rows ``(dx, dy, p1, p2, p3)``.
        size: canvas side in pixels.
        padding: fraction of the canvas left empty on each side when fitting.
        fit: fit each sketch's bounding box into the canvas; False uses pixel coordinates.
        keep_aspect: keep the aspect ratio when fitting.
        start_token: row 0 is the start token ``S0`` (the origin, pen down) rather than an
            offset.

    Returns:
        ``segments`` ``(B, S, 2, 2)`` and ``mask`` ``(B, S)`` with ``S = T`` when
        ``start_token`` else ``T + 1``.
    """
    if strokes.ndim != 3 or strokes.shape[-1] != 5:
        raise SketchFormatError(
            f"stroke-5 batch must have shape (B, T, 5), got {tuple(strokes.shape)}"
        )
    state = strokes[..., 2:5].argmax(dim=-1)  # (B, T): 0 down, 1 up, 2 end
    if start_token:
        offsets = strokes[:, 1:, 0:2]
        state = state[:, 1:]
    else:
        offsets = strokes[..., 0:2]
    batch = strokes.shape[0]
    ended = torch.cumsum((state == 2).long(), dim=1) > 0  # (B, T') at or after the end
    origin = offsets.new_zeros(batch, 1, 2)
    xy = torch.cat([origin, torch.cumsum(offsets, dim=1)], dim=1)  # (B, P, 2), P = T' + 1
    real = torch.cat([~ended.new_zeros(batch, 1), ~ended], dim=1)  # (B, P)
    lifted = torch.cat([state.new_zeros(batch, 1), state], dim=1) == 1  # (B, P)
    if fit:
        xy = _fit_points(xy, real, size, padding, keep_aspect)
    next_real = torch.cat([real[:, 1:], real.new_zeros(batch, 1)], dim=1)
    draw_on = (~lifted & next_real).unsqueeze(-1)  # (B, P, 1)
    next_xy = torch.cat([xy[:, 1:], xy[:, -1:]], dim=1)
    ends = torch.where(draw_on, next_xy, xy)
    return torch.stack([xy, ends], dim=2), real  # (B, P, 2, 2), (B, P)


def _fit_points(
    xy: torch.Tensor, real: torch.Tensor, size: int, padding: float, keep_aspect: bool
) -> torch.Tensor:
    """Torch twin of :func:`sketchssl.render.raster.fit_transform`, applied per sketch."""
    big = torch.finfo(xy.dtype).max
    low = torch.where(real.unsqueeze(-1), xy, torch.full_like(xy, big)).amin(dim=1)  # (B, 2)
    high = torch.where(real.unsqueeze(-1), xy, torch.full_like(xy, -big)).amax(dim=1)
    extent = high - low
    target = size * (1.0 - 2.0 * padding)
    if keep_aspect:
        longest = extent.amax(dim=1, keepdim=True)  # (B, 1)
        scale = torch.where(longest > 0, target / longest.clamp_min(1e-12), 1.0).expand(-1, 2)
    else:
        scale = torch.where(extent > 0, target / extent.clamp_min(1e-12), 0.0)
        fallback = scale.amax(dim=1, keepdim=True)
        fallback = torch.where(fallback > 0, fallback, 1.0)
        scale = torch.where(scale > 0, scale, fallback)
    centre = (low + high) / 2.0
    offset = (size - 1) / 2.0 - centre * scale
    return xy * scale.unsqueeze(1) + offset.unsqueeze(1)


def _chunk_coverage(
    segments: torch.Tensor,
    mask: torch.Tensor,
    grid_x: torch.Tensor,
    grid_y: torch.Tensor,
    half_width: float,
) -> torch.Tensor:
    """Coverage ``(B, C, H, W)`` of each of ``C`` segments ``(B, C, 2, 2)``."""
    start = segments[:, :, 0, :]  # (B, C, 2)
    direction = segments[:, :, 1, :] - start
    ax = start[..., 0, None, None]  # (B, C, 1, 1)
    ay = start[..., 1, None, None]
    dx = direction[..., 0, None, None]
    dy = direction[..., 1, None, None]
    length2 = (dx * dx + dy * dy).clamp_min(1e-12)
    rel_x = grid_x - ax  # (B, C, 1, W)
    rel_y = grid_y - ay  # (B, C, H, 1)
    along = ((rel_x * dx + rel_y * dy) / length2).clamp(0.0, 1.0)  # (B, C, H, W)
    off_x = rel_x - along * dx
    off_y = rel_y - along * dy
    # The epsilon keeps the gradient of sqrt finite on the centre line.
    distance = torch.sqrt(off_x * off_x + off_y * off_y + 1e-12)
    coverage = (half_width + 0.5 - distance).clamp(0.0, 1.0)
    return coverage * mask[..., None, None].to(coverage.dtype)


def rasterize(
    segments: torch.Tensor,
    mask: torch.Tensor | None = None,
    size: int = 256,
    line_width: float = 2.0,
    *,
    combine: str = "max",
    chunk_size: int = 32,
    checkpoint: bool = False,
) -> torch.Tensor:
    """Render segments into ink images: 1 is ink, 0 is paper (white on black).

    Args:
        segments: ``(B, S, 2, 2)`` endpoints in pixel-index coordinates (see
            :func:`strokes_to_segments`, :func:`stroke5_to_segments`); the result follows its
            device and (floating) dtype.
        mask: ``(B, S)`` True for real segments; all real when None.
        size: canvas side in pixels.
        line_width: stroke width in pixels.
        combine: ``"max"`` or ``"union"`` (``1 - prod(1 - c)``); see the module docstring.
        chunk_size: segments processed at once; bounds memory to ``B * chunk_size * size**2``.
        checkpoint: recompute each chunk in the backward pass instead of storing it.

    Returns:
        ``(B, size, size)`` ink in ``[0, 1]``. ``255 * (1 - ink)`` is the CPU renderer's
        black-on-white image.
    """
    if segments.ndim != 4 or segments.shape[-2:] != (2, 2):
        raise SketchFormatError(
            f"segments must have shape (B, S, 2, 2), got {tuple(segments.shape)}"
        )
    if combine not in _COMBINES:
        raise SketchFormatError(f"combine must be one of {_COMBINES}, got {combine!r}")
    if chunk_size < 1:
        raise SketchFormatError(f"chunk_size must be at least 1, got {chunk_size}")
    if not segments.is_floating_point():
        segments = segments.float()
    batch, count = segments.shape[:2]
    if mask is None:
        mask = torch.ones(batch, count, dtype=torch.bool, device=segments.device)
    axis = torch.arange(size, device=segments.device, dtype=segments.dtype)
    grid_x = axis.view(1, 1, 1, size)  # pixel column j has its centre at x = j
    grid_y = axis.view(1, 1, size, 1)
    half_width = float(line_width) / 2.0
    # Running state: max coverage, or the log of the paper left for the soft union.
    result = segments.new_zeros(batch, size, size)
    for first in range(0, count, chunk_size):
        chunk = (segments[:, first : first + chunk_size], mask[:, first : first + chunk_size])
        if checkpoint and torch.is_grad_enabled() and segments.requires_grad:
            coverage = torch_checkpoint(
                _chunk_coverage, *chunk, grid_x, grid_y, half_width, use_reentrant=False
            )
        else:
            coverage = _chunk_coverage(*chunk, grid_x, grid_y, half_width)
        if combine == "max":
            result = torch.maximum(result, coverage.amax(dim=1))
        else:
            paper = torch.log1p(-coverage.clamp(max=1.0 - 1e-6)).sum(dim=1)
            result = result + paper
    if combine == "union":
        result = 1.0 - torch.exp(result)
    return result


def rasterize_strokes(
    sketches: Sequence[np.ndarray],
    size: int = 256,
    line_width: float = 2.0,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    device: torch.device | str | None = None,
    **options: object,
) -> torch.Tensor:
    """:func:`strokes_to_segments` then :func:`rasterize`: ``(B, size, size)`` ink in [0, 1]."""
    segments, mask = strokes_to_segments(
        sketches, size, padding, fit=fit, keep_aspect=keep_aspect, device=device
    )
    return rasterize(segments, mask, size, line_width, **options)


def rasterize_stroke5(
    strokes: torch.Tensor,
    size: int = 256,
    line_width: float = 2.0,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    start_token: bool = False,
    **options: object,
) -> torch.Tensor:
    """:func:`stroke5_to_segments` then :func:`rasterize`: ``(B, size, size)`` ink in [0, 1]."""
    segments, mask = stroke5_to_segments(
        strokes, size, padding, fit=fit, keep_aspect=keep_aspect, start_token=start_token
    )
    return rasterize(segments, mask, size, line_width, **options)
