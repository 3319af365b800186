"""Contrastive and non-contrastive losses on paired embeddings, in plain torch.

Usable outside sketchssl's trainer, as lightly's losses are: each is an ``nn.Module`` taking the
two views' projections ``(N, D)``.

- [0] Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
  Representations" (SimCLR), ICML 2020, https://arxiv.org/abs/2002.05709: the NT-Xent loss,
  :class:`NTXentLoss`: each of the ``2N`` embeddings must pick its partner among the other
  ``2N - 1`` by cosine similarity / temperature.
- [1] Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
  (CLIP), ICML 2021, https://arxiv.org/abs/2103.00020: the symmetric cross-modal InfoNCE,
  :class:`CrossModalInfoNCE`: a picture must pick its own point sequence among the batch's
  sequences, and the other way round.
- [2] Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
  Self-Supervised Learning", ICLR 2022, https://arxiv.org/abs/2105.04906: :class:`VICRegLoss`,
  no negatives: mean squared distance between the views, a hinge keeping each dimension's
  standard deviation above 1, and a penalty on off-diagonal covariance.

Under DDP the batch of every process is gathered (with gradients) before the loss, so the
negatives are the global batch, as in the papers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CrossModalInfoNCE", "NTXentLoss", "ProjectionHead", "VICRegLoss", "gather"]


def gather(embeddings: Tensor) -> Tensor:
    """All processes' ``(N, D)`` rows concatenated (with gradients); itself outside DDP."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return embeddings
    if torch.distributed.get_world_size() == 1:
        return embeddings
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(embeddings), dim=0)


class ProjectionHead(nn.Module):
    """SimCLR's projection MLP: ``Linear -> BatchNorm -> ReLU`` blocks, then a last ``Linear``.

    Args:
        widths: ``[input, hidden..., output]`` widths (at least two).

    Examples:
        >>> ProjectionHead([16, 32, 8])(torch.zeros(4, 16)).shape
        torch.Size([4, 8])
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"a projection head needs at least two positive widths, got {widths}")
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-2], widths[1:-1], strict=True):
            layers += [
                nn.Linear(width_in, width_out, bias=False),
                nn.BatchNorm1d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Linear(widths[-2], widths[-1]))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        """``(N, widths[0])`` -> ``(N, widths[-1])``."""
        return self.layers(features)


class NTXentLoss(nn.Module):
    """SimCLR's normalised-temperature cross-entropy over ``2N`` embeddings.

    Args:
        temperature: divides the cosine similarities (SimCLR: 0.1 - 0.5).

    Examples:
        >>> loss = NTXentLoss(0.5)
        >>> a = torch.eye(4); round(float(loss(a, a)), 4) < round(float(loss(a, a.roll(1, 0))), 4)
        True
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, view_a: Tensor, view_b: Tensor) -> Tensor:
        """Mean loss of ``view_a`` ``(N, D)`` and ``view_b`` ``(N, D)``; row i of each pair up."""
        view_a, view_b = gather(view_a), gather(view_b)
        count = view_a.shape[0]
        joined = F.normalize(torch.cat([view_a, view_b]), dim=1)  # (2N, D)
        logits = joined @ joined.T / self.temperature  # (2N, 2N)
        logits = logits.masked_fill(
            torch.eye(2 * count, dtype=torch.bool, device=logits.device), float("-inf")
        )
        partners = torch.cat([torch.arange(count, 2 * count), torch.arange(count)]).to(
            logits.device
        )
        return F.cross_entropy(logits, partners)


class CrossModalInfoNCE(nn.Module):
    """CLIP's symmetric InfoNCE between two modalities (pictures and point sequences).

    Args:
        temperature: divides the cosine similarities.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, first: Tensor, second: Tensor) -> Tensor:
        """Mean of both directions' cross-entropy over ``(N, D)`` inputs; row i pairs with row i."""
        first, second = gather(first), gather(second)
        logits = F.normalize(first, dim=1) @ F.normalize(second, dim=1).T / self.temperature
        targets = torch.arange(first.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


class VICRegLoss(nn.Module):
    """VICReg: invariance + variance + covariance terms (the paper's weights 25 / 25 / 1).

    Args:
        invariance_weight: weight of the mean squared distance between the views.
        variance_weight: weight of the hinge ``max(0, 1 - std)`` per dimension.
        covariance_weight: weight of the summed squared off-diagonal covariances / D.
        epsilon: added to the variance before the square root.
    """

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        epsilon: float = 1e-4,
    ) -> None:
        super().__init__()
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.epsilon = epsilon

    def forward(self, view_a: Tensor, view_b: Tensor) -> Tensor:
        """The loss of ``(N, D)`` projections of the two views."""
        invariance = F.mse_loss(view_a, view_b)
        view_a, view_b = gather(view_a), gather(view_b)
        return (
            self.invariance_weight * invariance
            + self.variance_weight * (self._variance(view_a) + self._variance(view_b))
            + self.covariance_weight * (self._covariance(view_a) + self._covariance(view_b))
        )

    def _variance(self, embeddings: Tensor) -> Tensor:
        std = torch.sqrt(embeddings.var(dim=0) + self.epsilon)
        return F.relu(1.0 - std).mean()

    @staticmethod
    def _covariance(embeddings: Tensor) -> Tensor:
        count, width = embeddings.shape
        centred = embeddings - embeddings.mean(dim=0)
        covariance = centred.T @ centred / max(count - 1, 1)  # (D, D)
        off_diagonal = covariance - torch.diag(torch.diag(covariance))
        return off_diagonal.pow(2).sum() / width
