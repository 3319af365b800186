"""Linear probe: multinomial logistic regression on frozen embeddings.

The standard linear evaluation of self-supervised representations (e.g. SimCLR, Chen et al.
2020, https://arxiv.org/abs/2002.05709, appendix B.5; Sketch-BERT's frozen-encoder results):

1. standardise each embedding dimension with the mean and standard deviation of the training
   rows (a dimension that is constant in training is only centred, as scikit-learn's
   ``StandardScaler`` does);
2. fit ``nn.Linear(D, C)`` by full-batch L-BFGS on ``cross-entropy + (weight_decay / 2) * |W|^2``
   (the bias is not penalised), starting from zeros: the problem is convex, so the fit does not
   depend on an initialisation seed;
3. choose ``weight_decay`` from a grid by top-1 accuracy on a held-out slice of the TRAIN split
   (a seeded random ``holdout_fraction`` of it); the test split is never looked at while
   choosing; ties go to the stronger penalty;
4. refit on the whole train split with the chosen value and report top-1 / top-5 on test.

Given the same embeddings and seed the result is the same (the seed only draws the held-out
slice). Unlabelled sketches (label -1) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sketchssl.eval.knn import class_ranks
from sketchssl.eval.neighbors import as_embeddings, as_labels, check_labelled

__all__ = [
    "LinearProbe",
    "ProbeConfig",
    "fit_linear_probe",
    "linear_probe_evaluate",
    "select_and_fit_probe",
]


@dataclass(frozen=True)
class ProbeConfig:
    """Options of the linear probe.

    Attributes:
        weight_decays: candidate L2 penalties (on standardised inputs), tried in turn.
        holdout_fraction: share of the train split held out to choose the weight decay.
        max_iterations: L-BFGS iterations per fit.
    """

    weight_decays: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    holdout_fraction: float = 0.2
    max_iterations: int = 100

    def __post_init__(self) -> None:
        if not self.weight_decays or min(self.weight_decays) < 0:
            raise ValueError(
                f"weight_decays must be a non-empty tuple of values >= 0, got {self.weight_decays}"
            )
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {self.max_iterations}")


class LinearProbe(nn.Module):
    """Standardisation followed by a linear classifier; ``forward`` returns logits ``(N, C)``.

    Examples:
        >>> import torch
        >>> probe = fit_linear_probe(torch.tensor([[0.0], [1.0]]), torch.tensor([0, 1]), 2, 0.0)
        >>> probe(torch.tensor([[-1.0], [2.0]])).argmax(1).tolist()
        [0, 1]
    """

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # (D,)
        self.register_buffer("scale", scale)  # (D,)
        self.linear = nn.Linear(mean.shape[0], num_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def standardize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(embeddings - mean) / scale``."""
        return (embeddings - self.mean) / self.scale

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, C)`` of raw (unstandardised) embeddings ``(N, D)``."""
        return self.linear(self.standardize(embeddings))


def fit_linear_probe(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    weight_decay: float,
    max_iterations: int = 100,
    logit_bias: torch.Tensor | None = None,
) -> LinearProbe:
    """Fit one probe (standardisation statistics and weights) on ``embeddings`` ``(N, D)``.

    ``logit_bias`` ``(N, C)``, when given, is added to the logits of each row while fitting:
    a large negative value rules a class out for that row (the part probe allows only the
    parts of a sketch's own class). Add it at prediction time too.
    """
    embeddings = embeddings.float()
    labels = labels.to(embeddings.device).long()
    mean = embeddings.mean(0)  # (D,)
    scale = embeddings.std(0, unbiased=False) if embeddings.shape[0] > 1 else torch.ones_like(mean)
    scale = torch.where(scale > 1e-8, scale, torch.ones_like(scale))
    probe = LinearProbe(mean, scale, num_classes).to(embeddings.device)
    inputs = probe.standardize(embeddings)  # (N, D)
    optimizer = torch.optim.LBFGS(
        probe.linear.parameters(),
        lr=1.0,
        max_iter=max_iterations,
        history_size=20,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = probe.linear(inputs)  # (N, C)
        if logit_bias is not None:
            logits = logits + logit_bias
        penalty = 0.5 * weight_decay * probe.linear.weight.pow(2).sum()
        loss = F.cross_entropy(logits, labels) + penalty
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    probe.requires_grad_(False)
    return probe


def _accuracies(
    probe: LinearProbe, embeddings: torch.Tensor, labels: torch.Tensor
) -> dict[str, float]:
    with torch.no_grad():
        ranks = class_ranks(probe(embeddings.float()), labels.to(embeddings.device).long())
    return {"top1": float((ranks < 1).double().mean()), "top5": float((ranks < 5).double().mean())}


def select_and_fit_probe(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    num_classes: int,
    *,
    config: ProbeConfig | None = None,
    seed: int = 0,
) -> tuple[LinearProbe, float, float]:
    """Steps 3 and 4 of the module docstring on train embeddings ``(N, D)`` only.

    Returns:
        The probe refitted on all of ``train`` with the chosen weight decay, that decay, and
        its top-1 accuracy on the held-out slice.
    """
    config = config or ProbeConfig()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(train.shape[0], generator=generator).to(train.device)
    holdout_size = min(train.shape[0] - 1, max(1, round(config.holdout_fraction * train.shape[0])))
    holdout, fit = order[:holdout_size], order[holdout_size:]
    best_decay, best_accuracy = config.weight_decays[0], -1.0
    for decay in sorted(config.weight_decays, reverse=True):  # strongest first: ties keep it
        probe = fit_linear_probe(
            train[fit], train_labels[fit], num_classes, decay, config.max_iterations
        )
        accuracy = _accuracies(probe, train[holdout], train_labels[holdout])["top1"]
        if accuracy > best_accuracy:
            best_decay, best_accuracy = decay, accuracy
    probe = fit_linear_probe(train, train_labels, num_classes, best_decay, config.max_iterations)
    return probe, best_decay, best_accuracy


def linear_probe_evaluate(
    train_embeddings: torch.Tensor | np.ndarray,
    train_labels: torch.Tensor | np.ndarray,
    test_embeddings: torch.Tensor | np.ndarray,
    test_labels: torch.Tensor | np.ndarray,
    *,
    num_classes: int | None = None,
    config: ProbeConfig | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Train the probe on train-split embeddings only and score it on the test split.

    Args:
        train_embeddings: ``(N, D)`` train-split embeddings.
        train_labels: ``(N,)`` class indices, all >= 0.
        test_embeddings: ``(M, D)`` test-split embeddings.
        test_labels: ``(M,)`` class indices, all >= 0.
        num_classes: number of classes; by default one more than the largest label.
        config: weight-decay grid, held-out share, iterations; ``ProbeConfig()`` by default.
        seed: draws the held-out slice of the train split.

    Returns:
        ``linear_top1``, ``linear_top5`` (fractions in [0, 1]), ``linear_weight_decay`` (the
        chosen value) and ``linear_holdout_top1`` (its accuracy on the held-out train slice).

    Raises:
        StoreError: a label is -1 (the probe needs labelled sketches).
    """
    config = config or ProbeConfig()
    train = as_embeddings(train_embeddings, "train embeddings")
    test = as_embeddings(test_embeddings, "test embeddings")
    train_labels = as_labels(train_labels, train.shape[0], "train labels").to(train.device)
    test_labels = as_labels(test_labels, test.shape[0], "test labels").to(test.device)
    check_labelled(train_labels, "train")
    check_labelled(test_labels, "test")
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"train and test embeddings differ in width: {train.shape[1]} vs {test.shape[1]}"
        )
    if train.shape[0] < 2 or test.shape[0] == 0:
        raise ValueError("the linear probe needs at least 2 train and 1 test embeddings")
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1

    probe, best_decay, best_accuracy = select_and_fit_probe(
        train, train_labels, num_classes, config=config, seed=seed
    )
    test_accuracy = _accuracies(probe, test, test_labels)
    return {
        "linear_top1": test_accuracy["top1"],
        "linear_top5": test_accuracy["top5"],
        "linear_weight_decay": best_decay,
        "linear_holdout_top1": best_accuracy,
    }
