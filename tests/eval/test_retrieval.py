import math

import pytest
import torch
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP, RetrievalPrecision

from sketchssl.errors import StoreError
from sketchssl.eval.retrieval import RetrievalConfig, ranked_relevance, retrieval_evaluate


def unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


# Gallery items on the unit circle at 0, 20, 40, 60, 80 degrees (stored out of order) with
# labels A=0, B=1. Cosine similarity falls with the angle between query and item.
ANGLES_AND_LABELS = [(40, 1), (0, 1), (80, 0), (20, 0), (60, 0)]
GALLERY = torch.tensor([unit(angle) for angle, _ in ANGLES_AND_LABELS])
GALLERY_LABELS = torch.tensor([label for _, label in ANGLES_AND_LABELS])
# Query 1 at 0 deg, class A: ranking 0(B) 20(A) 40(B) 60(A) 80(A) -> relevant at ranks 2, 4, 5.
#   AP = (1/2 + 2/4 + 3/5) / 3 = 0.533333; acc@1 = 0, acc@2 = 1; precision@2 = 1/2.
# Query 2 at 90 deg, class B: ranking 80(A) 60(A) 40(B) 20(A) 0(B) -> relevant at ranks 3, 5.
#   AP = (1/3 + 2/5) / 2 = 0.366667; acc@1 = 0, acc@2 = 0; precision@2 = 0.
# Query 3, class C=2: nothing relevant in the gallery -> left out and counted.
QUERIES = torch.tensor([unit(0), unit(90), unit(45)])
QUERY_LABELS = torch.tensor([0, 1, 2])


def test_hand_computed_ranking():
    relevant = ranked_relevance(QUERIES, QUERY_LABELS, GALLERY, GALLERY_LABELS)
    assert relevant.tolist() == [
        [False, True, False, True, True],
        [False, False, True, False, True],
        [False, False, False, False, False],
    ]


def test_hand_computed_metrics():
    config = RetrievalConfig(accuracy_at=(1, 2, 10), precision_at=(2, 10))
    metrics = retrieval_evaluate(GALLERY, GALLERY_LABELS, QUERIES, QUERY_LABELS, config=config)
    ap_query1 = (1 / 2 + 2 / 4 + 3 / 5) / 3
    ap_query2 = (1 / 3 + 2 / 5) / 2
    assert metrics["retrieval_map"] == pytest.approx((ap_query1 + ap_query2) / 2)
    assert metrics["retrieval_map"] == pytest.approx(0.45)
    assert metrics["retrieval_acc@1"] == 0.0
    assert metrics["retrieval_acc@2"] == 0.5
    assert metrics["retrieval_acc@10"] == 1.0
    assert metrics["retrieval_precision@2"] == pytest.approx(0.25)
    # The gallery has 5 items, fewer than 10: precision@10 divides by 5 -> (3/5 + 2/5) / 2.
    assert metrics["retrieval_precision@10"] == pytest.approx(0.5)
    assert metrics["retrieval_queries"] == 2
    assert metrics["retrieval_queries_without_relevant"] == 1


def test_euclidean_ranking_by_hand():
    # 1-D points; query at 0, class 0. Distances: 0.5 (class 1), 1 (class 0), 3 (class 0), 4 (1).
    gallery = torch.tensor([[3.0], [-0.5], [4.0], [1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    metrics = retrieval_evaluate(
        gallery,
        labels,
        torch.tensor([[0.0]]),
        torch.tensor([0]),
        config=RetrievalConfig(metric="euclidean"),
    )
    assert metrics["retrieval_map"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert metrics["retrieval_acc@1"] == 0.0


def test_ties_keep_gallery_order():
    # Two identical gallery items: the earlier one (class 1) ranks first, every time.
    gallery = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([1, 0, 0])
    metrics = retrieval_evaluate(gallery, labels, torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert metrics["retrieval_map"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def random_problem(seed: int, queries: int = 45, gallery: int = 230, classes: int = 9):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 8, generator=generator)
    gallery_labels = torch.randint(0, classes - 1, (gallery,), generator=generator)  # no class 8
    query_labels = torch.randint(0, classes, (queries,), generator=generator)
    gallery_x = centres[gallery_labels] + 1.2 * torch.randn(gallery, 8, generator=generator)
    query_x = centres[query_labels] + 1.2 * torch.randn(queries, 8, generator=generator)
    return gallery_x, gallery_labels, query_x, query_labels


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_matches_torchmetrics(metric):
    gallery, gallery_labels, query, query_labels = random_problem(1)
    metrics = retrieval_evaluate(
        gallery, gallery_labels, query, query_labels, config=RetrievalConfig(metric=metric)
    )
    # torchmetrics (1.9) counts an item with a score <= 0 as not relevant, so the scores given
    # to it are made positive by a rank-preserving map: cosine + 2, and 1 / (1 + distance).
    if metric == "cosine":
        normalize = torch.nn.functional.normalize
        scores = normalize(query, dim=1) @ normalize(gallery, dim=1).T + 2.0
    else:
        scores = 1.0 / (1.0 + torch.cdist(query.double(), gallery.double()))
    assert bool((scores > 0).all())
    target = query_labels[:, None] == gallery_labels[None, :]  # (Q, G)
    indexes = torch.arange(query.shape[0])[:, None].expand_as(target)
    flat = (scores.flatten(), target.flatten(), indexes.flatten())
    expected_map = RetrievalMAP(empty_target_action="skip")(*flat)
    expected_hit1 = RetrievalHitRate(top_k=1, empty_target_action="skip")(*flat)
    expected_hit10 = RetrievalHitRate(top_k=10, empty_target_action="skip")(*flat)
    expected_p10 = RetrievalPrecision(top_k=10, empty_target_action="skip")(*flat)
    assert metrics["retrieval_map"] == pytest.approx(expected_map.item(), abs=1e-6)
    assert metrics["retrieval_acc@1"] == pytest.approx(expected_hit1.item(), abs=1e-6)
    assert metrics["retrieval_acc@10"] == pytest.approx(expected_hit10.item(), abs=1e-6)
    assert metrics["retrieval_precision@10"] == pytest.approx(expected_p10.item(), abs=1e-6)
    skipped = int((query_labels == 8).sum())
    assert skipped > 0
    assert metrics["retrieval_queries_without_relevant"] == skipped
    assert metrics["retrieval_queries"] == query.shape[0] - skipped


def test_chunking_gives_identical_results():
    gallery, gallery_labels, query, query_labels = random_problem(2)
    reference = retrieval_evaluate(gallery, gallery_labels, query, query_labels)
    for max_elements in (1, 230, 231 * 7, 10**6):
        chunked = retrieval_evaluate(
            gallery,
            gallery_labels,
            query,
            query_labels,
            config=RetrievalConfig(max_elements=max_elements),
        )
        assert chunked == pytest.approx(reference, abs=1e-12)


def test_no_relevant_anywhere_gives_nan_and_count():
    metrics = retrieval_evaluate(GALLERY, GALLERY_LABELS, QUERIES[2:], QUERY_LABELS[2:])
    assert math.isnan(metrics["retrieval_map"])
    assert metrics["retrieval_queries"] == 0
    assert metrics["retrieval_queries_without_relevant"] == 1


def test_unlabelled_queries_are_refused():
    with pytest.raises(StoreError, match="query \\(test\\) split have no class label"):
        retrieval_evaluate(GALLERY, GALLERY_LABELS, QUERIES, torch.tensor([0, -1, -1]))


def test_bad_config():
    with pytest.raises(ValueError, match="cosine"):
        RetrievalConfig(metric="manhattan")
    with pytest.raises(ValueError, match="at least 1"):
        RetrievalConfig(accuracy_at=(0,))
