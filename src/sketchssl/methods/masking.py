"""Mask drawing for the Sketch Gestalt Model (SGM), Sketch-BERT's pre-training task.

Follows the ``mask_task_type='task'`` branch of ``QuickDrawMemMapDataset.generate_mask`` in the
reference code (avalonstrel/SketchBERT, ``data/quickdraw_dataset.py``):

* ``keep_prob`` (the code's ``mask_prob``, 0.85) is a *keep* rate: of ``n`` candidates,
  ``int(n * (1 - keep_prob))`` are masked (15 %), drawn uniformly without replacement.
* Positions (``dx, dy``) and pen states (``p1, p2, p3``) are masked separately.
* Positions: the real rows split into two groups, the first point of a pen-down run (row 0, and
  every row whose ``p1`` rises from 0 to 1) and the others; each group is masked at that rate.
* States: for each of ``p1``, ``p2``, ``p3``, the rows where that flag is 1 are masked at that
  rate; a masked row loses its whole state triple.
* The last real row's state triple is always masked.

One deliberate difference: only real (unpadded) rows are candidates. The reference counts the
``p3 = 1`` padding rows among the ``p3`` candidates, so it spends part of its state masks on
padding; here padding is never masked.

With ``SketchDataset(..., start_token=True)`` the data carry the zero row the reference code puts
in front of every sketch (stroke-5 ``(0, 0, 1, 0, 0)``), which makes the groups identical to the
reference's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "GestaltMasks",
    "counter_uniforms",
    "pen_down_run_starts",
    "choose_fraction",
    "draw_gestalt_masks",
    "apply_gestalt_masks",
]


class GestaltMasks(NamedTuple):
    """Which entries the SGM hides: both ``(B, T)`` bool, True = masked."""

    position: Tensor
    state: Tensor


def pen_down_run_starts(strokes5: Tensor, mask: Tensor) -> Tensor:
    """Rows that start a pen-down run: row 0 and rows whose ``p1`` rises from 0 to 1.

    Args:
        strokes5: ``(B, T, 5)`` stroke-5 rows.
        mask: ``(B, T)`` True on real rows.

    Returns:
        ``(B, T)`` bool, False on padding.
    """
    pen_down = strokes5[..., 2]  # (B, T)
    rises = torch.zeros_like(mask)
    rises[:, 0] = True
    rises[:, 1:] = (pen_down[:, 1:] - pen_down[:, :-1]) == 1
    return rises & mask


_MASK64 = (1 << 64) - 1


def _mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 (wrapping arithmetic, well defined in numpy)."""
    values = values.astype(np.uint64, copy=True)
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def counter_uniforms(sample_seeds: Tensor, length: int, stream: int) -> Tensor:
    """Uniforms in [0, 1) that depend only on (sample seed, position, stream): ``(B, length)``.

    A counter-based generator: sample ``b``'s draws do not depend on which other samples share
    its batch, so a batch split over DDP processes gets exactly the masks one process would draw.
    """
    seeds = sample_seeds.detach().cpu().numpy().astype(np.uint64)  # (B,)
    with np.errstate(over="ignore"):
        base = _mix64(
            seeds * np.uint64(0x9E3779B97F4A7C15) + np.uint64(stream * 0x632BE59BD9B4E019 & _MASK64)
        )
        counters = base[:, None] + np.arange(length, dtype=np.uint64)[None, :] * np.uint64(
            0xD1B54A32D192ED03
        )
        bits = _mix64(counters) >> np.uint64(11)  # 53 random bits
    return torch.from_numpy(bits.astype(np.float64) / float(1 << 53))


def choose_fraction(
    candidates: Tensor,
    fraction: float,
    generator: torch.Generator | None = None,
    scores: Tensor | None = None,
) -> Tensor:
    """Per row, pick ``int(n * fraction)`` of the ``n`` True entries uniformly without replacement.

    Args:
        candidates: ``(B, T)`` bool.
        fraction: share to pick, in ``[0, 1]``.
        generator: random source; None uses torch's global generator for the device.
        scores: ``(B, T)`` uniforms to rank the candidates by instead of drawing them.

    Returns:
        ``(B, T)`` bool, a subset of ``candidates``.

    Examples:
        >>> picked = choose_fraction(torch.ones(3, 20, dtype=torch.bool), 0.15)
        >>> picked.sum(dim=1).tolist()
        [3, 3, 3]
    """
    device = generator.device if generator is not None else candidates.device
    counts = candidates.sum(dim=1).to(torch.float64)  # (B,)
    # float64 product then floor: the same number Python's int(n * (1 - keep)) gives
    quota = torch.floor(counts * fraction).to(torch.long)  # (B,)
    if scores is None:
        scores = torch.rand(candidates.shape, generator=generator, device=device)
    scores = scores.to(candidates.device).masked_fill(~candidates, 2.0)  # non-candidates last
    order = scores.argsort(dim=1)  # (B, T)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return (ranks < quota[:, None]) & candidates


def draw_gestalt_masks(
    strokes5: Tensor,
    mask: Tensor,
    keep_prob: float = 0.85,
    generator: torch.Generator | None = None,
    sample_seeds: Tensor | None = None,
) -> GestaltMasks:
    """Draw the SGM position and state masks for a batch, as the reference code does.

    Args:
        strokes5: ``(B, T, 5)`` unmasked stroke-5 rows.
        mask: ``(B, T)`` True on real rows (the start token, if present, counts as real).
        keep_prob: share of each candidate group left visible (the reference's ``mask_prob``).
        generator: random source; None uses torch's global generator.
        sample_seeds: ``(B,)`` int64, one seed per sketch; when given, every sketch's masks are
            a function of its own seed only (:func:`counter_uniforms`), whatever the batch.

    Returns:
        The position and state masks, ``(B, T)`` bool each.

    Examples:
        >>> rows = torch.zeros(1, 4, 5)
        >>> rows[0, :, 2] = 1; rows[0, 3, 2:] = torch.tensor([0.0, 1.0, 0.0])
        >>> masks = draw_gestalt_masks(rows, torch.ones(1, 4, dtype=torch.bool))
        >>> masks.state.tolist()  # too few candidates for 15 %; the last state is always hidden
        [[False, False, False, True]]
    """
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    mask = mask.bool()
    fraction = 1.0 - keep_prob
    length = mask.shape[1]

    def scores(stream: int) -> Tensor | None:
        if sample_seeds is None:
            return None
        return counter_uniforms(sample_seeds, length, stream).to(mask.device)

    starts = pen_down_run_starts(strokes5, mask)
    position = choose_fraction(starts, fraction, generator, scores(0)) | choose_fraction(
        mask & ~starts, fraction, generator, scores(1)
    )
    state = torch.zeros_like(mask)
    for stream, column in enumerate((2, 3, 4), start=2):
        flagged = mask & (strokes5[..., column] == 1)
        state |= choose_fraction(flagged, fraction, generator, scores(stream))
    lengths = mask.sum(dim=1)  # (B,)
    has_points = lengths > 0
    # the last real row: its pen state says where the sketch ends, always a target
    last = (lengths - 1).clamp(min=0)
    state[has_points, last[has_points]] = True
    return GestaltMasks(position=position, state=state)


def apply_gestalt_masks(strokes5: Tensor, position_mask: Tensor, state_mask: Tensor) -> Tensor:
    """Zero the masked entries: ``dx, dy`` where ``position_mask``, ``p1..p3`` where ``state_mask``.

    Args:
        strokes5: ``(B, T, 5)``.
        position_mask: ``(B, T)`` bool.
        state_mask: ``(B, T)`` bool.

    Returns:
        ``(B, T, 5)`` masked copy.
    """
    keep = torch.ones_like(strokes5)
    keep[..., :2] = keep[..., :2].masked_fill(position_mask[..., None], 0.0)
    keep[..., 2:] = keep[..., 2:].masked_fill(state_mask[..., None], 0.0)
    return strokes5 * keep
