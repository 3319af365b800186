"""Weighted k-nearest-neighbour classification of embeddings (the standard SSL kNN monitor).

Protocol of InstDisc (Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", CVPR 2018, https://arxiv.org/abs/1805.01978), as used by solo-learn and
lightly (``lightly.utils.benchmarking.knn_predict``):

- embeddings are L2-normalised and compared by cosine similarity;
- each query takes its ``k`` most similar gallery items (here k = 20 by default);
- neighbour ``j`` votes for its class with weight ``exp(s_j / T)``, where ``s_j`` is its cosine
  similarity and ``T`` the temperature (here T = 0.07 by default, InstDisc's value; lightly
  uses k = 200, T = 0.1 for ImageNet-sized galleries);
- the class scores are the summed votes; top-1 / top-5 accuracy read the true class' rank.

Ranking rule: a class with a higher score ranks first; equal scores rank the lower class index
first (as ``argmax`` does). A class that got no vote at all never counts as a hit, even when
fewer than 5 classes were voted for, so top-5 is not inflated by arbitrary zero-score classes.

``nn1_top1`` is plain 1-nearest-neighbour accuracy (the label of the single most similar gallery
item), the figure the sketch literature often quotes for raw pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sketchssl.eval.neighbors import (
    DEFAULT_MAX_ELEMENTS,
    as_embeddings,
    as_labels,
    check_labelled,
    top_k_neighbors,
)

__all__ = ["KNNConfig", "class_ranks", "knn_class_scores", "knn_evaluate"]


@dataclass(frozen=True)
class KNNConfig:
    """Options of the weighted kNN classifier.

    Attributes:
        k: neighbours that vote (InstDisc-style, k = 20).
        temperature: T in the vote weight ``exp(similarity / T)``.
        max_elements: bound on the similarity entries held at once (memory).
    """

    k: int = 20
    temperature: float = 0.07
    max_elements: int = DEFAULT_MAX_ELEMENTS

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"kNN k must be at least 1, got {self.k}")
        if not self.temperature > 0:
            raise ValueError(f"kNN temperature must be positive, got {self.temperature}")


def knn_class_scores(
    neighbor_similarities: torch.Tensor,
    neighbor_labels: torch.Tensor,
    num_classes: int,
    temperature: float = 0.07,
) -> torch.Tensor:
    """Summed vote weights per class.

    Args:
        neighbor_similarities: ``(Q, k)`` cosine similarities of each query's neighbours.
        neighbor_labels: ``(Q, k)`` class indices of those neighbours.
        num_classes: number of classes C.
        temperature: T in ``exp(similarity / T)``.

    Returns:
        ``(Q, C)`` class scores.

    Examples:
        >>> import torch
        >>> scores = knn_class_scores(torch.tensor([[0.9, 0.8]]), torch.tensor([[1, 0]]), 3, 1.0)
        >>> [round(value, 4) for value in scores[0].tolist()]
        [2.2255, 2.4596, 0.0]
    """
    # float64: exp(1 / 0.07) is fine in float32, but a smaller T would overflow it.
    weights = torch.exp(neighbor_similarities.double() / temperature)  # (Q, k)
    scores = torch.zeros(
        neighbor_labels.shape[0], num_classes, dtype=weights.dtype, device=weights.device
    )
    return scores.scatter_add_(1, neighbor_labels.long(), weights)  # (Q, C)


def class_ranks(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """0-based rank of each query's true class among all classes.

    Higher score ranks first; equal scores rank the lower class index first (as ``argmax``
    picks the first maximum), so ``rank < k`` is a deterministic top-k hit.

    Args:
        scores: ``(Q, C)`` class scores.
        labels: ``(Q,)`` true class indices.
    """
    true_scores = scores.gather(1, labels[:, None])  # (Q, 1)
    class_index = torch.arange(scores.shape[1], device=scores.device)[None, :]  # (1, C)
    ahead = (scores > true_scores) | ((scores == true_scores) & (class_index < labels[:, None]))
    return ahead.sum(1)  # (Q,)


def knn_evaluate(
    gallery_embeddings: torch.Tensor | np.ndarray,
    gallery_labels: torch.Tensor | np.ndarray,
    query_embeddings: torch.Tensor | np.ndarray,
    query_labels: torch.Tensor | np.ndarray,
    *,
    num_classes: int | None = None,
    config: KNNConfig | None = None,
) -> dict[str, float]:
    """Weighted kNN top-1 / top-5 and plain 1-NN top-1 of queries against a labelled gallery.

    Args:
        gallery_embeddings: ``(G, D)`` embeddings of the gallery (the train split).
        gallery_labels: ``(G,)`` class indices, all >= 0.
        query_embeddings: ``(Q, D)`` embeddings of the queries (the test split).
        query_labels: ``(Q,)`` class indices, all >= 0.
        num_classes: number of classes; by default one more than the largest label.
        config: k, temperature and memory bound; ``KNNConfig()`` (k = 20, T = 0.07) by default.

    Returns:
        ``knn_top1``, ``knn_top5``, ``nn1_top1`` as fractions in [0, 1], and ``knn_k``, the
        number of neighbours actually used (``min(k, G)``).

    Raises:
        StoreError: a label is -1 (unlabelled sketches).
    """
    config = config or KNNConfig()
    gallery = as_embeddings(gallery_embeddings, "gallery embeddings")
    query = as_embeddings(query_embeddings, "query embeddings")
    gallery_labels = as_labels(gallery_labels, gallery.shape[0], "gallery labels")
    query_labels = as_labels(query_labels, query.shape[0], "query labels")
    check_labelled(gallery_labels, "gallery (train)")
    check_labelled(query_labels, "query (test)")
    if gallery.shape[0] == 0 or query.shape[0] == 0:
        raise ValueError("kNN needs a non-empty gallery and at least one query")
    if num_classes is None:
        num_classes = int(max(gallery_labels.max(), query_labels.max())) + 1
    k = min(config.k, gallery.shape[0])

    similarities, indices = top_k_neighbors(
        query, gallery, k, metric="cosine", max_elements=config.max_elements
    )  # (Q, k), (Q, k)
    gallery_labels = gallery_labels.to(indices.device)
    query_labels = query_labels.to(indices.device)
    neighbor_labels = gallery_labels[indices]  # (Q, k)
    scores = knn_class_scores(similarities, neighbor_labels, num_classes, config.temperature)
    ranks = class_ranks(scores, query_labels)  # (Q,)
    # A class nobody voted for is never a hit, however few classes were voted for.
    voted = scores.gather(1, query_labels[:, None])[:, 0] > 0
    ranks = torch.where(voted, ranks, torch.full_like(ranks, torch.iinfo(ranks.dtype).max))
    return {
        "knn_top1": float((ranks < 1).double().mean()),
        "knn_top5": float((ranks < 5).double().mean()),
        "nn1_top1": float((neighbor_labels[:, 0] == query_labels).double().mean()),
        "knn_k": k,
    }
