"""Sketch point embedding: stroke-5 rows -> transformer hidden vectors.

Sketch-BERT (Lin, Fu, Jiang, Xue, "Sketch-BERT: Learning Sketch Bidirectional Encoder
Representation from Transformers by Self-supervised Learning of Sketch Gestalt", CVPR 2020;
reference code avalonstrel/SketchBERT, ``SketchTransformerModel``) embeds each stroke-5 point
with three summed terms, all of width ``embed_dim``:

* a point embedding, ``Linear(5 -> embed_dim)`` of the ``(dx, dy, p1, p2, p3)`` row;
* a learned position embedding, one row per sequence position (prefix tokens included);
* optionally a stroke ("segment") embedding: ``0`` for a prefix token such as ``[CLS]``, ``1``
  for padding, ``2, 3, ...`` for the first, second, ... stroke. The released config switches it
  off; the paper describes it.

The sum is then widened to the transformer width by a stack of linears *without* activations,
ALBERT's factorised embedding (128 -> 256 -> 512 -> 768 in the paper).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "PREFIX_SEGMENT",
    "PAD_SEGMENT",
    "FIRST_STROKE_SEGMENT",
    "stroke_segments",
    "SketchEmbedding",
]

PREFIX_SEGMENT = 0
PAD_SEGMENT = 1
FIRST_STROKE_SEGMENT = 2


def stroke_segments(strokes5: Tensor, mask: Tensor, num_prefix_tokens: int = 0) -> Tensor:
    """Stroke index of every row: 0 for prefix tokens, 1 for padding, 2.. for strokes.

    A stroke ends at a point whose pen lifts (``p2``) or whose sketch ends (``p3``); the next real
    point starts the next stroke. Real points after the last pen lift (a truncated sketch) belong
    to the stroke still being drawn.

    Args:
        strokes5: ``(B, T, 5)`` stroke-5 rows, without prefix tokens.
        mask: ``(B, T)`` True on real rows.
        num_prefix_tokens: how many prefix rows (segment 0) to put in front.

    Returns:
        ``(B, num_prefix_tokens + T)`` int64 segment ids.

    Examples:
        >>> rows = torch.tensor([[[1., 0, 1, 0, 0], [1, 0, 0, 1, 0], [0, 1, 0, 1, 0],
        ...                       [0, 0, 0, 0, 1]]])
        >>> stroke_segments(rows, torch.tensor([[True, True, True, False]]), 1).tolist()
        [[0, 2, 2, 3, 1]]
    """
    pen_lifted = (strokes5[..., 3] + strokes5[..., 4]) > 0.5  # (B, T)
    # strokes finished strictly before each row: an exclusive cumulative sum of the pen lifts
    finished = torch.cumsum(pen_lifted.long(), dim=1) - pen_lifted.long()  # (B, T)
    segments = torch.where(mask, finished + FIRST_STROKE_SEGMENT, PAD_SEGMENT)
    if num_prefix_tokens:
        prefix = segments.new_full((segments.shape[0], num_prefix_tokens), PREFIX_SEGMENT)
        segments = torch.cat([prefix, segments], dim=1)
    return segments


class SketchEmbedding(nn.Module):
    """Point + position (+ stroke) embedding followed by the ALBERT-style refine stack.

    Args:
        hidden_dim: output width (the transformer's hidden size).
        embed_dim: width of the point / position / stroke embeddings.
        refine_dims: widths of the intermediate refine linears between ``embed_dim`` and
            ``hidden_dim`` (``(256, 512)`` in the paper); empty for one linear.
        max_positions: rows of the position table (maximum sequence length, prefix included).
        use_segments: add the stroke embedding.
        max_segments: rows of the stroke table; stroke ids beyond it share its last row.
        input_dim: point width (5 for stroke-5).

    Examples:
        >>> embedding = SketchEmbedding(hidden_dim=32, embed_dim=8, refine_dims=(16,),
        ...                             max_positions=10)
        >>> embedding(torch.zeros(2, 10, 5)).shape
        torch.Size([2, 10, 32])
    """

    def __init__(
        self,
        hidden_dim: int,
        embed_dim: int,
        refine_dims: Sequence[int],
        max_positions: int,
        *,
        use_segments: bool = False,
        max_segments: int | None = None,
        input_dim: int = 5,
    ) -> None:
        super().__init__()
        if max_positions < 1:
            raise ValueError(f"max_positions must be at least 1, got {max_positions}")
        self.max_positions = max_positions
        self.point = nn.Linear(input_dim, embed_dim)
        self.position = nn.Embedding(max_positions, embed_dim)
        self.segment = (
            nn.Embedding(max_segments or max_positions + FIRST_STROKE_SEGMENT, embed_dim)
            if use_segments
            else None
        )
        widths = [embed_dim, *refine_dims, hidden_dim]
        # no activations in between: a factorised (low-rank) projection, as in ALBERT
        self.refine = nn.Sequential(
            *(nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        )

    def forward(self, points: Tensor, segments: Tensor | None = None) -> Tensor:
        """Embed a batch of rows.

        Args:
            points: ``(B, T, 5)`` input rows (prefix tokens included, masked entries zeroed).
            segments: ``(B, T)`` int64 stroke ids (see :func:`stroke_segments`); required when
                the stroke embedding is on, ignored otherwise.

        Returns:
            ``(B, T, hidden_dim)``.
        """
        length = points.shape[1]
        if length > self.max_positions:
            raise ValueError(
                f"sequence of {length} rows is longer than the position table "
                f"({self.max_positions} rows)"
            )
        positions = torch.arange(length, device=points.device)  # (T,)
        hidden = self.point(points) + self.position(positions)  # (B, T, E)
        if self.segment is not None:
            if segments is None:
                raise ValueError("this embedding has a stroke table: pass segments")
            segments = segments.clamp(max=self.segment.num_embeddings - 1)
            hidden = hidden + self.segment(segments)
        return self.refine(hidden)  # (B, T, H)
