"""Train sequence healers on corrupted inputs: the encoder reads a patch-masked copy.

Healing (SP-gra2seq, Zang et al. 2023; SketchHealer, Su et al. 2020) asks a model to redraw a
whole sketch from a partly erased one. The patch-input healers train that way (their patches
are masked in training, ``data.patch_mask_prob``); a sequence healer (sketch-rnn, SketchGloc)
otherwise only ever encodes complete sketches, and meets its first erased one at test time.
With ``corrupted_sequence`` in ``data.views`` each training item also carries the sequence
view of a copy with the points inside randomly masked patch squares deleted
(:func:`~sketchssl.render.patch_view.corrupt_sequence`, the corruption the healing evaluation
applies, with the run's patch geometry), under ``input_strokes5`` / ``input_mask``: the
methods encode that copy and decode the original. The squares are drawn anew for every item
of every epoch (``data.sequence_mask_prob`` each), from ``(seed, position)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from sketchssl.errors import ConfigError
from sketchssl.render.patch_view import corrupt_sequence, patch_config_from_data
from sketchssl.render.patches import PatchConfig
from sketchssl.render.wrapped_dataset import WrappedDataset

__all__ = [
    "CORRUPTION_VIEW",
    "CorruptedSequenceDataset",
    "views_without_corruption",
    "with_corruption_view",
]

CORRUPTION_VIEW = "corrupted_sequence"


class CorruptedSequenceDataset(WrappedDataset):
    """Items of ``base`` plus ``input_strokes5`` / ``input_mask`` of a patch-masked copy.

    Args:
        base: a :class:`~sketchssl.render.views.SketchDataset` with the ``sequence`` view.
        mask_prob: probability of each patch square being masked.
        config: patch geometry.
        seed: item ``position`` draws its squares from ``(seed, position)``.
    """

    def __init__(
        self, base: Any, mask_prob: float, config: PatchConfig | None = None, seed: int = 0
    ) -> None:
        if not 0.0 <= mask_prob < 1.0:
            raise ConfigError(f"data.sequence_mask_prob must be in [0, 1), got {mask_prob}")
        if "sequence" not in base.views:
            raise ConfigError(
                "the corrupted_sequence view needs the sequence view beside it: "
                "data.views=[sequence,corrupted_sequence]"
            )
        self.base = base
        self.mask_prob = float(mask_prob)
        self.config = config or PatchConfig()
        self.seed = int(seed)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        index, sketch = self.base.sketch_at(position)
        item = self.base.item_from(index, sketch)
        rng = np.random.default_rng([self.seed, int(position)])
        uniforms = rng.random(self.config.max_patches)
        corrupted = corrupt_sequence(sketch, uniforms, self.mask_prob, self.config)
        copy = self.base.item_from(index, corrupted, views=("sequence",), annotations=False)
        item["input_strokes5"], item["input_mask"] = copy["strokes5"], copy["mask"]
        return item


def views_without_corruption(views: Sequence[str]) -> tuple[str, ...]:
    """``views`` minus the corruption view (what the wrapped SketchDataset builds)."""
    return tuple(view for view in views if view != CORRUPTION_VIEW)


def with_corruption_view(base: Any, data: Mapping[str, Any], *, seed: int = 0) -> Any:
    """``base`` wrapped in :class:`CorruptedSequenceDataset` when the views name it."""
    if CORRUPTION_VIEW not in tuple(data.get("views", ())):
        return base
    return CorruptedSequenceDataset(
        base,
        float(data.get("sequence_mask_prob", 0.0)),
        patch_config_from_data(data),
        seed=seed,
    )
