"""The representation evaluation suite: kNN, linear probe and retrieval on frozen embeddings.

One call, :func:`evaluate_embeddings`, runs the whole protocol on train-split (gallery / probe
training) and test-split (queries / probe test) embeddings. Every method in sketchssl is scored
this way, and so are the two baselines (an untrained encoder, raw 32x32 pixels; see
:mod:`sketchssl.eval.baselines`). The protocol and its settings:

- weighted kNN (InstDisc): cosine similarity, k = 20, votes ``exp(similarity / 0.07)``, see
  :mod:`sketchssl.eval.knn`; plus plain 1-NN;
- linear probe: L-BFGS logistic regression on standardised embeddings, weight decay chosen on a
  held-out slice of the train split, see :mod:`sketchssl.eval.probe`;
- retrieval: test queries against the train gallery, same class = relevant, full-ranking mAP,
  acc@1, acc@10, precision@10, see :mod:`sketchssl.eval.retrieval`.

Accuracies are fractions in [0, 1]; the report writer shows them in percent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from sketchssl.eval.knn import KNNConfig, knn_evaluate
from sketchssl.eval.neighbors import as_embeddings, as_labels, check_labelled
from sketchssl.eval.probe import ProbeConfig, linear_probe_evaluate
from sketchssl.eval.retrieval import RetrievalConfig, retrieval_evaluate

__all__ = [
    "CLASSIFIER_METRICS",
    "EvalConfig",
    "MAIN_METRICS",
    "REPORT_METRICS",
    "evaluate_embeddings",
    "protocol_description",
]

#: The headline metrics, in report order (fractions in [0, 1]).
MAIN_METRICS: tuple[str, ...] = (
    "knn_top1",
    "knn_top5",
    "nn1_top1",
    "linear_top1",
    "linear_top5",
    "retrieval_map",
    "retrieval_acc@1",
    "retrieval_acc@10",
    "retrieval_precision@10",
)

#: A fine-tuned classifier's own head on the queries (``sketchssl eval`` adds them).
CLASSIFIER_METRICS: tuple[str, ...] = ("classifier_top1", "classifier_top5")

#: Part segmentation on stores with part labels (:mod:`sketchssl.eval.parts`).
PART_METRICS: tuple[str, ...] = ("part_accuracy", "part_miou")

#: The columns of the report tables, in order.
REPORT_METRICS: tuple[str, ...] = MAIN_METRICS + CLASSIFIER_METRICS + PART_METRICS


@dataclass(frozen=True)
class EvalConfig:
    """Settings of the whole evaluation suite.

    Attributes:
        knn: weighted kNN settings (k = 20, T = 0.07).
        probe: linear-probe settings.
        retrieval: retrieval settings (cosine, acc@1 / acc@10, precision@10).
        run_linear_probe: False skips the probe (the slowest part on large galleries).
    """

    knn: KNNConfig = field(default_factory=KNNConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    run_linear_probe: bool = True


def protocol_description(config: EvalConfig | None = None) -> dict[str, Any]:
    """The settings of the protocol as plain data, for the report's ``meta``."""
    config = config or EvalConfig()
    return {
        "knn": {
            **asdict(config.knn),
            "similarity": "cosine on L2-normalised embeddings",
            "vote_weight": "exp(similarity / temperature)",
        },
        "nn1": "label of the single most cosine-similar train embedding",
        "linear_probe": {
            **asdict(config.probe),
            "enabled": config.run_linear_probe,
            "model": "multinomial logistic regression, full-batch L-BFGS, zero init",
            "inputs": "embeddings standardised with train-split mean and std",
            "selection": "weight decay with the best top-1 on a held-out slice of the train split",
        },
        "retrieval": {
            **asdict(config.retrieval),
            "queries": "test split",
            "gallery": "train split",
            "relevant": "same class",
            "map": "mean over queries of average precision over the full ranked gallery",
            "queries_without_relevant": "excluded from the means and counted",
        },
        "units": "fractions in [0, 1] in metrics.json, percent in metrics.md",
    }


def evaluate_embeddings(
    train_embeddings: torch.Tensor | np.ndarray,
    train_labels: torch.Tensor | np.ndarray,
    test_embeddings: torch.Tensor | np.ndarray,
    test_labels: torch.Tensor | np.ndarray,
    *,
    seed: int = 0,
    num_classes: int | None = None,
    config: EvalConfig | None = None,
) -> dict[str, float]:
    """Run kNN, linear probe and retrieval: train split = gallery / probe data, test = queries.

    Runs on the device of the embeddings (move them to a GPU for large galleries).

    Args:
        train_embeddings: ``(N, D)`` train-split embeddings.
        train_labels: ``(N,)`` class indices, all >= 0.
        test_embeddings: ``(M, D)`` test-split embeddings.
        test_labels: ``(M,)`` class indices, all >= 0.
        seed: seeds the probe's held-out slice (the only random choice).
        num_classes: number of classes (e.g. ``len(store.class_names)``); by default one more
            than the largest label seen.
        config: protocol settings; ``EvalConfig()`` by default.

    Returns:
        The metrics of :data:`MAIN_METRICS` (fractions; ``linear_*`` only when the probe runs),
        and the counts / chosen settings ``train_size``, ``test_size``, ``num_classes``,
        ``knn_k``, ``knn_temperature``, ``linear_weight_decay``, ``linear_holdout_top1``,
        ``retrieval_queries``, ``retrieval_queries_without_relevant``.

    Raises:
        StoreError: a label is -1 (unlabelled sketches cannot be scored by class).

    Examples:
        >>> import torch
        >>> train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> test = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
        >>> labels = torch.tensor([0, 0, 1, 1])
        >>> metrics = evaluate_embeddings(train, labels, test, torch.tensor([0, 1]))
        >>> metrics["knn_top1"], metrics["retrieval_map"], metrics["linear_top1"]
        (1.0, 1.0, 1.0)
    """
    config = config or EvalConfig()
    train = as_embeddings(train_embeddings, "train embeddings")
    test = as_embeddings(test_embeddings, "test embeddings")
    train_labels = as_labels(train_labels, train.shape[0], "train labels")
    test_labels = as_labels(test_labels, test.shape[0], "test labels")
    check_labelled(train_labels, "train")
    check_labelled(test_labels, "test")
    if train.shape[0] == 0 or test.shape[0] == 0:
        raise ValueError(
            f"evaluation needs train and test embeddings, got {train.shape[0]} and {test.shape[0]}"
        )
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1

    results: dict[str, float] = {}
    results.update(
        knn_evaluate(
            train, train_labels, test, test_labels, num_classes=num_classes, config=config.knn
        )
    )
    if config.run_linear_probe:
        results.update(
            linear_probe_evaluate(
                train,
                train_labels,
                test,
                test_labels,
                num_classes=num_classes,
                config=config.probe,
                seed=seed,
            )
        )
    results.update(
        retrieval_evaluate(train, train_labels, test, test_labels, config=config.retrieval)
    )
    ordered = {name: results[name] for name in MAIN_METRICS if name in results}
    ordered.update(
        train_size=train.shape[0],
        test_size=test.shape[0],
        num_classes=num_classes,
        knn_temperature=config.knn.temperature,
    )
    ordered.update({name: value for name, value in results.items() if name not in ordered})
    return ordered
