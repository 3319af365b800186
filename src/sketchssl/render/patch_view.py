"""Patch-masked inputs for healing, per sketch and per dataset item.

- [0] SP-gra2seq (Zang, Tu, Xu, AAAI 2023) and Lmser-pix2seq (Li et al., CVIU 2024): the test set
  is corrupted by zeroing patch-sized squares around the patch centres, each with probability
  ``p``, driven by a fixed per-(sketch, centre) uniform table (METHODS.md sections 3, 5, 7.3).

Two corrupted forms of one sketch, from the same mask-table row:

* :func:`patch_view`: what patch-input methods read: the nodes of
  :func:`sketchssl.render.patches.make_patch_graph` (node 0 the masked canvas, then the patches),
  as tensors under the keys of :data:`PATCH_KEYS`.
* :func:`corrupt_sequence`: the same corruption for sequence-input methods (sketch-rnn), which
  read no image: every point that lies inside a masked square is deleted, and each stroke is
  split where points were deleted (the pen is lifted across the gap). A segment between two kept
  points that crosses a masked square without a point inside it stays; this is point-level
  corruption (as SketchLattice's), not the pixel masking the patch methods see, so numbers of
  the two input kinds are not directly comparable.

:class:`PatchViewDataset` adds :func:`patch_view` to the items of a
:class:`~sketchssl.render.views.SketchDataset`; item ``i`` of the split reads row ``i`` of the
mask table, so every method and every run sees the same corruption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_absolute, validate_stroke3
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.render.patches import (
    PatchConfig,
    canvas_layout,
    make_patch_graph,
    mask_canvas,
    patch_centres,
)
from sketchssl.render.wrapped_dataset import WrappedDataset

__all__ = [
    "PATCH_KEYS",
    "PATCH_VIEW",
    "patch_config_from_data",
    "with_patch_view",
    "PatchViewDataset",
    "corrupt_sequence",
    "erased_runs",
    "mask_row",
    "masked_slots",
    "patch_view",
    "views_without_patches",
]

#: Batch keys of the patch view.
PATCH_KEYS = ("patches", "patch_valid", "patch_masked", "patch_original")

#: Name of the patch view in a run config's ``data.views``.
PATCH_VIEW = "patches"


def patch_config_from_data(data: Mapping[str, Any]) -> PatchConfig:
    """The patch geometry of a run config's data section (keys ``patch_*``; PatchConfig's defaults).

    The data section is the single source of the geometry: training crops with it, and
    healing / evaluation read it back from the checkpoint's run config.
    """
    defaults = PatchConfig()
    border = data.get("patch_border", defaults.border)
    return PatchConfig(
        patch_size=int(data.get("patch_size", defaults.patch_size)),
        max_patches=int(data.get("patch_slots", defaults.max_patches)),
        canvas_scale=float(data.get("patch_canvas_scale", defaults.canvas_scale)),
        line_width=float(data.get("patch_line_width", defaults.line_width)),
        point_stride=int(data.get("patch_point_stride", defaults.point_stride)),
        border=None if border is None or int(border) < 0 else int(border),
    )


def with_patch_view(
    base: Dataset, data: Mapping[str, Any], *, mask_prob: float | None = None, seed: int = 0
) -> Dataset:
    """``base`` with the patch view added when ``data["views"]`` names it, else ``base``.

    Args:
        base: the dataset of the other views (``sequence`` at least: the decoders' target).
        data: a run config's data section (a mapping or :class:`~sketchssl.train.config.DataConfig`
            as a dict).
        mask_prob: masking probability; None uses ``data["patch_mask_prob"]`` (training-time
            corruption, fresh uniforms per item from ``seed``).
        seed: seed of the fresh uniforms.
    """
    if PATCH_VIEW not in tuple(data.get("views", ())):
        return base
    prob = float(data.get("patch_mask_prob", 0.0)) if mask_prob is None else float(mask_prob)
    return PatchViewDataset(base, mask_prob=prob, config=patch_config_from_data(data), seed=seed)


def views_without_patches(views: Sequence[str]) -> tuple[str, ...]:
    """``views`` minus the patch view (what the underlying SketchDataset builds)."""
    rest = tuple(view for view in views if view != PATCH_VIEW)
    if len(rest) != len(tuple(views)) and "sequence" not in rest:
        raise ConfigError(
            "the patches view needs the sequence view beside it (the decoder's target): "
            "set data.views=[sequence,patches]"
        )
    return rest


def mask_row(table: np.ndarray, position: int) -> np.ndarray:
    """Row ``position`` of a mask table, with a clear error when the table is too short."""
    if position >= len(table):
        raise SketchFormatError(
            f"the mask table has {len(table)} rows but sketch {position} of the split needs a "
            "row; make a table with at least as many rows as the split has sketches"
        )
    return np.asarray(table[position], dtype=np.float64)


def masked_slots(
    sketch: np.ndarray, uniforms: np.ndarray, mask_prob: float, config: PatchConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(K, 2)`` and which of them are masked ``(K,)`` bool, without rendering.

    The same decision as :func:`~sketchssl.render.patches.make_patch_graph` takes: slot ``k`` is
    masked when ``uniforms[k] < mask_prob`` and its square lies on the padded canvas.
    """
    config = config or PatchConfig()
    layout = canvas_layout(sketch, config)
    centres = patch_centres(sketch, config)
    empty = np.zeros((layout.padded_side, layout.padded_side), dtype=np.uint8)
    _, masked = mask_canvas(empty, centres, uniforms, mask_prob, config.patch_size)
    return centres, masked


def erased_runs(
    sketch: np.ndarray, uniforms: np.ndarray, mask_prob: float, config: PatchConfig | None = None
) -> list[tuple[np.ndarray, bool]]:
    """The sketch cut where its masked squares begin and end: ``(points, erased)`` runs in order.

    Each stroke splits into runs of consecutive points that are all inside a masked square
    (``erased`` True) or all outside (False); the runs come in drawing order, in the sketch's
    own units, absolute (the first point is the origin, ``(0, 0)``).

    Args:
        sketch: ``(N, 3)`` stroke-3.
        uniforms: the sketch's mask-table row.
        mask_prob: masking probability of each slot.
        config: patch geometry (the square side is ``patch_size`` on the 640-px canvas).

    Examples:
        >>> line = np.array([[1, 0, 0]] * 9 + [[1, 0, 1]], dtype=np.int16)
        >>> [(len(points), erased) for points, erased in erased_runs(line, np.zeros(20), 0.0)]
        [(11, False)]
    """
    config = config or PatchConfig()
    sketch = validate_stroke3(sketch)
    points = stroke3_to_absolute(sketch)  # (N + 1, 3) in the sketch's own units
    deleted = np.zeros(len(points), dtype=bool)
    centres, masked = masked_slots(sketch, uniforms, mask_prob, config)
    if masked.any():
        placed = canvas_layout(sketch, config).points  # (N + 1, 3) padded-canvas pixels
        half = config.patch_size // 2
        for centre in centres[masked]:
            inside_x = (placed[:, 0] >= centre[0] - half) & (placed[:, 0] < centre[0] + half)
            inside_y = (placed[:, 1] >= centre[1] - half) & (placed[:, 1] < centre[1] + half)
            deleted |= inside_x & inside_y
    stroke_ends = np.flatnonzero(points[:, 2] == 1) + 1
    runs: list[tuple[np.ndarray, bool]] = []
    strokes = np.split(points[:, :2], stroke_ends)
    for stroke, gone in zip(strokes, np.split(deleted, stroke_ends), strict=True):
        breaks = np.flatnonzero(np.diff(gone.astype(np.int8)) != 0) + 1
        for piece, piece_gone in zip(np.split(stroke, breaks), np.split(gone, breaks), strict=True):
            if len(piece):
                runs.append((piece, bool(piece_gone[0])))
    return runs


def corrupt_sequence(
    sketch: np.ndarray,
    uniforms: np.ndarray,
    mask_prob: float,
    config: PatchConfig | None = None,
    *,
    with_start: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Delete the points of ``sketch`` that fall inside its masked squares.

    The arguments are :func:`erased_runs`'s; ``with_start`` also returns where the result's
    first point (its origin) lies in the frame of ``sketch``, ``(2,)`` float64, which puts the
    kept strokes back in place (:func:`~sketchssl.render.patches.layout_on`).

    Returns:
        float32 stroke-3 of the kept points, strokes split at deleted points
        (:func:`erased_runs` without the erased ones). A sketch with nothing masked comes back
        unchanged; one with fewer than two points left becomes the single pen-up row
        ``(0, 0, 1)``.

    Examples:
        >>> line = np.array([[1, 0, 0]] * 9 + [[1, 0, 1]], dtype=np.int16)
        >>> corrupt_sequence(line, np.zeros(20), 0.0).shape
        (10, 3)
    """
    runs = erased_runs(sketch, uniforms, mask_prob, config)
    kept = [points for points, erased in runs if not erased]
    start = np.asarray(kept[0][0], dtype=np.float64) if kept else np.zeros(2)
    if all(not erased for _, erased in runs):
        result = validate_stroke3(sketch).astype(np.float32)
    elif sum(len(run) for run in kept) < 2:
        result = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)
    else:
        result = polylines_to_stroke3(kept).astype(np.float32)
    return (result, start) if with_start else result


def patch_view(
    sketch: np.ndarray,
    config: PatchConfig | None = None,
    *,
    mask_prob: float = 0.0,
    uniforms: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    canvas_of: np.ndarray | None = None,
    start: np.ndarray | tuple[float, float] = (0.0, 0.0),
) -> dict[str, torch.Tensor]:
    """The patch-graph input of one sketch as tensors.

    ``canvas_of`` and ``start`` put the sketch on another sketch's canvas
    (:func:`~sketchssl.render.patches.make_patch_graph`).

    Returns:
        ``patches`` ``(1 + max_patches, P, P)`` float32 in ``[-1, 1]`` (node 0 = the masked
        canvas), ``patch_valid`` and ``patch_masked`` ``(max_patches,)`` bool, and
        ``patch_original`` ``(P, P)`` node 0 of the unmasked sketch (Lmser-pix2seq's target).
    """
    graph = make_patch_graph(
        sketch,
        config,
        mask_prob=mask_prob,
        uniforms=uniforms,
        rng=rng,
        with_original=True,
        canvas_of=canvas_of,
        start=start,
    )
    return {
        "patches": torch.from_numpy(graph.nodes),
        "patch_valid": torch.from_numpy(graph.valid),
        "patch_masked": torch.from_numpy(graph.masked),
        "patch_original": torch.from_numpy(graph.original),
    }


class PatchViewDataset(WrappedDataset):
    """A :class:`~sketchssl.render.views.SketchDataset` whose items also hold the patch view.

    Args:
        base: the dataset (its ``prepare`` clamps and cuts each sketch first).
        mask_prob: masking probability.
        mask_table: ``(>= len(base), >= max_patches)`` uniforms; item ``i`` uses row ``i``.
            None with ``mask_prob > 0`` draws fresh uniforms from ``seed`` (training).
        config: patch geometry.
        seed: seed of the fresh uniforms (item ``i`` uses ``seed + i``: reproducible).
    """

    def __init__(
        self,
        base: Dataset,
        mask_prob: float = 0.0,
        mask_table: np.ndarray | None = None,
        config: PatchConfig | None = None,
        seed: int = 0,
    ) -> None:
        if mask_table is not None and len(mask_table) < len(base):
            mask_row(mask_table, len(base) - 1)  # raises with the sizes
        self.base = base
        self.mask_prob = float(mask_prob)
        self.mask_table = mask_table
        self.config = config or PatchConfig()
        self.seed = seed

    def prepare(self, sketch: np.ndarray) -> np.ndarray:
        """The base dataset's per-sketch preprocessing."""
        return self.base.prepare(sketch)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        index, sketch = self.base.sketch_at(position)  # augmented (if so configured) once
        item = self.base.item_from(index, sketch)
        uniforms = mask_row(self.mask_table, position) if self.mask_table is not None else None
        rng = np.random.default_rng(self.seed + position) if uniforms is None else None
        item.update(
            patch_view(sketch, self.config, mask_prob=self.mask_prob, uniforms=uniforms, rng=rng)
        )
        return item
