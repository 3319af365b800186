"""The temporal convolution network (TCN) of the stroke branch of Xu et al.

- [0] Xu, Song, Yin, Song, Wang, "Deep Self-Supervised Representation Learning for Free-Hand
  Sketch", IEEE TCSVT 2020, https://arxiv.org/abs/2002.00867; reference code
  https://github.com/zzz1515151/self-supervised_learning_sketch (``TCN.py``).

Parallel 1-D convolutions of several widths run over a point sequence ``(B, T, 4)``; each is
followed by ReLU and a max over time; the maxima are concatenated (``num_filters *
len(window_sizes)``, 320 in the paper) and mapped to the feature layer by ``Linear -> BatchNorm
-> ReLU`` (4096 wide in the paper). That feature is what the method's ``embed`` returns.

The reference builds each branch as ``Conv2d(1, 32, kernel=[w, 4], padding=(w - 1, 0))`` over the
sequence seen as a one-channel ``T x 4`` image. A kernel that spans all 4 columns is exactly a
``Conv1d(4, 32, kernel=w, padding=w - 1)`` over the sequence with the columns as channels, which
is what we use (same parameters, permuted; the tests check the equivalence). Like the reference,
every branch pads ``w - 1`` zero rows on both ends, so windows that overlap the padding count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PAPER_WINDOW_SIZES", "TemporalConvNet"]

#: The reference's ``window_sizes``: 2, 4, ..., 20.
PAPER_WINDOW_SIZES = tuple(range(2, 21, 2))


class TemporalConvNet(nn.Module):
    """Point sequence ``(B, T, input_dim)`` -> feature ``(B, feature_dim)``.

    Args:
        input_dim: columns of each row (4: ``x, y, p1, p2``).
        num_filters: output channels of each convolution branch (32 in the paper).
        window_sizes: temporal kernel width of each branch (2, 4, ..., 20 in the paper).
        feature_dim: width of the feature layer (4096 in the paper).

    Examples:
        >>> network = TemporalConvNet(num_filters=8, window_sizes=(2, 4), feature_dim=16)
        >>> network(torch.zeros(3, 100, 4)).shape
        torch.Size([3, 16])
    """

    def __init__(
        self,
        input_dim: int = 4,
        num_filters: int = 32,
        window_sizes: Sequence[int] = PAPER_WINDOW_SIZES,
        feature_dim: int = 4096,
    ) -> None:
        super().__init__()
        window_sizes = tuple(int(width) for width in window_sizes)
        if not window_sizes or min(window_sizes) < 1:
            raise ValueError(f"window_sizes needs positive widths, got {window_sizes}")
        if min(input_dim, num_filters, feature_dim) < 1:
            raise ValueError("input_dim, num_filters and feature_dim must be at least 1")
        self.window_sizes = window_sizes
        self.feature_dim = feature_dim
        self.branches = nn.ModuleList(
            nn.Conv1d(input_dim, num_filters, kernel_size=width, padding=width - 1)
            for width in window_sizes
        )
        self.projection = nn.Linear(num_filters * len(window_sizes), feature_dim)
        self.norm = nn.BatchNorm1d(feature_dim)

    def fused_weights(self) -> tuple[Tensor, Tensor]:
        """All branches as one convolution: weight ``(F * n, input_dim, w_max)``, bias ``(F * n,)``.

        Each branch's kernel is right-aligned in a zero kernel of the widest width; with padding
        ``w_max - 1``, output ``j`` of the fused convolution then equals output ``j`` of the
        branch (padding ``w - 1``) for every ``j < T + w - 1``.
        """
        widest = max(self.window_sizes)
        weights = [
            F.pad(branch.weight, (widest - width, 0))  # (F, input_dim, w_max)
            for width, branch in zip(self.window_sizes, self.branches, strict=True)
        ]
        return torch.cat(weights), torch.cat([branch.bias for branch in self.branches])

    def responses(self, points: Tensor) -> Tensor:
        """All branches' ReLU responses ``(B, F * n, T + w_max - 1)``.

        Output ``j`` of a branch of width ``w`` reads input rows ``j - w + 1 .. j``.
        """
        channels = points.transpose(1, 2)  # (B, input_dim, T)
        weight, bias = self.fused_weights()
        return F.relu(F.conv1d(channels, weight, bias, padding=max(self.window_sizes) - 1))

    def row_features(self, points: Tensor) -> Tensor:
        """Per-row features ``(B, T, F * n)``: each branch's response centred on the row.

        Row ``i`` gets the window of rows ``i - w // 2 + 1 .. i + w // 2`` for width ``w``.
        These are the convolution features before the max over time; the part-segmentation
        probe reads them.
        """
        responses = self.responses(points)
        steps = points.shape[1]
        filters = self.branches[0].out_channels
        centred = [
            responses[:, index * filters : (index + 1) * filters, width // 2 : width // 2 + steps]
            for index, width in enumerate(self.window_sizes)
        ]  # each (B, F, T)
        return torch.cat(centred, dim=1).transpose(1, 2)  # (B, T, F * n)

    def pooled_responses(self, points: Tensor) -> Tensor:
        """The max over time of every branch's responses ``(B, F * n)`` (before the fc layer)."""
        responses = self.responses(points)
        # (B, F * n, T + w_max - 1); branch i has T + w_i - 1 outputs
        steps = torch.arange(responses.shape[2], device=points.device)  # (T + w_max - 1,)
        limits = torch.tensor(self.window_sizes, device=points.device) + points.shape[1] - 1
        filters = self.branches[0].out_channels
        valid = steps[None, :] < limits.repeat_interleave(filters)[:, None]  # (F * n, steps)
        # after ReLU every response is >= 0, so masking with 0 leaves each branch's max unchanged
        return (responses * valid).amax(dim=2)  # (B, F * n), branch-major as torch.cat

    def forward(self, points: Tensor) -> Tensor:
        """Feature of each sequence.

        One fused convolution replaces the ``n`` branch convolutions (about 3 times faster on a
        CPU than ``n`` small ones); outputs a narrower branch would not have are masked before
        the max, so the result is the same as running the branches one by one.

        Args:
            points: ``(B, T, input_dim)`` rows, zero-padded at the end.

        Returns:
            ``(B, feature_dim)``, after ``Linear -> BatchNorm -> ReLU``.
        """
        joined = self.pooled_responses(points)  # (B, F * n)
        return F.relu(self.norm(self.projection(joined)))  # (B, feature_dim)
