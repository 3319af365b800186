"""Two augmented copies of every sketch: the input of the contrastive methods.

Contrastive and non-contrastive objectives (SimCLR, Chen et al. 2020; VICReg, Bardes et al.
2022) learn by making two augmentations of the same sample agree. For sketches the
augmentations can act on the strokes before anything is drawn (where they keep lines clean) and
on the picture (crop, line width). :class:`PairViewDataset` wraps a
:class:`~sketchssl.render.views.SketchDataset` and, for each sketch, draws two copies with
:class:`PairAugmentation`, then builds the wrapped dataset's views (``sequence``, ``raster``,
``points``) of each copy. Keys get the suffix ``_a`` or ``_b`` (``image_a``, ``strokes5_b``,
``mask_b``, ...); ``index`` and ``label`` are kept once.

Every copy draws its randomness from ``(seed, epoch, store index, copy)``: a new pair each
epoch, the same pair after a resume, whichever worker builds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sketchssl.data.augment import Augmentation, compose
from sketchssl.data.formats import stroke3_to_absolute, truncate_stroke3
from sketchssl.errors import ConfigError
from sketchssl.render.raster import CanvasTransform, fit_transform, render_strokes

__all__ = [
    "PAIR_VIEW",
    "PairAugmentation",
    "PairViewDataset",
    "pair_augmentation_from_data",
    "views_without_pairs",
    "with_pair_view",
]

PAIR_VIEW = "pairs"


@dataclass(frozen=True)
class PairAugmentation:
    """The augmentations of each copy; a value of 0 (1 for the fractions) switches one off.

    Stroke space, in this order (:class:`~sketchssl.data.augment.Augmentation`):

    Attributes:
        partial_min_fraction: keep the first ``U(f, 1)`` of the points (a partial sketch).
        stroke_drop_prob: drop each whole stroke with this probability (one always stays).
        scale: stretch x and y by independent factors ``1 + U(-s, s)``.
        rotation_degrees: rotate by ``U(-r, r)`` degrees.
        drop_prob: drop points inside strokes (sketch-rnn's ``augment_strokes``).

    On the picture (image views only):

    Attributes:
        crop_zoom: zoom in by ``U(1, z)`` on a random window of the fitted sketch, so parts of
            it leave the canvas (a random resized crop drawn at full resolution); 1 = off.
        line_width_jitter: multiply the line width by ``U(1 - j, 1 + j)``; 0 = off.
    """

    partial_min_fraction: float = 0.8
    stroke_drop_prob: float = 0.1
    scale: float = 0.15
    rotation_degrees: float = 15.0
    drop_prob: float = 0.1
    crop_zoom: float = 1.3
    line_width_jitter: float = 0.4

    def __post_init__(self) -> None:
        self.strokes()  # checks the stroke-space ranges
        if not 1.0 <= self.crop_zoom <= 4.0:
            raise ConfigError(f"pair crop_zoom must be in [1, 4], got {self.crop_zoom}")
        if not 0.0 <= self.line_width_jitter < 1.0:
            raise ConfigError(
                f"pair line_width_jitter must be in [0, 1), got {self.line_width_jitter}"
            )

    def strokes(self) -> Augmentation:
        """The stroke-space part as an :class:`~sketchssl.data.augment.Augmentation`."""
        return Augmentation(
            scale_factor=self.scale,
            drop_prob=self.drop_prob,
            max_rotation_degrees=self.rotation_degrees,
            stroke_drop_prob=self.stroke_drop_prob,
            partial_min_fraction=self.partial_min_fraction,
        )


def picture_transform(
    sketch: np.ndarray, size: int, padding: float, zoom: float, shift: np.ndarray
) -> CanvasTransform:
    """The fitted placement zoomed by ``zoom`` about the canvas centre, then moved by ``shift``.

    ``shift`` is in units of the canvas side, each coordinate within ``+-(zoom - 1) / 2`` so the
    window stays on the zoomed drawing.
    """
    fitted = fit_transform(stroke3_to_absolute(sketch)[:, 0:2], size, padding)
    middle = (size - 1) / 2.0
    return CanvasTransform(
        scale_x=fitted.scale_x * zoom,
        scale_y=fitted.scale_y * zoom,
        offset_x=(fitted.offset_x - middle) * zoom + middle + float(shift[0]) * size,
        offset_y=(fitted.offset_y - middle) * zoom + middle + float(shift[1]) * size,
    )


class PairViewDataset(Dataset):
    """Two augmented copies of every sketch of ``base``, each with ``base``'s views.

    Args:
        base: the wrapped dataset (its views, preprocessing and split); it should not augment
            on its own (the pair's augmentation replaces ``data.augment_*``).
        augmentation: what each copy gets.
        seed: the run's seed.

    Examples:
        >>> dataset = PairViewDataset(SketchDataset("stores/mini", views=("raster",)),
        ...                           PairAugmentation(), seed=0)  # doctest: +SKIP
        >>> sorted(dataset[0])  # doctest: +SKIP
        ['image_a', 'image_b', 'index', 'label']
    """

    def __init__(self, base: Any, augmentation: PairAugmentation, seed: int = 0) -> None:
        self.base = base
        self.augmentation = augmentation
        self.seed = int(seed)
        self._chain = compose(*augmentation.strokes().transforms())

    def __len__(self) -> int:
        return len(self.base)

    @property
    def indices(self) -> np.ndarray:
        """Store indices of the items (those of ``base``)."""
        return self.base.indices

    @property
    def scale(self) -> float | None:
        """The sequence view's global scale factor (that of ``base``)."""
        return self.base.scale

    def copy_of(self, sketch: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """One augmented copy's views (keys without suffix)."""
        base = self.base
        augmented = truncate_stroke3(self._chain(np.asarray(sketch), rng), base.max_len)
        views = tuple(view for view in base.views if view != "raster")
        item: dict[str, torch.Tensor] = {}
        if views:
            item.update(base.item_from(-1, augmented, views=views, annotations=False))
        if "raster" in base.views:
            picture = self.augmentation
            zoom = float(rng.uniform(1.0, picture.crop_zoom))
            shift = rng.uniform(-(zoom - 1.0) / 2.0, (zoom - 1.0) / 2.0, size=2)
            width = base.raster_line_width * float(
                rng.uniform(1.0 - picture.line_width_jitter, 1.0 + picture.line_width_jitter)
            )
            transform = picture_transform(
                augmented, base.raster_size, base.raster_padding, zoom, shift
            )
            pixels = render_strokes(
                augmented, size=base.raster_size, line_width=width, invert=True, transform=transform
            )
            item["image"] = torch.from_numpy(pixels.astype(np.float32) / 255.0)[None]  # (1, H, W)
        return item

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        epoch, _ = divmod(int(position), len(self.base))
        index, sketch = self.base.sketch_at(position)
        item: dict[str, torch.Tensor] = {"index": torch.tensor(index, dtype=torch.int64)}
        if self.base.with_labels:
            item["label"] = torch.tensor(self.base.store.label(index), dtype=torch.int64)
        for copy, suffix in ((0, "a"), (1, "b")):
            rng = np.random.default_rng([self.seed, epoch, index, copy])
            for key, value in self.copy_of(sketch, rng).items():
                item[f"{key}_{suffix}"] = value
        return item


def pair_augmentation_from_data(data: Mapping[str, Any]) -> PairAugmentation:
    """The :class:`PairAugmentation` a run config's data section sets (``pair_*`` keys)."""
    defaults = PairAugmentation()
    values = {
        name: float(data.get(f"pair_{name}", getattr(defaults, name)))
        for name in PairAugmentation.__dataclass_fields__
    }
    return PairAugmentation(**values)


def views_without_pairs(views: Sequence[str]) -> tuple[str, ...]:
    """``views`` minus the pair view (what the wrapped SketchDataset builds)."""
    rest = tuple(view for view in views if view != PAIR_VIEW)
    if len(rest) != len(tuple(views)) and not rest:
        raise ConfigError(
            "the pairs view augments other views: name them beside it, e.g. "
            "data.views=[raster,pairs] or [sequence,pairs]"
        )
    return rest


def with_pair_view(base: Any, data: Mapping[str, Any], *, seed: int = 0) -> Any:
    """``base`` wrapped in :class:`PairViewDataset` when ``data["views"]`` names ``pairs``."""
    if PAIR_VIEW not in tuple(data.get("views", ())):
        return base
    return PairViewDataset(base, pair_augmentation_from_data(data), seed=seed)
