"""Category-level sketch retrieval: mean average precision, acc@K and precision@K.

Protocol (as in Sketch-BERT's retrieval experiments and SketchGloc / SP-gra2seq's Ret@K): every
test sketch is a query, the train split is the gallery, and a gallery item is relevant to a query
when it has the same class. Gallery items are ranked by similarity (cosine by default, or
negative Euclidean distance); ties keep gallery order (stable sort), so results are reproducible.

For each query with R > 0 relevant items in a gallery of G:

- average precision ``AP = (1 / R) * sum over relevant ranks r of precision@r``, over the full
  ranked gallery (not truncated), the definition of ``torchmetrics.retrieval.RetrievalMAP``;
- ``acc@K`` is 1 when at least one relevant item is among the first K (``RetrievalHitRate``);
- ``precision@K`` is the fraction of the first K that are relevant (``RetrievalPrecision``).

The reported values are means over queries. Queries with no relevant item in the gallery (their
class is absent from the train split) have no defined AP: they are left out of every retrieval
metric and counted in ``retrieval_queries_without_relevant``.

The full ranking is computed a chunk of queries at a time, so memory stays bounded; the test
suite checks the result against torchmetrics. torchmetrics is not called here: its retrieval
metrics take the whole flattened (Q x G) score matrix at once, and (torchmetrics 1.9) count an
item whose score is <= 0 as irrelevant, which cosine similarities and negative distances can be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sketchssl.eval.neighbors import (
    METRICS,
    Metric,
    as_embeddings,
    as_labels,
    check_labelled,
    prepare_embeddings,
    similarity_matrix,
)

__all__ = ["RetrievalConfig", "ranked_relevance", "retrieval_evaluate"]

#: About 21 bytes are held per (query, gallery) entry while ranking; 8M entries is ~170 MB.
DEFAULT_RANKING_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class RetrievalConfig:
    """Options of the retrieval evaluation.

    Attributes:
        metric: ``cosine`` or ``euclidean``.
        accuracy_at: the K of each reported ``retrieval_acc@K``.
        precision_at: the K of each reported ``retrieval_precision@K``.
        max_elements: bound on the (query, gallery) entries ranked at once (memory).
    """

    metric: Metric = "cosine"
    accuracy_at: tuple[int, ...] = (1, 10)
    precision_at: tuple[int, ...] = (10,)
    max_elements: int = DEFAULT_RANKING_ELEMENTS

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"retrieval metric must be one of {METRICS}, got {self.metric!r}")
        for k in (*self.accuracy_at, *self.precision_at):
            if k < 1:
                raise ValueError(f"retrieval cut-offs K must be at least 1, got {k}")


def ranked_relevance(
    query: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    metric: Metric = "cosine",
) -> torch.Tensor:
    """Relevance of the gallery ranked for each query, most similar first.

    Args:
        query: ``(Q, D)`` embeddings (raw; normalised here for ``cosine``).
        query_labels: ``(Q,)`` class indices.
        gallery: ``(G, D)`` embeddings.
        gallery_labels: ``(G,)`` class indices.
        metric: ``cosine`` or ``euclidean``.

    Returns:
        ``(Q, G)`` bool: entry ``[i, r]`` says whether the item ranked ``r`` for query ``i``
        has the query's class.
    """
    similarities = similarity_matrix(
        prepare_embeddings(query, metric), prepare_embeddings(gallery, metric), metric
    )  # (Q, G)
    order = torch.sort(similarities, dim=1, descending=True, stable=True).indices  # (Q, G)
    return gallery_labels[order] == query_labels[:, None]  # (Q, G)


def _chunk_statistics(
    relevant: torch.Tensor, accuracy_at: Sequence[int], precision_at: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Per-query AP, hits@K and precision@K from ranked relevance ``(q, G)``."""
    num_gallery = relevant.shape[1]
    ranks = torch.arange(1, num_gallery + 1, device=relevant.device, dtype=torch.float32)
    hits_so_far = relevant.cumsum(1, dtype=torch.int32)  # (q, G)
    precision_at_rank = hits_so_far.float().div_(ranks)  # (q, G)
    num_relevant = hits_so_far[:, -1]  # (q,)
    summed = (precision_at_rank * relevant).sum(1)  # (q,)
    statistics = {
        "num_relevant": num_relevant,
        "average_precision": summed / num_relevant.clamp_min(1),
    }
    for k in accuracy_at:
        statistics[f"acc@{k}"] = relevant[:, :k].any(1).double()
    for k in precision_at:
        statistics[f"precision@{k}"] = relevant[:, :k].sum(1).double() / min(k, num_gallery)
    return statistics


def retrieval_evaluate(
    gallery_embeddings: torch.Tensor | np.ndarray,
    gallery_labels: torch.Tensor | np.ndarray,
    query_embeddings: torch.Tensor | np.ndarray,
    query_labels: torch.Tensor | np.ndarray,
    *,
    config: RetrievalConfig | None = None,
) -> dict[str, float]:
    """Retrieval mAP, acc@K and precision@K of queries against a labelled gallery.

    Args:
        gallery_embeddings: ``(G, D)`` embeddings of the gallery (the train split).
        gallery_labels: ``(G,)`` class indices, all >= 0.
        query_embeddings: ``(Q, D)`` embeddings of the queries (the test split).
        query_labels: ``(Q,)`` class indices, all >= 0.
        config: metric, cut-offs and memory bound; ``RetrievalConfig()`` by default.

    Returns:
        ``retrieval_map``, ``retrieval_acc@K`` and ``retrieval_precision@K`` (fractions in
        [0, 1], NaN when no query has a relevant item), plus the counts ``retrieval_queries``
        (queries scored) and ``retrieval_queries_without_relevant`` (left out).

    Raises:
        StoreError: a label is -1 (unlabelled sketches).
    """
    config = config or RetrievalConfig()
    gallery = as_embeddings(gallery_embeddings, "gallery embeddings")
    query = as_embeddings(query_embeddings, "query embeddings")
    gallery_labels = as_labels(gallery_labels, gallery.shape[0], "gallery labels")
    query_labels = as_labels(query_labels, query.shape[0], "query labels")
    check_labelled(gallery_labels, "gallery (train)")
    check_labelled(query_labels, "query (test)")
    if gallery.shape[0] == 0:
        raise ValueError("retrieval needs a non-empty gallery")
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query and gallery embeddings differ in width: {query.shape[1]} vs {gallery.shape[1]}"
        )
    gallery_labels = gallery_labels.to(gallery.device)
    query_labels = query_labels.to(query.device)

    chunk = max(1, config.max_elements // gallery.shape[0])
    totals: dict[str, float] = {}
    scored = 0
    for start in range(0, query.shape[0], chunk):
        relevant = ranked_relevance(
            query[start : start + chunk],
            query_labels[start : start + chunk],
            gallery,
            gallery_labels,
            config.metric,
        )  # (q, G)
        statistics = _chunk_statistics(relevant, config.accuracy_at, config.precision_at)
        keep = statistics.pop("num_relevant") > 0  # (q,)
        scored += int(keep.sum())
        for name, values in statistics.items():
            # float64 sums so a million queries do not lose precision.
            totals[name] = totals.get(name, 0.0) + float(values[keep].double().sum())

    def mean(name: str) -> float:
        return totals.get(name, 0.0) / scored if scored else math.nan

    results: dict[str, float] = {"retrieval_map": mean("average_precision")}
    for k in config.accuracy_at:
        results[f"retrieval_acc@{k}"] = mean(f"acc@{k}")
    for k in config.precision_at:
        results[f"retrieval_precision@{k}"] = mean(f"precision@{k}")
    results["retrieval_queries"] = scored
    results["retrieval_queries_without_relevant"] = query.shape[0] - scored
    return results
