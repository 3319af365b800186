"""Request drawings to stroke-3 and back, and a model's normalised output to drawing units.

Drawings arrive as QuickDraw ndjson strokes ``[[xs, ys], ...]`` in any integer frame (canvas
pixels). They are made into what the training data are: QuickDraw's *simplified* form (align to
``(0, 0)``, scale to a 255 box, resample at 1 px, RDP at 2 px;
:func:`sketchssl.data.simplify.quickdraw_simplify`), then stroke-3. Results go back as strokes of
absolute float points, placed at the input's first point so they overlay the simplified input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sketchssl.data.formats import (
    bounding_box,
    polylines_to_stroke3,
    stroke3_to_absolute,
    stroke3_to_polylines,
)
from sketchssl.data.simplify import quickdraw_simplify
from sketchssl.errors import SketchFormatError

__all__ = ["SimplifiedDrawing", "locate_part", "simplify_drawing", "to_strokes", "to_drawing_units"]


class SimplifiedDrawing:
    """A request drawing in QuickDraw's simplified form.

    Attributes:
        stroke3: ``(N, 3)`` int16 stroke-3 (offsets within +-255).
        start: ``(2,)`` absolute position of the first point (stroke-3 does not store it).
    """

    def __init__(self, stroke3: np.ndarray, start: np.ndarray) -> None:
        self.stroke3 = stroke3
        self.start = start

    @property
    def strokes(self) -> list[tuple[list[float], list[float]]]:
        """The simplified drawing as ``[[xs, ys], ...]``."""
        return to_strokes(self.stroke3, self.start)


def simplify_drawing(drawing: Sequence[Sequence[Sequence[int]]]) -> SimplifiedDrawing:
    """QuickDraw-simplified stroke-3 of ``[[xs, ys], ...]`` strokes.

    Raises:
        SketchFormatError: no points, or a single point in all (stroke-3 has no offset then).

    Examples:
        >>> line = simplify_drawing([[[0, 100, 200], [0, 0, 0]]])
        >>> line.stroke3.tolist(), line.start.tolist()
        ([[255, 0, 1]], [0.0, 0.0])
    """
    points = [np.stack([np.asarray(xs), np.asarray(ys)], axis=1) for xs, ys in drawing]
    strokes = quickdraw_simplify(points)  # int64 (m, 2) each, in [0, 255]
    if sum(len(stroke) for stroke in strokes) < 2:
        raise SketchFormatError("the drawing is a single point; draw at least a short line")
    rows = polylines_to_stroke3(strokes)  # (N, 3) float64, integer valued
    return SimplifiedDrawing(rows.astype(np.int16), strokes[0][0].astype(np.float64))


def to_strokes(
    stroke3: np.ndarray, start: Sequence[float] | np.ndarray = (0.0, 0.0), decimals: int = 2
) -> list[tuple[list[float], list[float]]]:
    """``[[xs, ys], ...]`` absolute strokes of a stroke-3 sketch whose first point is ``start``."""
    lines = stroke3_to_polylines(np.asarray(stroke3, dtype=np.float64), start)
    return [
        (np.round(line[:, 0], decimals).tolist(), np.round(line[:, 1], decimals).tolist())
        for line in lines
    ]


def to_drawing_units(
    normalised: np.ndarray,
    reference: np.ndarray,
    normalization: str,
    *,
    scale: float | None = None,
    bbox_factor: float = 10.0,
) -> np.ndarray:
    """Undo a dataset's offset normalisation (:meth:`SketchDataset.normalize`).

    Args:
        normalised: ``(N, 3)`` stroke-3 in the model's units.
        reference: the prepared input sketch; ``"bbox"`` normalisation divided by its extent.
        normalization: ``"std"``, ``"bbox"`` or ``"none"``.
        scale: the global scale of ``"std"``.
        bbox_factor: Sketch-BERT's ``max_scale_factor`` of ``"bbox"``.

    Returns:
        float32 ``(N, 3)`` stroke-3 in the input's units.

    Examples:
        >>> square = np.array([[4, 0, 0], [0, 2, 1]], dtype=np.int16)
        >>> to_drawing_units(np.array([[10.0, 0, 0], [0, 10.0, 1]]), square, "bbox").tolist()
        [[4.0, 0.0, 0.0], [0.0, 2.0, 1.0]]
    """
    result = np.array(normalised, dtype=np.float32)
    if normalization == "std":
        result[:, :2] *= float(scale)
    elif normalization == "bbox":
        min_x, min_y, max_x, max_y = bounding_box(reference)
        result[:, 0] *= (max_x - min_x or 1.0) / bbox_factor
        result[:, 1] *= (max_y - min_y or 1.0) / bbox_factor
    return result


def locate_part(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Where the first point of ``part`` lies in ``whole``'s frame (both stroke-3).

    ``part`` keeps a subset of ``whole``'s points (a corrupted sketch: points deleted, strokes
    split), and stroke-3 does not store its first point. The answer is the first point ``p`` of
    ``whole`` such that every point of ``part``, started at ``p``, is a point of ``whole``;
    ``(0, 0)`` (the same start) when none fits. Meant for display: a very short part of a
    repetitive drawing can fit at an earlier point too.

    Examples:
        >>> corner = np.array([[2, 0, 0], [0, 2, 1]])  # (0, 0) -> (2, 0) -> (2, 2)
        >>> locate_part(np.array([[0, 2, 1]]), corner).tolist()  # its first point deleted
        [2.0, 0.0]
    """
    whole_points = stroke3_to_absolute(np.asarray(whole, dtype=np.float64))[:, :2]  # (N + 1, 2)
    part_points = stroke3_to_absolute(np.asarray(part, dtype=np.float64))[:, :2]  # (M + 1, 2)
    present = {tuple(point) for point in np.round(whole_points, 3).tolist()}
    for candidate in whole_points:
        shifted = np.round(part_points + candidate, 3).tolist()
        if all(tuple(point) in present for point in shifted):
            return candidate.copy()
    return np.zeros(2, dtype=np.float64)
