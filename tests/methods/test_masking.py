"""Sketch Gestalt Model masks: counts per group as the reference code draws them, uniformity,
state masks only on flagged rows plus the last point, padding never masked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.data.formats import stroke3_to_stroke5
from sketchssl.methods.masking import (
    apply_gestalt_masks,
    choose_fraction,
    draw_gestalt_masks,
    pen_down_run_starts,
)

KEEP = 0.85


def random_batch(seed: int, size: int = 64, max_len: int = 80, start_token: bool = False):
    """Random stroke-3 sketches as a padded stroke-5 batch with its real-row mask."""
    rng = np.random.default_rng(seed)
    rows, masks = [], []
    for _ in range(size):
        length = int(rng.integers(1, max_len + 1))
        sketch = np.zeros((length, 3), dtype=np.int16)
        sketch[:, :2] = rng.integers(-20, 21, size=(length, 2))
        sketch[:, 2] = rng.random(length) < 0.2
        sketch[-1, 2] = 1
        rows.append(stroke3_to_stroke5(sketch, max_len, start_token=start_token))
        real = np.zeros(len(rows[-1]), dtype=bool)
        real[: length + int(start_token)] = True
        masks.append(real)
    return torch.from_numpy(np.stack(rows)), torch.from_numpy(np.stack(masks))


def quota(count: int) -> int:
    return int(count * (1 - KEEP))  # the reference code's arithmetic, in Python floats


def test_pen_down_run_starts_hand_computed():
    # p1 column: 1 1 0 1 1 0 | padding   -> runs start at rows 0 and 3
    sketch = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 1], [5, 5, 0], [1, 0, 0], [1, 0, 1]])
    rows = torch.from_numpy(stroke3_to_stroke5(sketch.astype(np.int16), 8))[None]
    mask = torch.zeros(1, 8, dtype=torch.bool)
    mask[0, :6] = True
    assert pen_down_run_starts(rows, mask)[0].nonzero().flatten().tolist() == [0, 3]
    # with the start row (0, 0, 1, 0, 0) in front, as the reference inserts: the first real point
    # follows a pen-down row and joins the "others" group, as in the reference code
    rows = torch.from_numpy(stroke3_to_stroke5(sketch.astype(np.int16), 8, start_token=True))[None]
    mask = torch.zeros(1, 9, dtype=torch.bool)
    mask[0, :7] = True
    assert pen_down_run_starts(rows, mask)[0].nonzero().flatten().tolist() == [0, 4]


def test_quota_matches_python_int_arithmetic():
    # row n has n candidates, scattered; float rounding must match int(n * (1 - 0.85)) exactly
    counts = torch.arange(260)
    order = torch.rand(260, 260, generator=torch.Generator().manual_seed(0)).argsort(dim=1)
    candidates = torch.zeros(260, 260, dtype=torch.bool)
    candidates.scatter_(1, order, torch.arange(260)[None, :] < counts[:, None])
    picked = choose_fraction(candidates, 1 - KEEP, torch.Generator().manual_seed(1))
    assert picked.sum(dim=1).tolist() == [quota(n) for n in range(260)]
    assert not (picked & ~candidates).any()


@pytest.mark.parametrize("start_token", [False, True])
def test_mask_counts_per_group_as_reference(start_token):
    strokes5, mask = random_batch(0, start_token=start_token)
    masks = draw_gestalt_masks(strokes5, mask, KEEP, torch.Generator().manual_seed(0))
    starts = pen_down_run_starts(strokes5, mask)
    lengths = mask.sum(dim=1)
    for b in range(len(mask)):
        for group in (starts[b], mask[b] & ~starts[b]):
            assert int((masks.position[b] & group).sum()) == quota(int(group.sum()))
        last = int(lengths[b]) - 1
        assert masks.state[b, last]  # the final real point's state is always masked
        for column in (2, 3, 4):
            flagged = mask[b] & (strokes5[b, :, column] == 1)
            chosen = masks.state[b] & flagged
            chosen[last] = False
            # the forced last point may also have been drawn at random: q or q - 1 remain
            q = quota(int(flagged.sum()))
            assert int(chosen.sum()) in ({q, q - 1} if flagged[last] else {q})


def test_state_masks_only_on_flagged_rows_and_never_padding():
    strokes5, mask = random_batch(1)
    masks = draw_gestalt_masks(strokes5, mask, KEEP, torch.Generator().manual_seed(1))
    assert not (masks.position & ~mask).any()
    assert not (masks.state & ~mask).any()
    # every real stroke-5 row has exactly one flag set, so masked states all sit on flagged rows
    flagged = (strokes5[..., 2:] == 1).any(dim=-1) & mask
    assert not (masks.state & ~flagged).any()


def test_masked_fraction_is_uniform_over_candidates():
    # one fixed sketch of 40 points, 2000 draws: every candidate row is masked about q/n of the
    # time (binomial with p = q/n); a biased picker (e.g. always the first rows) fails this
    strokes5, mask = random_batch(2, size=1, max_len=40)
    batch = strokes5.expand(2000, -1, -1).contiguous()
    batch_mask = mask.expand(2000, -1).contiguous()
    masks = draw_gestalt_masks(batch, batch_mask, KEEP, torch.Generator().manual_seed(2))
    starts = pen_down_run_starts(strokes5, mask)[0]
    others = mask[0] & ~starts
    n = int(others.sum())
    frequency = masks.position.float().mean(dim=0)[others]
    expected = quota(n) / n
    spread = 5 * (expected * (1 - expected) / 2000) ** 0.5
    assert (frequency - expected).abs().max() < spread
    # over the whole batch the masked share of the group is exactly quota/n
    assert masks.position[:, others].float().mean().item() == pytest.approx(expected)


def test_generator_makes_masks_reproducible():
    strokes5, mask = random_batch(3)
    first = draw_gestalt_masks(strokes5, mask, KEEP, torch.Generator().manual_seed(5))
    again = draw_gestalt_masks(strokes5, mask, KEEP, torch.Generator().manual_seed(5))
    other = draw_gestalt_masks(strokes5, mask, KEEP, torch.Generator().manual_seed(6))
    assert torch.equal(first.position, again.position) and torch.equal(first.state, again.state)
    assert not torch.equal(first.position, other.position)


def test_keep_prob_one_masks_only_the_last_state():
    strokes5, mask = random_batch(4)
    masks = draw_gestalt_masks(strokes5, mask, 1.0)
    assert not masks.position.any()
    assert masks.state.sum().item() == len(mask)
    with pytest.raises(ValueError, match="keep_prob"):
        draw_gestalt_masks(strokes5, mask, 0.0)


def test_apply_zeroes_exactly_the_masked_entries():
    strokes5 = torch.arange(20, dtype=torch.float32).view(1, 4, 5) + 1
    position = torch.tensor([[True, False, False, True]])
    state = torch.tensor([[False, True, False, True]])
    out = apply_gestalt_masks(strokes5, position, state)
    expected = strokes5.clone()
    expected[0, [0, 3], :2] = 0
    expected[0, [1, 3], 2:] = 0
    assert torch.equal(out, expected)
