"""Sketch data: stroke formats, readers and writers, the SketchStore, augmentations, doodles.

This layer imports only numpy and the standard library.
"""

from sketchssl.data.formats import (
    START_TOKEN,
    bbox_scale,
    bounding_box,
    clamp_offsets,
    filter_by_length,
    normalize_offsets,
    offset_scale_factor,
    polylines_to_stroke3,
    stroke3_to_absolute,
    stroke3_to_polylines,
    stroke3_to_stroke5,
    stroke5_to_stroke3,
    truncate_stroke3,
    validate_stroke3,
)

__all__ = [
    "START_TOKEN",
    "bbox_scale",
    "bounding_box",
    "clamp_offsets",
    "filter_by_length",
    "normalize_offsets",
    "offset_scale_factor",
    "polylines_to_stroke3",
    "stroke3_to_absolute",
    "stroke3_to_polylines",
    "stroke3_to_stroke5",
    "stroke5_to_stroke3",
    "truncate_stroke3",
    "validate_stroke3",
]
