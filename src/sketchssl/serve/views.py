"""A checkpoint's own preprocessing, applied to drawings that come in requests.

The views a method reads (sequence, raster, pretext, patches) are built by
:class:`~sketchssl.render.views.SketchDataset` from sketches it reads from a store. A request's
drawings are not in a store, so the template dataset is copied to read them from memory
(:class:`InMemorySketches`): the demo then sees exactly what evaluation sees, with the same
clamping, truncation, normalisation (the reference store's scale) and rendering.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sketchssl.data.store import SketchStore
from sketchssl.render.patch_view import PatchViewDataset, with_patch_view
from sketchssl.render.views import SketchDataset
from sketchssl.render.wrapper_views import plain_views

__all__ = ["InMemorySketches", "DrawingViews", "dataset_for"]


class InMemorySketches:
    """The part of a store :class:`SketchDataset` reads: sketch ``i`` and its label (-1)."""

    def __init__(self, sketches: Sequence[np.ndarray]) -> None:
        self.sketches = list(sketches)

    def __len__(self) -> int:
        return len(self.sketches)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.sketches[index]

    def label(self, index: int) -> int:
        """Request drawings have no class label."""
        return -1


def dataset_for(
    store: SketchStore, data: dict[str, Any], split: str = "train", scale: float | None = None
) -> Dataset:
    """One split of ``store`` with the views and preprocessing of a run config's data section.

    The patch view, when the run has one, is built unmasked.
    """
    base = SketchDataset(
        store,
        split=split,
        views=plain_views(tuple(data.get("views", ("sequence",)))),
        max_len=int(data.get("max_len", 250)),
        normalization=data.get("normalization", "std"),
        scale=scale,
        raster_size=int(data.get("raster_size", 64)),
        raster_line_width=float(data.get("raster_line_width", 1.5)),
        start_token=bool(data.get("start_token", False)),
        bbox_factor=float(data.get("bbox_factor", 10.0)),
        clamp_limit=float(data.get("clamp_limit", 1000.0)),
    )
    return with_patch_view(base, data, mask_prob=0.0)


class DrawingViews:
    """Builds a method's input batch from raw stroke-3 drawings.

    Args:
        template: the dataset whose views and preprocessing to apply (:func:`dataset_for`).

    Attributes:
        base: the underlying :class:`SketchDataset` (``prepare``, ``normalize``, ``scale``).
    """

    def __init__(self, template: Dataset) -> None:
        self.template = template
        self.base: SketchDataset = (
            template.base if isinstance(template, PatchViewDataset) else template
        )

    def _reading(self, sketches: Sequence[np.ndarray]) -> Dataset:
        """A shallow copy of the template that reads ``sketches`` instead of the store."""
        base = copy.copy(self.base)
        base.store = InMemorySketches(sketches)
        base.indices = np.arange(len(sketches), dtype=np.int64)
        if isinstance(self.template, PatchViewDataset):
            wrapped = copy.copy(self.template)
            wrapped.base = base
            return wrapped
        return base

    def batch(self, sketches: Sequence[np.ndarray]) -> dict[str, Tensor]:
        """The batch of the method's views, ``(B, ...)`` per key, of raw stroke-3 sketches."""
        dataset = self._reading(sketches)
        items = [dataset[position] for position in range(len(sketches))]
        return {key: torch.stack([item[key] for item in items]) for key in items[0]}
