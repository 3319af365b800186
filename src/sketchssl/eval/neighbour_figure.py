"""A picture of retrieval: query sketches and their nearest gallery sketches, by cosine similarity.

Each row is one query (first tile, captioned ``query: <class>``) followed by its ``k`` most similar
gallery sketches, captioned with their class; a neighbour of another class is captioned in
brackets, so right and wrong answers can be told apart in a black-and-white image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sketchssl.eval.neighbors import top_k_neighbors
from sketchssl.render.grid import image_grid, save_image
from sketchssl.render.raster import render_strokes

__all__ = ["save_neighbour_figure"]


def save_neighbour_figure(
    queries: Sequence[np.ndarray],
    query_embeddings: np.ndarray | torch.Tensor,
    query_labels: Sequence[int],
    gallery: Sequence[np.ndarray],
    gallery_embeddings: np.ndarray | torch.Tensor,
    gallery_labels: Sequence[int],
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    k: int = 6,
    size: int = 80,
) -> Path:
    """Draw every query with its ``k`` nearest gallery sketches (one row each) into ``path``."""
    query_tensor = torch.as_tensor(np.asarray(query_embeddings), dtype=torch.float32)
    gallery_tensor = torch.as_tensor(np.asarray(gallery_embeddings), dtype=torch.float32)
    _, indices = top_k_neighbors(
        query_tensor, gallery_tensor, min(k, len(gallery)), metric="cosine"
    )
    tiles, captions = [], []
    for row, query in enumerate(queries):
        truth = int(query_labels[row])
        tiles.append(render_strokes(query, size=size, line_width=1.5))
        captions.append(f"query: {class_names[truth]}")
        for index in indices[row].tolist():
            label = int(gallery_labels[index])
            tiles.append(render_strokes(gallery[index], size=size, line_width=1.5))
            name = class_names[label]
            captions.append(name if label == truth else f"[{name}]")
    return save_image(image_grid(tiles, ncols=indices.shape[1] + 1, labels=captions), path)
