"""SP-gra2seq's synonymous-proximity graph and GCN, against hand-computed adjacencies."""

from __future__ import annotations

import pytest
import torch

from sketchssl.nn.gcn import (
    GraphConvolution,
    cosine_similarity_matrix,
    nearest_neighbour_weights,
    synonymous_proximity_adjacency,
)

# Five patch slots in 2-D. Pairwise cosines of the first four:
#   c12 = 0.6, c13 = 0.8, c14 = 0, c23 = 0.96, c24 = 0.8, c34 = 0.6.
# Slot 4 is masked and slot 5 is an empty slot: both are unusable.
FEATURES = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]]])
USABLE = torch.tensor([[True, True, True, False, False]])


def hand_adjacency() -> torch.Tensor:
    """The adjacency written out from the rules, before and after row normalisation."""
    rows = torch.zeros(6, 6)
    rows[0, 0] = 1.0  # node 0: self-loop only
    # patch 1: itself (1 x 1), then patch 3 (0.5 x 0.8), then patch 2 (0.2 x 0.6); node 0 0.5
    rows[1, [0, 1, 2, 3]] = torch.tensor([0.5, 1.0, 0.2 * 0.6, 0.5 * 0.8])
    # patch 2: itself, then patch 3 (0.5 x 0.96), then patch 4 (0.2 x 0.8) which is masked: cut,
    # not replaced by patch 1
    rows[2, [0, 2, 3]] = torch.tensor([0.5, 1.0, 0.5 * 0.96])
    # patch 3: itself, then patch 2 (0.5 x 0.96), then patch 1 (0.2 x 0.8; patch 4 has 0.6)
    rows[3, [0, 1, 2, 3]] = torch.tensor([0.5, 0.2 * 0.8, 0.5 * 0.96, 1.0])
    # rows 4 and 5 (unusable) stay zero
    sums = rows.sum(dim=1, keepdim=True)
    return torch.where(sums > 0, rows / sums.clamp(min=1e-12), rows)


def test_adjacency_of_a_hand_made_sketch():
    adjacency = synonymous_proximity_adjacency(FEATURES, USABLE)
    assert adjacency.shape == (1, 6, 6)
    torch.testing.assert_close(adjacency[0], hand_adjacency(), atol=1e-6, rtol=0)
    # a few of the numbers spelled out: patch 1's row sums to 2.02 before normalisation
    assert adjacency[0, 1, 0].item() == pytest.approx(0.5 / 2.02, abs=1e-6)
    assert adjacency[0, 3, 1].item() == pytest.approx(0.16 / 2.14, abs=1e-6)


def test_masked_and_empty_slots_lose_rows_and_columns_and_rows_sum_to_one():
    adjacency = synonymous_proximity_adjacency(FEATURES, USABLE)[0]
    assert torch.count_nonzero(adjacency[4:]) == 0 and torch.count_nonzero(adjacency[:, 4:]) == 0
    torch.testing.assert_close(adjacency[:4].sum(dim=1), torch.ones(4))
    # every usable patch reads node 0; node 0 reads no patch (patch <- node 0 only)
    assert (adjacency[1:4, 0] > 0).all() and torch.count_nonzero(adjacency[0, 1:]) == 0
    # with every slot usable, slot 4 comes back and patch 2's third link is patch 4, not patch 1
    everything = synonymous_proximity_adjacency(FEATURES, torch.ones(1, 5, dtype=torch.bool))[0]
    assert everything[2, 4] > 0 and everything[2, 1] == 0


def test_each_patch_links_to_exactly_its_three_most_similar_slots():
    torch.manual_seed(0)
    features = torch.randn(3, 7, 5)
    usable = torch.ones(3, 7, dtype=torch.bool)
    adjacency = synonymous_proximity_adjacency(features, usable)
    similarity = cosine_similarity_matrix(features)
    expected = similarity.topk(3, dim=-1).indices.sort(dim=-1).values  # (3, 7, 3)
    linked = torch.stack(
        [torch.nonzero(adjacency[b, 1 + i, 1:]).flatten() for b in range(3) for i in range(7)]
    ).view(3, 7, 3)
    # patches with a negative cosine to a top-3 slot get a negative weight, still a link
    assert torch.equal(linked, expected)


def test_rank_weights_break_ties_toward_the_lower_slot():
    similarity = torch.tensor([[[1.0, 1.0, 0.5], [1.0, 1.0, 0.5], [0.5, 0.5, 1.0]]])
    weights = nearest_neighbour_weights(similarity, (1.0, 0.5, 0.2))
    # slot 1 is as similar to slot 0 as to itself: slot 0 comes first
    torch.testing.assert_close(weights[0, 1], torch.tensor([1.0, 0.5, 0.2]))
    # fewer slots than weights: only as many links as slots
    two = nearest_neighbour_weights(torch.eye(2)[None], (1.0, 0.5, 0.2))
    torch.testing.assert_close(two[0], torch.tensor([[1.0, 0.5], [0.5, 1.0]]))


def test_the_cosines_carry_gradient_and_zero_vectors_are_dissimilar():
    features = FEATURES.clone().requires_grad_(True)
    adjacency = synonymous_proximity_adjacency(features, USABLE)
    (adjacency * torch.arange(36.0).view(6, 6)).sum().backward()
    assert features.grad is not None and features.grad[0, :3].abs().sum() > 0
    similarity = cosine_similarity_matrix(torch.tensor([[[0.0, 0.0], [1.0, 0.0]]]))
    assert torch.equal(similarity, torch.tensor([[[0.0, 0.0], [0.0, 1.0]]]))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="usable"):
        synonymous_proximity_adjacency(FEATURES, USABLE[:, :3])


def test_graph_convolution_is_propagation_plus_a_residual_perceptron():
    torch.manual_seed(1)
    gcn = GraphConvolution(4)
    nodes = torch.randn(2, 6, 4)
    adjacency = synonymous_proximity_adjacency(torch.randn(2, 5, 3), torch.rand(2, 5) > 0.3)
    propagated = torch.einsum("bij,bjd->bid", adjacency, nodes)
    first, second = (layer.weight for layer in gcn.layers)
    expected = propagated + torch.relu(torch.relu(propagated @ first.T) @ second.T)
    torch.testing.assert_close(gcn(nodes, adjacency), expected)
    # an unusable node has an empty row: nothing reaches it, and it adds nothing
    empty = adjacency.sum(dim=-1) == 0
    assert torch.count_nonzero(gcn(nodes, adjacency)[empty]) == 0
    assert all(layer.bias is None for layer in gcn.layers)
