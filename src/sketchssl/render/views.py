"""Torch datasets over a SketchStore: the per-sample views the methods train on.

The sequence view follows the sketch-rnn preprocessing (Ha & Eck 2017, magenta
``sketch_rnn/utils.py``): clamp offsets to +-1000, divide dx, dy by one global scale factor (the
std of the training offsets), convert to stroke-5 padded to ``max_len`` with an optional start
token. ``normalization="bbox"`` is Sketch-BERT's ``max_scale`` per-sketch scaling instead (Lin et
al. 2020, avalonstrel/SketchBERT). The raster view renders the same sketch with the CPU
rasteriser (:func:`sketchssl.render.raster.render_strokes`) as a ``(1, H, W)`` image, ink = 1.
The point view and the rotation / deformation pretext views are built by
:mod:`sketchssl.render.pretext`.

Views are built per sample, so they run in DataLoader worker processes; the store re-opens its
memory maps in each worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sketchssl.data.augment import SketchAugmenter
from sketchssl.data.formats import (
    bbox_scale,
    clamp_offsets,
    normalize_offsets,
    offset_scale_factor,
    stroke3_to_stroke5,
    truncate_stroke3,
)
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, StoreError
from sketchssl.render import pretext

__all__ = ["NORMALIZATIONS", "VIEWS", "SketchDataset", "store_scale_factor"]

VIEWS = ("sequence", "raster", *pretext.VIEWS)
NORMALIZATIONS = ("std", "bbox", "none")

Augment = SketchAugmenter | Callable[[np.ndarray], np.ndarray]


def store_scale_factor(
    store: SketchStore,
    split: str = "train",
    *,
    max_len: int | None = None,
    limit: float = 1000.0,
    block_rows: int = 1 << 22,
) -> float:
    """sketch-rnn's global scale factor: std of dx, dy over one split of a store.

    Offsets are clamped to ``+-limit`` and each sketch cut to ``max_len`` points first, as the
    training data is; rows are gathered straight from the points memmap in large blocks, so no
    per-sketch Python loop runs.
    """
    indices = store.split_indices(split)
    if len(indices) == 0:
        raise StoreError(
            f"{store.path}: the {split!r} split is empty, so no scale factor can be computed; "
            "pass scale=... explicitly"
        )
    offsets = store.offsets
    starts = np.asarray(offsets[indices], dtype=np.int64)
    lengths = np.asarray(offsets[indices + 1], dtype=np.int64) - starts
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    points = store.points

    def blocks() -> Any:
        # Split the sketch list into groups of about block_rows rows and gather each group.
        ends = np.cumsum(lengths)
        first = 0
        while first < len(starts):
            last = int(np.searchsorted(ends, ends[first] - lengths[first] + block_rows, "right"))
            last = max(last, first + 1)
            group_starts, group_lengths = starts[first:last], lengths[first:last]
            total = int(group_lengths.sum())
            # Row r of the group: its sketch's start plus its position inside the sketch.
            sketch_of_row = np.repeat(np.arange(len(group_starts)), group_lengths)
            inside = np.arange(total) - np.repeat(
                np.cumsum(group_lengths) - group_lengths, group_lengths
            )
            rows = np.asarray(points[group_starts[sketch_of_row] + inside])  # (total, 3)
            yield clamp_offsets(rows.astype(np.float64), limit)
            first = last

    return offset_scale_factor(blocks())


class SketchDataset(Dataset):
    """One split of a :class:`SketchStore` as a torch dataset of dicts of tensors.

    Each item holds:

    * ``strokes5`` ``(T, 5)`` float32: stroke-5 padded to ``T = max_len`` (``max_len + 1`` with
      ``start_token``);
    * ``mask`` ``(T,)`` bool: True on the rows holding the start token or a real point;
    * ``length`` int64: ``mask.sum()``;
    * ``label`` int64 (-1 when unlabelled; left out with ``with_labels=False``);
    * with ``with_parts`` (a store with part labels): ``parts`` ``(T,)`` int64, the part label
      of each ``strokes5`` row (-1 on the start token, padding and unlabelled points), and
      ``point_parts`` ``(max_len,)`` the same for the rows of the ``points`` view (its row 0
      is the implicit first point, -1);
    * ``index`` int64: the sketch's index in the store;
    * ``image`` ``(1, H, W)`` float32 in [0, 1], ink = 1 (only when ``"raster"`` is in ``views``);
    * the entries of :func:`sketchssl.render.pretext.build_view` for ``"points"`` and the pretext
      views (``"rotation_images"``, ...), which use ``max_len`` as the point count.

    Examples:
        >>> dataset = SketchDataset("stores/mini", split="train", views=("sequence", "raster"))
        ... # doctest: +SKIP
        >>> item = dataset[0]; item["strokes5"].shape, item["image"].shape  # doctest: +SKIP
        (torch.Size([250, 5]), torch.Size([1, 64, 64]))
    """

    def __init__(
        self,
        store: SketchStore | str | os.PathLike[str],
        split: str = "train",
        views: Sequence[str] = ("sequence",),
        max_len: int = 250,
        normalization: str = "std",
        scale: float | None = None,
        augment: Augment | None = None,
        raster_size: int = 64,
        raster_line_width: float = 1.5,
        raster_padding: float = 0.05,
        with_labels: bool = True,
        *,
        with_parts: bool = False,
        start_token: bool = False,
        drop_long: bool = False,
        clamp_limit: float = 1000.0,
        bbox_factor: float = 10.0,
        warp: pretext.RandomWarp | None = None,
    ) -> None:
        """Select a split and fix the preprocessing.

        Args:
            store: an open store or the path of one.
            split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.
            views: any of :data:`VIEWS`: ``"sequence"``, ``"raster"``, and those of
                :mod:`sketchssl.render.pretext`.
            max_len: sequence rows (without the start token); longer sketches are cut
                (:func:`~sketchssl.data.formats.truncate_stroke3`) or, with ``drop_long``,
                left out of the dataset.
            normalization: ``"std"`` (sketch-rnn global scale), ``"bbox"`` (Sketch-BERT
                per-sketch bounding box, times ``bbox_factor``) or ``"none"``.
            scale: the global scale for ``"std"``; None computes it from the store's train split.
            augment: applied to each raw sketch first: a
                :class:`~sketchssl.data.augment.SketchAugmenter` (seeded per epoch and sketch,
                see :meth:`sketch_at`) or any callable ``(N, 3) -> (N, 3)``.
            raster_size: image side in pixels for the raster view.
            raster_line_width: stroke width in pixels for the raster view.
            raster_padding: canvas margin (a fraction of the side) for the raster view.
            with_labels: include ``label`` in each item.
            with_parts: include the per-row part labels (``parts``, ``point_parts``); needs a
                store with part labels and no ``augment`` (augmentation moves points).
            start_token: put sketch-rnn's start token ``S0`` in front of the sequence.
            drop_long: leave out sketches longer than ``max_len`` instead of cutting them.
            clamp_limit: dx, dy are clamped to ``+-clamp_limit``.
            bbox_factor: Sketch-BERT's ``max_scale_factor`` for ``"bbox"``.
            warp: the deformation views' warp drawn per sketch and epoch (None: the paper's
                fixed warp).
        """
        self.store = store if isinstance(store, SketchStore) else SketchStore.open(store)
        unknown = [view for view in views if view not in VIEWS]
        if unknown or not views:
            raise ConfigError(f"views {list(views)!r}: choose one or more of {', '.join(VIEWS)}")
        if normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"normalization {normalization!r}: choose one of {', '.join(NORMALIZATIONS)}"
            )
        if max_len < 1:
            raise ConfigError(f"max_len must be at least 1, got {max_len}")
        if scale is not None and not scale > 0:
            raise ConfigError(f"scale must be positive, got {scale}")
        self.split = split
        self.views = tuple(views)
        self.max_len = int(max_len)
        self.normalization = normalization
        self.augment = augment
        self.raster_size = int(raster_size)
        self.raster_line_width = float(raster_line_width)
        self.raster_padding = float(raster_padding)
        self.with_labels = with_labels
        if with_parts and not self.store.has_parts:
            raise StoreError(
                f"{self.store.path}: this store has no part labels; build it from SPG files "
                "(an ndjson file with <category>.parts.txt beside it)"
            )
        if with_parts and augment is not None:
            raise ConfigError("part labels cannot follow augmented sketches: drop augment")
        self.with_parts = with_parts
        self.start_token = start_token
        self.clamp_limit = float(clamp_limit)
        self.bbox_factor = float(bbox_factor)
        self.warp = warp

        indices = self.store.split_indices(split)
        if drop_long:
            indices = indices[self.store.lengths[indices] <= self.max_len]
        self.indices = indices  # (M,) int64 store indices
        if normalization == "std" and scale is None:
            scale = store_scale_factor(
                self.store, "train", max_len=self.max_len, limit=self.clamp_limit
            )
        self.scale = scale

    def __len__(self) -> int:
        return len(self.indices)

    def prepare(self, sketch: np.ndarray) -> np.ndarray:
        """Clamp and cut one raw sketch: the stroke-3 every view is drawn from."""
        sketch = clamp_offsets(sketch, self.clamp_limit)
        return truncate_stroke3(sketch, self.max_len)

    def sketch_at(self, position: int) -> tuple[int, np.ndarray]:
        """``(store index, prepared stroke-3)`` of item ``position``, augmented if configured.

        A position past the end is a *draw* of a later epoch (``position = epoch * len(self) +
        item``, what :class:`~sketchssl.train.sampler.StepSeededBatchSampler` yields with
        ``tag_epochs``): a :class:`~sketchssl.data.augment.SketchAugmenter` then draws its
        randomness from ``(seed, epoch, store index)``, so every epoch sees a new augmentation
        and a resumed run the same one. Any other ``augment`` callable gets the sketch alone.
        """
        epoch, within = divmod(int(position), len(self.indices))
        index = int(self.indices[within])
        sketch = self.store[index]
        if isinstance(self.augment, SketchAugmenter):
            sketch = self.augment(sketch, index=index, epoch=epoch)
        elif self.augment is not None:
            sketch = self.augment(sketch)
        return index, self.prepare(sketch)

    def normalize(self, sketch: np.ndarray) -> np.ndarray:
        """float32 stroke-3 with dx, dy scaled as ``normalization`` says."""
        if self.normalization == "std":
            return normalize_offsets(sketch, self.scale)
        if self.normalization == "bbox":
            return bbox_scale(sketch, self.bbox_factor)
        return np.asarray(sketch, dtype=np.float32)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        index, sketch = self.sketch_at(position)  # (N, 3)
        return self.item_from(index, sketch, epoch=int(position) // len(self.indices))

    def item_from(
        self,
        index: int,
        sketch: np.ndarray,
        *,
        views: Sequence[str] | None = None,
        annotations: bool = True,
        epoch: int = 0,
    ) -> dict[str, torch.Tensor]:
        """The item of store sketch ``index`` whose prepared stroke-3 is ``sketch``.

        For wrappers that need the sketch too (the patch and pair views' datasets): they call
        :meth:`sketch_at` once and build the item from it, so an augmented sketch is drawn once
        per item.

        Args:
            index: the store index.
            sketch: the prepared stroke-3.
            views: build only these of the dataset's views (default: all of them).
            annotations: add ``index``, ``label`` and the part labels (False for a copy whose
                points no longer match the stored ones).
            epoch: the epoch of this draw (it seeds a drawn deformation warp).
        """
        views = self.views if views is None else tuple(views)
        item: dict[str, torch.Tensor] = {}
        if annotations:
            item["index"] = torch.tensor(index, dtype=torch.int64)
        if "sequence" in views:
            big = stroke3_to_stroke5(
                self.normalize(sketch), self.max_len, start_token=self.start_token
            )  # (T, 5)
            length = len(sketch) + int(self.start_token)
            mask = np.zeros(len(big), dtype=bool)
            mask[:length] = True
            item["strokes5"] = torch.from_numpy(big)
            item["mask"] = torch.from_numpy(mask)
            item["length"] = torch.tensor(length, dtype=torch.int64)
        if "raster" in views:
            from sketchssl.render.raster import render_strokes

            pixels = render_strokes(
                sketch,
                size=self.raster_size,
                line_width=self.raster_line_width,
                padding=self.raster_padding,
                invert=True,
            )  # (H, W) uint8, ink = 255
            image = torch.from_numpy(pixels.astype(np.float32) / 255.0)
            item["image"] = image.unsqueeze(0)  # (1, H, W)
        for view in views:
            if view in pretext.VIEWS:
                item.update(
                    pretext.build_view(
                        view,
                        sketch,
                        max_points=self.max_len,
                        raster_size=self.raster_size,
                        raster_line_width=self.raster_line_width,
                        raster_padding=self.raster_padding,
                        warp=None if self.warp is None else self.warp.transform_for(index, epoch),
                    )
                )
        if annotations and self.with_labels:
            item["label"] = torch.tensor(self.store.label(index), dtype=torch.int64)
        if annotations and self.with_parts:
            item.update(self.part_rows(index, len(sketch)))
        return item

    def part_rows(self, index: int, rows: int) -> dict[str, torch.Tensor]:
        """``parts`` (aligned with ``strokes5``) and ``point_parts`` (with ``points``).

        Args:
            index: the store index.
            rows: stroke-3 rows of the prepared sketch (after the ``max_len`` cut).
        """
        parts = self.store.parts_of(index)[:rows].astype(np.int64)  # (rows,)
        offset = int(self.start_token)
        sequence = np.full(self.max_len + offset, -1, dtype=np.int64)
        sequence[offset : offset + len(parts)] = parts
        # the points view keeps the implicit first point, then max_len - 1 rows
        points = np.full(self.max_len, -1, dtype=np.int64)
        kept = parts[: self.max_len - 1]
        points[1 : 1 + len(kept)] = kept
        return {"parts": torch.from_numpy(sequence), "point_parts": torch.from_numpy(points)}
