"""Dense-adjacency graph convolution and SP-gra2seq's synonymous-proximity graph.

- [0] Zang, Tu, Xu, "Linking Sketch Patches by Learning Synonymous Proximity for Graphic Sketch
  Representation" (SP-gra2seq), AAAI 2023, https://arxiv.org/abs/2211.16841; reference code
  CMACH508/SP-gra2seq ``model.py`` (``gcn_encoder``: ``coff``, ``winner_1..3``, ``masked_coff``,
  ``coff_adjs``, ``gcn_weight_1/2``).
- [1] Kipf, Welling, "Semi-Supervised Classification with Graph Convolutional Networks", ICLR
  2017: the ``A H W`` propagation, here with a row-normalised dense ``A`` per sketch.

A sketch is a graph of ``1 + S`` nodes: node 0 is the whole sketch, nodes ``1 .. S`` its patch
slots. Adjacencies are dense ``(B, 1 + S, 1 + S)`` tensors, one per sketch, and **row ``i`` lists
what node ``i`` receives**: propagation is ``H' = A @ H``.

Synonymous proximity (:func:`synonymous_proximity_adjacency`): patches are linked by the cosine
similarity of their CNN embeddings, not by drawing order or canvas distance.

* Each patch keeps its 3 most cosine-similar patches among all ``S`` slots (the first is normally
  itself, cosine 1), weighted ``1``, ``0.5``, ``0.2`` times the cosine: ``A_ij = w_r cos_ij``.
  The ranking is by value, ties to the lower slot index (successive ``argmax`` as the reference
  code takes them). The cosine keeps its gradient; the choice of neighbours has none.
* Patches that are not usable (an empty slot, or a slot masked for healing) lose their row and
  their column, as the reference code multiplies ``coff`` by its validity mask. The neighbours
  are chosen *before* that cut, as there: a link to an unusable patch is dropped, not replaced
  by the next most similar patch.
* Node 0 keeps only its self-loop: row 0 is ``(1, 0, ..., 0)``, so the whole-sketch node receives
  nothing from the patches. Every usable patch ``i`` gets ``A_i0 = 0.5``: the link to node 0 is
  **patch <- node 0** (column 0 of the patch rows: each patch receives the whole-sketch node's
  features, node 0 does not receive the patch's), exactly the ``0.5 * slide_mask`` block the
  reference code concatenates as the first column of rows ``1 .. S`` of ``masked_coff``.
* Each row is divided by its sum (``+ 1e-10``), so unusable rows stay all zero.

One deliberate difference: the reference code takes the patch -> node-0 mask from the first
column of its patch mask matrix, ``mask[i, 0] = usable_i * usable_first_slot``, so when the first
patch slot is masked *every* patch loses its link to node 0. Here each usable patch keeps it
regardless of the first slot, as the paper describes the graph.

:class:`GraphConvolution` is the GCN of SP-gra2seq: one propagation ``H0 = A X`` followed by a
residual two-layer perceptron, ``H0 + relu(relu(H0 W1) W2)``, without biases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "NEIGHBOUR_WEIGHTS",
    "GLOBAL_NODE_WEIGHT",
    "GraphConvolution",
    "cosine_similarity_matrix",
    "nearest_neighbour_weights",
    "normalize_rows",
    "synonymous_proximity_adjacency",
]

#: Weights of a patch's 1st, 2nd and 3rd most similar patches (SP-gra2seq ``winner_1..3``).
NEIGHBOUR_WEIGHTS = (1.0, 0.5, 0.2)

#: Weight of each usable patch's link from node 0 (SP-gra2seq ``0.5 * slide_mask``).
GLOBAL_NODE_WEIGHT = 0.5


def cosine_similarity_matrix(features: Tensor, eps: float = 1e-30) -> Tensor:
    """Pairwise cosine similarity within each set: ``(B, N, D) -> (B, N, N)``.

    ``x_i . x_j / (|x_i| |x_j| + eps)`` as the reference code computes it, so a zero vector has
    similarity 0 with everything (itself included).
    """
    norms = features.norm(dim=-1)  # (B, N)
    dots = features @ features.transpose(1, 2)  # (B, N, N)
    return dots / (norms[:, :, None] * norms[:, None, :] + eps)


def nearest_neighbour_weights(
    similarity: Tensor, weights: Sequence[float] = NEIGHBOUR_WEIGHTS
) -> Tensor:
    """Rank weights of each row's most similar columns: ``(B, N, N)`` with ``weights[r]`` at rank r.

    Row ``i`` gets ``weights[0]`` at its largest entry, ``weights[1]`` at the next, and so on
    (``min(len(weights), N)`` columns, all distinct); ties go to the lower column index. No
    gradient flows through the choice.
    """
    scores = similarity.detach().clone()
    chosen = torch.zeros_like(scores)
    for weight in list(weights)[: scores.shape[-1]]:
        best = scores.argmax(dim=-1, keepdim=True)  # (B, N, 1): first maximum
        chosen.scatter_(-1, best, float(weight))
        scores.scatter_(-1, best, -math.inf)
    return chosen


def normalize_rows(adjacency: Tensor, eps: float = 1e-10) -> Tensor:
    """Each row divided by its sum plus ``eps`` (all-zero rows stay zero)."""
    return adjacency / (adjacency.sum(dim=-1, keepdim=True) + eps)


def synonymous_proximity_adjacency(
    patch_features: Tensor,
    usable: Tensor,
    neighbour_weights: Sequence[float] = NEIGHBOUR_WEIGHTS,
    global_weight: float = GLOBAL_NODE_WEIGHT,
) -> Tensor:
    """SP-gra2seq's row-normalised adjacency over node 0 and the patch slots.

    Args:
        patch_features: ``(B, S, D)`` embeddings of the patch slots (node 0 excluded).
        usable: ``(B, S)`` bool, a slot holds a patch that was not masked.
        neighbour_weights: weights of each patch's most similar patches, by rank.
        global_weight: weight of each usable patch's link from node 0 (``A[i, 0]``).

    Returns:
        ``(B, 1 + S, 1 + S)``: row ``i`` is what node ``i`` receives (``H' = A H``); node 0 is the
        whole sketch. See the module docstring for the construction.

    Examples:
        >>> features = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]])  # (1, 3, 2)
        >>> usable = torch.tensor([[True, True, False]])
        >>> synonymous_proximity_adjacency(features, usable, (1.0, 0.5)).round(decimals=4)
        tensor([[[1.0000, 0.0000, 0.0000, 0.0000],
                 [0.2778, 0.5556, 0.1667, 0.0000],
                 [0.3333, 0.0000, 0.6667, 0.0000],
                 [0.0000, 0.0000, 0.0000, 0.0000]]])
    """
    if patch_features.dim() != 3 or usable.shape != patch_features.shape[:2]:
        raise ValueError(
            f"patch_features must be (B, S, D) and usable (B, S), got "
            f"{tuple(patch_features.shape)} and {tuple(usable.shape)}"
        )
    batch, slots = usable.shape
    usable = usable.to(patch_features.dtype)  # (B, S)
    similarity = cosine_similarity_matrix(patch_features)  # (B, S, S)
    links = similarity * nearest_neighbour_weights(similarity, neighbour_weights)
    links = links * usable[:, :, None] * usable[:, None, :]  # cut unusable rows and columns
    adjacency = patch_features.new_zeros(batch, 1 + slots, 1 + slots)
    adjacency[:, 0, 0] = 1.0  # node 0: self-loop only
    adjacency[:, 1:, 0] = global_weight * usable  # patch i <- node 0
    adjacency[:, 1:, 1:] = links
    return normalize_rows(adjacency)


class GraphConvolution(nn.Module):
    """SP-gra2seq's GCN: ``H0 = A X``, output ``H0 + relu(relu(H0 W1) W2)`` (no biases).

    The weights start as the reference code's ``kaiming_init(..., 'relu')``: normal with
    standard deviation ``sqrt(2 / features)``.

    Args:
        features: node feature width (512 in SP-gra2seq), kept through the layers.
        layers: perceptron layers after the propagation (2 in SP-gra2seq).

    Examples:
        >>> gcn = GraphConvolution(4)
        >>> adjacency = torch.eye(3).expand(2, 3, 3)
        >>> gcn(torch.zeros(2, 3, 4), adjacency).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, features: int, layers: int = 2) -> None:
        super().__init__()
        if features < 1 or layers < 1:
            raise ValueError(f"features and layers must be at least 1, got {features}, {layers}")
        self.layers = nn.ModuleList(
            nn.Linear(features, features, bias=False) for _ in range(layers)
        )
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=math.sqrt(2.0 / features))

    def forward(self, nodes: Tensor, adjacency: Tensor) -> Tensor:
        """Propagate once, then the residual perceptron.

        Args:
            nodes: ``(B, N, D)`` node features.
            adjacency: ``(B, N, N)``, row ``i`` = what node ``i`` receives.

        Returns:
            ``(B, N, D)``.
        """
        propagated = adjacency @ nodes  # (B, N, D)
        hidden = propagated
        for layer in self.layers:
            hidden = torch.relu(layer(hidden))
        return propagated + hidden
