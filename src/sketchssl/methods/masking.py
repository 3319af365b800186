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

import torch
from torch import Tensor

__all__ = [
    "GestaltMasks",
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


def choose_fraction(
    candidates: Tensor, fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """Per row, pick ``int(n * fraction)`` of the ``n`` True entries uniformly without replacement.

    Args:
        candidates: ``(B, T)`` bool.
        fraction: share to pick, in ``[0, 1]``.
        generator: random source; None uses torch's global generator for the device.

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
) -> GestaltMasks:
    """Draw the SGM position and state masks for a batch, as the reference code does.

    Args:
        strokes5: ``(B, T, 5)`` unmasked stroke-5 rows.
        mask: ``(B, T)`` True on real rows (the start token, if present, counts as real).
        keep_prob: share of each candidate group left visible (the reference's ``mask_prob``).
        generator: random source; None uses torch's global generator.

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
    starts = pen_down_run_starts(strokes5, mask)
    position = choose_fraction(starts, fraction, generator) | choose_fraction(
        mask & ~starts, fraction, generator
    )
    state = torch.zeros_like(mask)
    for column in (2, 3, 4):
        flagged = mask & (strokes5[..., column] == 1)
        state |= choose_fraction(flagged, fraction, generator)
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
