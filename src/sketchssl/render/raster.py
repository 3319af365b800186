"""Anti-aliased CPU rasteriser for stroke-3 sketches, built on aggdraw (the AGG library).

Why aggdraw: measured in ``docs/ANCHORS.md`` section B4, it is anti-aliased, takes a float line
width, costs about 0.3 ms per QuickDraw sketch at 256 px and stays within 0.6/255 of cairo. The
cost is per Python call, not per pixel, so each stroke is one polyline call.

aggdraw draws butt caps and miter joins and does not let us change them. Sketch renderers (and
our torch rasteriser, :mod:`sketchssl.render.torch_raster`) use round caps and round joins, so
we add them: a filled disc of the line width at both ends of every stroke, and the polyline is
split at sharp corners (turns above 60 degrees, where a miter would stick out by more than 0.15
of the line width) with a disc at the split point. Single-point strokes become a disc.

Coordinates. Every renderer in :mod:`sketchssl.render` works in *pixel-index coordinates*: the
centre of the pixel in row ``i``, column ``j`` is the point ``(x, y) = (j, i)``, as in OpenCV and
PIL. ``y`` grows downward, like QuickDraw's own ``y`` and like image rows, so nothing is flipped.
A :class:`CanvasTransform` maps a sketch's absolute points (first point at the origin, see
:func:`sketchssl.data.formats.stroke3_to_absolute`) into these coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aggdraw
import numpy as np

from sketchssl.data.formats import stroke3_to_absolute, validate_stroke3
from sketchssl.errors import SketchFormatError

__all__ = [
    "CanvasTransform",
    "RasterConfig",
    "fit_transform",
    "sketch_canvas_points",
    "render_strokes",
    "render_batch",
]

#: Corners turning by more than this (degrees) are drawn round (split + disc); see module doc.
SHARP_TURN_DEGREES = 60.0

#: aggdraw's brush fills come out about a quarter pixel larger on every side than the polygon
#: given (a 10 x 10 square inks 110 px); lines drawn with a pen do not. Discs are shrunk by this.
_FILL_GROWTH = 0.25

# Unit polygon standing in for a disc: 16 sides, radius scaled so its area is that of the disc.
_DISC_SIDES = 16
_DISC_ANGLES = np.linspace(0.0, 2.0 * np.pi, _DISC_SIDES, endpoint=False)
_UNIT_DISC = np.stack([np.cos(_DISC_ANGLES), np.sin(_DISC_ANGLES)], axis=1) * np.sqrt(
    2.0 * np.pi / (_DISC_SIDES * np.sin(2.0 * np.pi / _DISC_SIDES))
)  # (16, 2)


@dataclass(frozen=True)
class CanvasTransform:
    """An axis-aligned map from sketch coordinates to pixel-index coordinates.

    ``x_pixel = x * scale_x + offset_x`` and ``y_pixel = y * scale_y + offset_y``.
    """

    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` points; returns a float64 array of the same shape."""
        points = np.asarray(points, dtype=np.float64)
        scale = np.array([self.scale_x, self.scale_y])
        offset = np.array([self.offset_x, self.offset_y])
        return points * scale + offset


def fit_transform(
    points: np.ndarray, size: int, padding: float = 0.05, *, keep_aspect: bool = True
) -> CanvasTransform:
    """The transform that fits the bounding box of ``points`` into a ``size`` x ``size`` canvas.

    The box is scaled to ``size * (1 - 2 * padding)`` and centred on the canvas centre
    ``((size - 1) / 2, (size - 1) / 2)``. With ``keep_aspect`` both axes share the scale of the
    longer side. A zero extent (one point, or a straight horizontal / vertical line) takes the
    other axis' scale, or 1 when both are zero, so nothing is divided by zero.

    Args:
        points: ``(P, 2)`` absolute points.
        size: canvas side in pixels.
        padding: fraction of the canvas left empty on each side.
        keep_aspect: one scale for both axes (True) or stretch each axis to fill the box.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    low = points.min(axis=0)
    high = points.max(axis=0)
    extent = high - low  # (2,)
    target = size * (1.0 - 2.0 * padding)
    if keep_aspect:
        longest = float(extent.max())
        scale_x = scale_y = target / longest if longest > 0 else 1.0
    else:
        scales = [target / float(e) if e > 0 else 0.0 for e in extent]
        fallback = max(scales) if max(scales) > 0 else 1.0
        scale_x, scale_y = (s if s > 0 else fallback for s in scales)
    centre = (low + high) / 2.0
    middle = (size - 1) / 2.0
    return CanvasTransform(
        scale_x=scale_x,
        scale_y=scale_y,
        offset_x=middle - centre[0] * scale_x,
        offset_y=middle - centre[1] * scale_y,
    )


@dataclass
class RasterConfig:
    """Options of :func:`render_strokes`, kept together for configs and data views.

    Attributes:
        size: canvas side in pixels.
        line_width: stroke width in pixels (float).
        padding: fraction of the canvas left empty on each side when fitting.
        fit: fit the sketch's bounding box into the canvas; False uses the absolute coordinates
            (first point at pixel (0, 0)) as pixel coordinates.
        keep_aspect: keep the sketch's aspect ratio when fitting.
        invert: white ink on black (what networks usually take) instead of black on white.
    """

    size: int = 256
    line_width: float = 2.0
    padding: float = 0.05
    fit: bool = True
    keep_aspect: bool = True
    invert: bool = False

    def __post_init__(self) -> None:
        if int(self.size) != self.size or self.size < 1:
            raise SketchFormatError(f"size must be a positive integer, got {self.size!r}")
        self.size = int(self.size)
        if not self.line_width > 0:
            raise SketchFormatError(f"line_width must be positive, got {self.line_width!r}")
        if not 0 <= self.padding < 0.5:
            raise SketchFormatError(f"padding must be in [0, 0.5), got {self.padding!r}")

    def render(self, sketch: np.ndarray, transform: CanvasTransform | None = None) -> np.ndarray:
        """Render one sketch with these options; see :func:`render_strokes`."""
        return _render(sketch, self, transform)

    def render_batch(self, sketches: Sequence[np.ndarray]) -> np.ndarray:
        """Render several sketches into a ``(B, size, size)`` uint8 array."""
        return _render_many(sketches, self)


def sketch_canvas_points(
    sketch: np.ndarray,
    size: int,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    transform: CanvasTransform | None = None,
) -> np.ndarray:
    """Absolute points of a stroke-3 sketch in pixel-index coordinates, with their pen flags.

    This is the placement both renderers share (the torch rasteriser calls it too), so a sketch
    lands on the same pixels whichever renderer draws it.

    Returns:
        float64 ``(N + 1, 3)`` rows ``(x_pixel, y_pixel, pen_lifted)``.
    """
    points = stroke3_to_absolute(sketch)  # (N + 1, 3)
    if transform is None:
        transform = (
            fit_transform(points[:, 0:2], size, padding, keep_aspect=keep_aspect)
            if fit
            else CanvasTransform()
        )
    points[:, 0:2] = transform.apply(points[:, 0:2])
    return points


def _split_strokes(points: np.ndarray) -> list[np.ndarray]:
    """Cut ``(P, 3)`` canvas points into strokes, and strokes at sharp corners.

    Returns ``(n, 2)`` pieces; consecutive pieces of one stroke share their split vertex.
    """
    xy = points[:, 0:2]
    ends = np.flatnonzero(points[:, 2] == 1)  # last point of each stroke
    stroke_end = np.zeros(len(points), dtype=bool)
    stroke_end[ends] = True
    stroke_end[-1] = True
    # A corner at point k needs k - 1, k, k + 1 in one stroke: k and k - 1 are not stroke ends.
    incoming = xy[1:-1] - xy[:-2]  # (P - 2, 2)
    outgoing = xy[2:] - xy[1:-1]
    dot = (incoming * outgoing).sum(axis=1)
    norms = np.linalg.norm(incoming, axis=1) * np.linalg.norm(outgoing, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = dot / norms
    sharp = cosine < np.cos(np.radians(SHARP_TURN_DEGREES))  # NaN (zero length) is not sharp
    corner = np.zeros(len(points), dtype=bool)
    corner[1:-1] = sharp & ~stroke_end[1:-1] & ~stroke_end[:-2]
    pieces = []
    start = 0
    for index in np.flatnonzero(stroke_end | corner):
        pieces.append(xy[start : index + 1])
        start = index if corner[index] else index + 1
    return pieces


def _render(
    sketch: np.ndarray, config: RasterConfig, transform: CanvasTransform | None
) -> np.ndarray:
    sketch = validate_stroke3(sketch)
    points = sketch_canvas_points(
        sketch,
        config.size,
        config.padding,
        fit=config.fit,
        keep_aspect=config.keep_aspect,
        transform=transform,
    )
    points[:, 0:2] += 0.5  # aggdraw: pixel j spans [j, j + 1), so its centre is j + 0.5
    ink, paper = (255, 0) if config.invert else (0, 255)
    canvas = aggdraw.Draw("L", (config.size, config.size), paper)
    pen = aggdraw.Pen(ink, float(config.line_width))
    brush = aggdraw.Brush(ink)
    disc = _UNIT_DISC * max(config.line_width / 2.0 - _FILL_GROWTH, 0.01)  # (16, 2)
    dots = []
    for piece in _split_strokes(points):
        if (piece != piece[0]).any():  # a stroke that moves; else it is a single dot
            canvas.line(piece.ravel().tolist(), pen)
            dots.append(piece[-1])
        dots.append(piece[0])
    for centre in dots:
        canvas.polygon((disc + centre).ravel().tolist(), brush)
    canvas.flush()
    image = np.frombuffer(canvas.tobytes(), dtype=np.uint8)
    return image.reshape(config.size, config.size).copy()


def _render_many(sketches: Sequence[np.ndarray], config: RasterConfig) -> np.ndarray:
    images = np.empty((len(sketches), config.size, config.size), dtype=np.uint8)  # (B, H, W)
    for index, sketch in enumerate(sketches):
        try:
            images[index] = _render(sketch, config, None)
        except SketchFormatError as error:
            raise SketchFormatError(f"sketch {index}: {error}") from None
    return images


def render_strokes(
    sketch: np.ndarray,
    size: int = 256,
    line_width: float = 2.0,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    invert: bool = False,
    transform: CanvasTransform | None = None,
) -> np.ndarray:
    """Render one stroke-3 sketch, anti-aliased, with round caps and joins.

    Args:
        sketch: ``(N, 3)`` stroke-3 (dx, dy, pen_lifted), ints or floats.
        size: canvas side in pixels.
        line_width: stroke width in pixels (a float: 1.5 is fine).
        padding: fraction of the canvas left empty on each side when fitting.
        fit: fit the bounding box into the canvas (see :func:`fit_transform`); False draws the
            absolute coordinates as pixel-index coordinates, first point at pixel (0, 0).
        keep_aspect: keep the aspect ratio when fitting.
        invert: white ink on black instead of the default black ink on white.
        transform: place the sketch exactly; overrides ``fit``, ``padding`` and ``keep_aspect``.

    Returns:
        uint8 ``(size, size)`` image.

    Raises:
        SketchFormatError: the sketch is not valid stroke-3, or an option is out of range.

    Examples:
        >>> import numpy as np
        >>> image = render_strokes(np.array([[10, 0, 0], [0, 10, 1]]), size=64)
        >>> image.shape, image.dtype, int(image.min()), int(image.max())
        ((64, 64), dtype('uint8'), 0, 255)
    """
    config = RasterConfig(size, line_width, padding, fit, keep_aspect, invert)
    return _render(sketch, config, transform)


def render_batch(
    sketches: Sequence[np.ndarray],
    size: int = 256,
    line_width: float = 2.0,
    padding: float = 0.05,
    *,
    fit: bool = True,
    keep_aspect: bool = True,
    invert: bool = False,
) -> np.ndarray:
    """Render several sketches (each fitted on its own) into a ``(B, size, size)`` uint8 array.

    Raises:
        SketchFormatError: a sketch is not valid stroke-3; the message names its index.
    """
    config = RasterConfig(size, line_width, padding, fit, keep_aspect, invert)
    return _render_many(sketches, config)
