"""Nearest-neighbour search over embeddings in bounded memory, and shared input checks.

The checks (shapes, finite values, labelled sketches) are shared by kNN, retrieval and the
linear probe.

The query x gallery similarity matrix is never built whole: queries are taken in chunks and,
when the gallery is large, the gallery too, keeping a running top-k per query. The peak
temporary size is about ``max_elements`` similarity entries, so a 1M-item gallery against 10k
queries runs in a few hundred MB. This is the memory problem solo-learn's offline kNN hit
(solo-learn #159 "fixed knn memory issues"); lightly's ``knn_predict`` builds the full
``(B, N)`` matrix per batch.

Similarity: ``cosine`` is the dot product of L2-normalised embeddings; ``euclidean`` is the
negative squared Euclidean distance, so that for both "larger is nearer".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from sketchssl.errors import StoreError

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "Metric",
    "as_embeddings",
    "as_labels",
    "check_labelled",
    "prepare_embeddings",
    "similarity_matrix",
    "top_k_neighbors",
]

Metric = Literal["cosine", "euclidean"]
METRICS: tuple[str, ...] = ("cosine", "euclidean")

#: Default bound on the number of similarity entries held at once (16M floats = 64 MB).
DEFAULT_MAX_ELEMENTS = 1 << 24


def as_embeddings(embeddings: torch.Tensor | np.ndarray, name: str = "embeddings") -> torch.Tensor:
    """Return ``embeddings`` as a 2-D floating tensor ``(N, D)``; raise ``ValueError`` if not."""
    tensor = torch.as_tensor(embeddings)
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.float()
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contain NaN or infinite values; check the model's embed()")
    return tensor


def as_labels(labels: torch.Tensor | np.ndarray, count: int, name: str = "labels") -> torch.Tensor:
    """Return ``labels`` as an int64 tensor ``(count,)``; raise ``ValueError`` on a bad shape."""
    tensor = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    tensor = tensor.reshape(-1).long()
    if tensor.numel() != count:
        raise ValueError(f"{name} has {tensor.numel()} entries but there are {count} embeddings")
    return tensor


def check_labelled(labels: torch.Tensor, split: str) -> None:
    """Refuse unlabelled sketches (label -1): class-based metrics cannot score them.

    Raises:
        StoreError: some labels are negative; the message says how many and what to do.
    """
    missing = int((labels < 0).sum())
    if missing:
        raise StoreError(
            f"{missing} of {labels.numel()} sketches in the {split} split have no class label "
            "(-1); the linear probe, kNN and retrieval need labels. Evaluate on a store built "
            "from labelled sources (QuickDraw category files, a labelled .npz)."
        )


def prepare_embeddings(embeddings: torch.Tensor, metric: Metric) -> torch.Tensor:
    """Normalise for ``cosine`` (rows to unit L2 norm); leave as float for ``euclidean``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    embeddings = embeddings.float()
    return F.normalize(embeddings, dim=1) if metric == "cosine" else embeddings


def similarity_matrix(query: torch.Tensor, gallery: torch.Tensor, metric: Metric) -> torch.Tensor:
    """Similarities ``(Q, G)`` of prepared embeddings (see :func:`prepare_embeddings`)."""
    dot = query @ gallery.T  # (Q, G)
    if metric == "cosine":
        return dot
    # -(|q|^2 + |g|^2 - 2 q.g), clamped: rounding can make a tiny distance negative.
    squared = query.pow(2).sum(1, keepdim=True) + gallery.pow(2).sum(1)[None, :] - 2.0 * dot
    return -squared.clamp_min_(0.0)


def chunk_sizes(
    num_queries: int, num_gallery: int, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> tuple[int, int]:
    """(query chunk, gallery chunk) with ``query_chunk * gallery_chunk <= max_elements``."""
    if max_elements < 1:
        raise ValueError(f"max_elements must be positive, got {max_elements}")
    gallery_chunk = max(1, min(num_gallery, max_elements))
    query_chunk = max(1, min(num_queries, max_elements // gallery_chunk))
    return query_chunk, gallery_chunk


def top_k_neighbors(
    query: torch.Tensor,
    gallery: torch.Tensor,
    k: int,
    *,
    metric: Metric = "cosine",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    query_chunk: int | None = None,
    gallery_chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most similar gallery items of every query, most similar first.

    Args:
        query: ``(Q, D)`` embeddings (raw; normalised here for ``cosine``).
        gallery: ``(G, D)`` embeddings.
        k: neighbours per query; must be at most ``G``.
        metric: ``cosine`` or ``euclidean`` (negative squared distance).
        max_elements: bound on the similarity entries held at once.
        query_chunk: queries per chunk (overrides the size derived from ``max_elements``).
        gallery_chunk: gallery items per chunk (likewise).

    Returns:
        ``(similarities, indices)``, both ``(Q, k)``; ``indices`` index the gallery. Exact ties
        at the k-th place are broken by ``torch.topk``, which does not promise an order.
    """
    num_queries, num_gallery = query.shape[0], gallery.shape[0]
    if not 1 <= k <= num_gallery:
        raise ValueError(f"k must be in [1, {num_gallery}] (the gallery size), got {k}")
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query and gallery embeddings differ in width: {query.shape[1]} vs {gallery.shape[1]}"
        )
    default_query_chunk, default_gallery_chunk = chunk_sizes(num_queries, num_gallery, max_elements)
    query_chunk = query_chunk or default_query_chunk
    gallery_chunk = gallery_chunk or default_gallery_chunk
    query = prepare_embeddings(query, metric)
    gallery = prepare_embeddings(gallery, metric)

    all_values, all_indices = [], []
    for query_start in range(0, num_queries, query_chunk):
        query_part = query[query_start : query_start + query_chunk]  # (q, D)
        best_values = best_indices = None
        for gallery_start in range(0, num_gallery, gallery_chunk):
            gallery_part = gallery[gallery_start : gallery_start + gallery_chunk]  # (g, D)
            similarities = similarity_matrix(query_part, gallery_part, metric)  # (q, g)
            values, indices = similarities.topk(min(k, similarities.shape[1]), dim=1)
            indices = indices + gallery_start
            if best_values is not None:
                # Merge with the running best: candidates from earlier chunks come first.
                values = torch.cat([best_values, values], dim=1)
                indices = torch.cat([best_indices, indices], dim=1)
                values, order = values.topk(min(k, values.shape[1]), dim=1)
                indices = indices.gather(1, order)
            best_values, best_indices = values, indices
        all_values.append(best_values)
        all_indices.append(best_indices)
    return torch.cat(all_values), torch.cat(all_indices)  # (Q, k), (Q, k)
