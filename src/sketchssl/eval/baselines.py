"""Baselines every evaluation report shows beside the pre-trained model; embedding extraction.

- ``pixels``: the raw pixels of each sketch rendered at 32 x 32 (ink = 1, paper = 0, line width
  1 px), flattened to 1024 numbers. It asks whether a learned representation beats looking at
  the picture; on the 345-class QuickDraw mini set (train = gallery, test = queries, cosine) it
  gives 10.7% 1-NN top-1 and 2.7% retrieval mAP (chance: 0.29%).
- ``random_init``: the same architecture, untrained, embedded with :func:`embed_dataset`. It
  separates what pre-training learned from what the architecture and the input encoding give
  for free (random features are a strong baseline for kNN; Saxe et al. 2011, "On random weights
  and unsupervised feature learning").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from sketchssl.render.raster import render_strokes

__all__ = ["EmbeddingModel", "embed_dataset", "pixel_embeddings"]


class EmbeddingModel(Protocol):
    """What :func:`embed_dataset` needs: an ``nn.Module`` with ``embed(batch) -> (B, D)``."""

    training: bool

    def embed(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # noqa: D102
        ...

    def train(self, mode: bool = True) -> Any:  # noqa: D102
        ...


def pixel_embeddings(
    sketches: Sequence[np.ndarray],
    size: int = 32,
    line_width: float = 1.0,
    padding: float = 0.05,
) -> torch.Tensor:
    """Raw-pixel embeddings: each sketch fitted into a ``size`` x ``size`` canvas, flattened.

    Args:
        sketches: stroke-3 ``(N_i, 3)`` arrays.
        size: canvas side (32 gives the 1024-d pixel baseline).
        line_width: stroke width in pixels of the small canvas.
        padding: fraction of the canvas left empty on each side.

    Returns:
        float32 ``(N, size * size)`` with ink = 1 and paper = 0 (anti-aliased in between).

    Raises:
        SketchFormatError: a sketch is not valid stroke-3.

    Examples:
        >>> import numpy as np
        >>> pixel_embeddings([np.array([[10, 0, 0], [0, 10, 1]])]).shape
        torch.Size([1, 1024])
    """
    embeddings = np.empty((len(sketches), size * size), dtype=np.float32)  # (N, size * size)
    for index, sketch in enumerate(sketches):
        image = render_strokes(sketch, size, line_width, padding, fit=True, invert=True)
        embeddings[index] = image.reshape(-1) / np.float32(255.0)
    return torch.from_numpy(embeddings)


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        key: value.to(device, non_blocking=True) if torch.is_tensor(value) else value
        for key, value in batch.items()
    }


def embed_dataset(
    model: EmbeddingModel,
    dataloader: Iterable[Mapping[str, Any]],
    device: torch.device | str = "cpu",
    progress: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed every batch of ``dataloader`` with ``model.embed`` (eval mode, no gradients).

    Batches are dicts of tensors (``strokes5``, ``mask``, ``length``, ``label``, ``index``,
    optionally ``image``), as :class:`sketchssl.render.views.SketchDataset` yields them. When
    batches carry ``index``, the rows come back sorted by it, so the order does not depend on
    the sampler (a shuffled loader gives the same result). The model's training mode is
    restored afterwards.

    Args:
        model: any module with ``embed(batch) -> (B, D)``.
        dataloader: iterable of batch dicts.
        device: where the model runs; batches are moved there.
        progress: a label for a progress bar over the batches (None: no bar).

    Returns:
        ``(embeddings, labels)``: float32 ``(N, D)`` and int64 ``(N,)`` on the CPU
        (labels are -1 where a batch has no ``label`` key).
    """
    device = torch.device(device)
    was_training = model.training
    model.train(False)
    embeddings, labels, indices = [], [], []
    try:
        from tqdm import tqdm

        batches = tqdm(
            dataloader, desc=progress, unit="batch", leave=False, disable=progress is None
        )
        with torch.no_grad():
            for batch in batches:
                batch = _to_device(batch, device)
                embedded = model.embed(batch)  # (B, D)
                if embedded.ndim != 2:
                    raise ValueError(
                        f"model.embed must return (B, D), got shape {tuple(embedded.shape)}"
                    )
                embeddings.append(embedded.detach().float().cpu())
                count = embedded.shape[0]
                label = batch.get("label")
                labels.append(
                    label.reshape(-1).long().cpu()
                    if label is not None
                    else torch.full((count,), -1, dtype=torch.long)
                )
                index = batch.get("index")
                indices.append(index.reshape(-1).long().cpu() if index is not None else None)
    finally:
        model.train(was_training)
    if not embeddings:
        raise ValueError("the dataloader yielded no batches: is the split empty?")
    all_embeddings = torch.cat(embeddings)  # (N, D)
    all_labels = torch.cat(labels)  # (N,)
    if all(index is not None for index in indices):
        order = torch.argsort(torch.cat(indices), stable=True)
        all_embeddings, all_labels = all_embeddings[order], all_labels[order]
    return all_embeddings, all_labels
