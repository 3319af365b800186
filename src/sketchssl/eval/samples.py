"""Figures of what a method draws: Sketch-BERT's gestalt completions (more methods follow).

Sketch gestalt (Lin et al., CVPR 2020): hide part of each sketch's points and pen states, let
the pre-trained Sketch Gestalt Model fill them in, and show masked input / completion / original
side by side, one column per sketch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sketchssl.data.formats import stroke5_to_stroke3
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError
from sketchssl.methods.masking import apply_gestalt_masks, draw_gestalt_masks
from sketchssl.render.views import SketchDataset

__all__ = ["gestalt_completions", "save_gestalt_figure"]


def _dataset(store: SketchStore, data: dict[str, Any], split: str) -> SketchDataset:
    return SketchDataset(
        store,
        split=split,
        views=("sequence",),
        max_len=int(data.get("max_len", 250)),
        normalization=data.get("normalization", "bbox"),
        start_token=bool(data.get("start_token", False)),
        bbox_factor=float(data.get("bbox_factor", 10.0)),
        clamp_limit=float(data.get("clamp_limit", 1000.0)),
    )


def gestalt_completions(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore,
    *,
    split: str = "test",
    count: int = 8,
    keep_prob: float = 0.7,
    seed: int = 0,
) -> dict[str, list[np.ndarray]]:
    """Masked inputs, completions and originals of ``count`` sketches as stroke-3 lists.

    Args:
        method: a ``sketch_bert`` model (eval mode).
        run_config: its run configuration (the data preprocessing is taken from it).
        store: where the sketches come from.
        split: which split.
        count: how many sketches (evenly spaced over the split).
        keep_prob: share of each mask group left visible (SGM's rule; 0.85 in training).
        seed: seed of the masks.
    """
    if not hasattr(method, "predict") or not hasattr(method, "generate"):
        raise ConfigError(f"gestalt completion needs a sketch_bert checkpoint, not {method.name!r}")
    dataset = _dataset(store, run_config.get("data", {}), split)
    if len(dataset) == 0:
        raise ConfigError(f"the {split!r} split of {store.path} is empty")
    positions = np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).astype(int)
    items = [dataset[int(p)] for p in positions]
    batch = {key: torch.stack([item[key] for item in items]) for key in ("strokes5", "mask")}
    generator = torch.Generator().manual_seed(seed)
    masks = draw_gestalt_masks(batch["strokes5"], batch["mask"], keep_prob, generator)
    method.eval()
    completed = method.generate(batch, masks.position, masks.state)  # (B, T, 5)
    masked = apply_gestalt_masks(batch["strokes5"], masks.position, masks.state)
    start = bool(run_config.get("data", {}).get("start_token", False))

    def to_stroke3(rows: torch.Tensor, length: int) -> np.ndarray:
        rows = rows[:length].numpy()
        sketch = stroke5_to_stroke3(rows, start_token=start)
        if len(sketch) == 0:  # an all-masked prediction: draw nothing rather than fail
            sketch = np.zeros((1, 3), dtype=np.float32)
        sketch[-1, 2] = 1
        return sketch

    lengths = batch["mask"].sum(dim=1).tolist()
    return {
        "masked input": [to_stroke3(masked[i], n) for i, n in enumerate(lengths)],
        "completion": [to_stroke3(completed[i], n) for i, n in enumerate(lengths)],
        "original": [to_stroke3(batch["strokes5"][i], n) for i, n in enumerate(lengths)],
    }


def save_gestalt_figure(
    rows: dict[str, list[np.ndarray]], path: str | os.PathLike[str], size: int = 96
) -> Path:
    """One row per entry of ``rows`` (masked input / completion / original), as PNG or SVG."""
    from sketchssl.render.grid import save_grid

    names = list(rows)
    columns = len(rows[names[0]])
    sketches = [sketch for name in names for sketch in rows[name]]
    labels = [name if column == 0 else "" for name in names for column in range(columns)]
    save_grid(sketches, path, ncols=columns, size=size, labels=labels)
    return Path(path)
