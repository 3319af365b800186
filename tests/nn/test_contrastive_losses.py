"""Contrastive losses against their definitions written out term by term."""

from __future__ import annotations

import math

import pytest
import torch

from sketchssl.nn.contrastive import CrossModalInfoNCE, NTXentLoss, ProjectionHead, VICRegLoss


def _cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    return float(u @ v / (u.norm() * v.norm()))


def test_nt_xent_matches_the_simclr_formula() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    temperature = 0.5
    joined = torch.cat([a, b])
    total = 0.0
    for i in range(6):
        partner = (i + 3) % 6
        denominator = sum(
            math.exp(_cosine(joined[i], joined[k]) / temperature) for k in range(6) if k != i
        )
        total += -math.log(
            math.exp(_cosine(joined[i], joined[partner]) / temperature) / denominator
        )
    assert float(NTXentLoss(temperature)(a, b)) == pytest.approx(total / 6, rel=1e-5)


def test_cross_modal_info_nce_is_the_mean_of_both_directions() -> None:
    torch.manual_seed(1)
    images, points = torch.randn(4, 3), torch.randn(4, 3)
    temperature = 0.2

    def direction(first: torch.Tensor, second: torch.Tensor) -> float:
        loss = 0.0
        for i in range(4):
            scores = [math.exp(_cosine(first[i], second[k]) / temperature) for k in range(4)]
            loss += -math.log(scores[i] / sum(scores))
        return loss / 4

    expected = 0.5 * (direction(images, points) + direction(points, images))
    assert float(CrossModalInfoNCE(temperature)(images, points)) == pytest.approx(
        expected, rel=1e-5
    )


def test_vicreg_terms_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 2.0], [-1.0, -2.0]])
    b = a + 0.5
    loss = VICRegLoss(invariance_weight=2.0, variance_weight=3.0, covariance_weight=5.0, epsilon=0)
    # invariance: every entry differs by 0.5 -> mse 0.25; std per dim: x 1.1547 (> 1: no hinge),
    # y 1.633 -> variance term 0 for both views; covariance of (x, y): sum(x*y)/3 = (0+0+2+2)/3
    covariance = (4.0 / 3.0) ** 2 * 2 / 2  # both off-diagonal entries, divided by D = 2
    expected = 2.0 * 0.25 + 3.0 * 0.0 + 5.0 * 2 * covariance
    assert float(loss(a, b)) == pytest.approx(expected, rel=1e-5)
    # a collapsed view pays the variance hinge: std 0 -> 1 per dimension
    collapsed = torch.zeros(4, 2)
    assert float(VICRegLoss(0.0, 1.0, 0.0, epsilon=0)(collapsed, collapsed)) == pytest.approx(2.0)


def test_matching_pairs_score_lower_than_shuffled_ones() -> None:
    torch.manual_seed(2)
    a = torch.randn(16, 8)
    for loss in (NTXentLoss(0.1), CrossModalInfoNCE(0.1), VICRegLoss()):
        assert float(loss(a, a + 0.01 * torch.randn(16, 8))) < float(loss(a, a[torch.randperm(16)]))


def test_projection_head_shapes_and_errors() -> None:
    head = ProjectionHead([8, 16, 4])
    assert head(torch.zeros(3, 8)).shape == (3, 4)
    with pytest.raises(ValueError, match="at least two positive widths"):
        ProjectionHead([8])
