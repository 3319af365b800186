"""The views that wrap a dataset's items (training-time pairs, patches, corrupted copies).

Evaluation and the web demo embed plain sketches: :func:`plain_views` drops the wrapping views
a run's ``data.views`` may name and keeps those a :class:`~sketchssl.render.views.SketchDataset`
builds itself (the patch view stays: patch encoders read it, unmasked in evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence

from sketchssl.render.corruption_view import views_without_corruption
from sketchssl.render.pair_view import views_without_pairs
from sketchssl.render.patch_view import views_without_patches

__all__ = ["plain_views"]


def plain_views(views: Sequence[str]) -> tuple[str, ...]:
    """The views of the underlying SketchDataset: ``views`` without pairs, patches, corruption."""
    return views_without_patches(views_without_pairs(views_without_corruption(views)))
