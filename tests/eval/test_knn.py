import math

import numpy as np
import pytest
import torch

from sketchssl.errors import StoreError
from sketchssl.eval.knn import KNNConfig, class_ranks, knn_class_scores, knn_evaluate
from sketchssl.eval.neighbors import top_k_neighbors


def unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


# A 2-D toy gallery. Cosine similarity to the query (1, 0) is the cosine of each angle:
#   g0 at 0 deg (class 0): 1.0;  g1 at 36.87 deg (class 1): 0.8;  g2 at 53.13 deg (class 1): 0.6;
#   g3 at 90 deg (class 2): 0.0;  g4 at 180 deg (class 0): -1.0
GALLERY = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
GALLERY_LABELS = torch.tensor([0, 1, 1, 2, 0])


def test_vote_by_hand_temperature_one():
    # k = 3 neighbours: g0 (class 0, weight e^1), g1 and g2 (class 1, weights e^0.8 + e^0.6).
    # class 0: 2.71828, class 1: 2.22554 + 1.82212 = 4.04766 -> class 1 wins.
    query = torch.tensor([[2.0, 0.0]])  # scale does not matter for cosine
    metrics = knn_evaluate(
        GALLERY, GALLERY_LABELS, query, torch.tensor([1]), config=KNNConfig(k=3, temperature=1.0)
    )
    assert metrics["knn_top1"] == 1.0
    assert metrics["nn1_top1"] == 0.0  # the single nearest item, g0, is class 0
    similarities, indices = top_k_neighbors(query, GALLERY, 3)
    scores = knn_class_scores(similarities, GALLERY_LABELS[indices], 3, temperature=1.0)
    expected = [math.exp(1.0), math.exp(0.8) + math.exp(0.6), 0.0]
    assert scores[0].tolist() == pytest.approx(expected, rel=1e-6)


def test_low_temperature_changes_the_vote_by_hand():
    # T = 0.1: class 0 gets e^10 = 22026.5, class 1 gets e^8 + e^6 = 2980.96 + 403.43 = 3384.4,
    # so the single most similar item dominates and class 0 wins.
    query = torch.tensor([[1.0, 0.0]])
    metrics = knn_evaluate(
        GALLERY, GALLERY_LABELS, query, torch.tensor([1]), config=KNNConfig(k=3, temperature=0.1)
    )
    assert metrics["knn_top1"] == 0.0
    assert metrics["knn_top5"] == 1.0  # class 1 is second
    similarities, indices = top_k_neighbors(query, GALLERY, 3)
    scores = knn_class_scores(similarities, GALLERY_LABELS[indices], 3, temperature=0.1)
    assert scores[0, 0].item() == pytest.approx(math.exp(10.0), rel=1e-6)
    assert scores[0, 1].item() == pytest.approx(math.exp(8.0) + math.exp(6.0), rel=1e-6)


def test_class_without_votes_is_never_a_top5_hit():
    # Only 3 classes exist, so "top 5" would contain class 2 if zero scores counted. With k = 3
    # from (1, 0), nobody votes for class 2.
    metrics = knn_evaluate(
        GALLERY,
        GALLERY_LABELS,
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([2]),
        config=KNNConfig(k=3, temperature=1.0),
    )
    assert metrics["knn_top5"] == 0.0
    assert metrics["knn_top1"] == 0.0


def test_equal_scores_rank_lower_class_first():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.5]])
    assert class_ranks(scores, torch.tensor([1])).tolist() == [0]
    assert class_ranks(scores, torch.tensor([2])).tolist() == [1]
    assert class_ranks(scores, torch.tensor([0])).tolist() == [2]
    assert class_ranks(scores, torch.tensor([3])).tolist() == [3]


def test_k_is_clamped_to_the_gallery_size():
    metrics = knn_evaluate(GALLERY, GALLERY_LABELS, torch.tensor([[0.0, 1.0]]), torch.tensor([2]))
    assert metrics["knn_k"] == 5
    # All 5 vote with T = 0.07: class 2 (sim 1) e^14.29 dominates class 1 (0.8, 0.6).
    assert metrics["knn_top1"] == 1.0


def reference_knn(gallery, gallery_labels, query, query_labels, k, temperature, num_classes):
    """Independent numpy version: full similarity matrix, argsort, explicit vote loop."""
    gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    query = query / np.linalg.norm(query, axis=1, keepdims=True)
    similarity = query @ gallery.T
    top1 = top5 = nn1 = 0
    for row, label in zip(similarity, query_labels, strict=True):
        neighbours = np.argsort(-row, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for neighbour in neighbours:
            votes[gallery_labels[neighbour]] += np.exp(row[neighbour] / temperature)
        order = np.argsort(-votes, kind="stable")
        top1 += order[0] == label
        top5 += label in order[:5] and votes[label] > 0
        nn1 += gallery_labels[neighbours[0]] == label
    count = len(query_labels)
    return top1 / count, top5 / count, nn1 / count


def test_matches_independent_reference_and_chunking_is_exact():
    generator = np.random.default_rng(3)
    centres = generator.normal(size=(12, 16))
    gallery_labels = generator.integers(0, 12, size=600)
    query_labels = generator.integers(0, 12, size=157)
    gallery = centres[gallery_labels] + 1.5 * generator.normal(size=(600, 16))
    query = centres[query_labels] + 1.5 * generator.normal(size=(157, 16))
    expected = reference_knn(gallery, gallery_labels, query, query_labels, 20, 0.07, 12)

    unchunked = knn_evaluate(gallery, gallery_labels, query, query_labels, num_classes=12)
    assert (unchunked["knn_top1"], unchunked["knn_top5"], unchunked["nn1_top1"]) == pytest.approx(
        expected, abs=1e-12
    )
    assert 0.2 < unchunked["knn_top1"] < 1.0  # a non-trivial case

    for max_elements in (1, 37, 600, 5000):
        chunked = knn_evaluate(
            gallery,
            gallery_labels,
            query,
            query_labels,
            num_classes=12,
            config=KNNConfig(max_elements=max_elements),
        )
        assert chunked == unchunked

    reference_values, reference_indices = top_k_neighbors(
        torch.from_numpy(query), torch.from_numpy(gallery), 20
    )
    for query_chunk, gallery_chunk in ((1, 7), (50, 600), (157, 33), (3, 1)):
        values, indices = top_k_neighbors(
            torch.from_numpy(query),
            torch.from_numpy(gallery),
            20,
            query_chunk=query_chunk,
            gallery_chunk=gallery_chunk,
        )
        assert torch.equal(indices, reference_indices)
        assert torch.allclose(values, reference_values, atol=1e-6)


def test_euclidean_neighbours_match_cdist():
    generator = torch.Generator().manual_seed(0)
    gallery = torch.randn(90, 5, generator=generator)
    query = torch.randn(11, 5, generator=generator)
    _, indices = top_k_neighbors(query, gallery, 4, metric="euclidean", gallery_chunk=13)
    expected = torch.cdist(query, gallery).topk(4, largest=False).indices
    assert torch.equal(indices, expected)


def test_unlabelled_gallery_is_refused():
    labels = GALLERY_LABELS.clone()
    labels[2] = -1
    with pytest.raises(StoreError, match="1 of 5 sketches in the gallery"):
        knn_evaluate(GALLERY, labels, GALLERY[:1], torch.tensor([0]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        KNNConfig(temperature=0.0)
    with pytest.raises(ValueError, match="2 entries but there are 5"):
        knn_evaluate(GALLERY, torch.tensor([0, 1]), GALLERY, GALLERY_LABELS)
    with pytest.raises(ValueError, match="NaN"):
        knn_evaluate(GALLERY, GALLERY_LABELS, torch.tensor([[float("nan"), 0.0]]), [0])
