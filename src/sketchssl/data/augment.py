"""Per-sketch augmentations on stroke-3 arrays, and a seeded chain of them.

* :func:`random_scale` and :func:`drop_points` follow sketch-rnn's data augmentation (Ha & Eck,
  "A Neural Representation of Sketch Drawings", 2017; magenta ``sketch_rnn/utils.py``
  ``random_scale`` and ``augment_strokes``), which SP-gra2seq, SketchGloc and Lmser-pix2seq reuse.
* :func:`rotate90` and :func:`sine_deform` are the two pretext transforms of Xu et al., "Deep
  Self-Supervised Representation Learning for Free-Hand Sketch" (2020; reference code
  ``zzz1515151/self-supervised_learning_sketch``): rotation by multiples of 90 degrees and a
  separable monotone sine remap of the x and y axes.
* :func:`rotate` is a free-angle rotation.
* :func:`drop_strokes` removes whole strokes and :func:`keep_prefix` keeps the first part of the
  drawing (a partial sketch, as the game shows it before the player is done); with the others
  they are the stroke-space augmentations of the contrastive methods
  (:mod:`sketchssl.methods.contrastive`).

Every random function takes an explicit ``numpy.random.Generator`` so a caller decides where the
randomness comes from; :class:`SketchAugmenter` derives one generator per (seed, epoch, index), so
a sample is augmented the same way whichever DataLoader worker loads it. Numpy only.

Coordinates: QuickDraw's y axis points down (screen coordinates). The rotation formulas below
are written in the usual mathematical frame; on screen a positive angle turns clockwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_absolute, validate_stroke3
from sketchssl.errors import ConfigError

__all__ = [
    "Augmentation",
    "SketchAugmenter",
    "compose",
    "drop_points",
    "drop_strokes",
    "keep_prefix",
    "random_rotate",
    "random_scale",
    "random_sine_deform",
    "rotate",
    "rotate90",
    "sine_deform",
    "sine_remap",
]

#: A stroke-3 transform that draws its randomness from the given generator.
RandomTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _float_dtype(sketch: np.ndarray) -> np.dtype:
    """float64 stays float64; integers and smaller floats become float32."""
    return np.result_type(sketch.dtype, np.float32)


def random_scale(sketch: np.ndarray, rng: np.random.Generator, factor: float = 0.15) -> np.ndarray:
    """Stretch x and y by independent random factors, as sketch-rnn's ``random_scale``.

    x is multiplied by ``1 + U(-factor, factor)`` and y by an independently drawn factor of the
    same form. Scaling offsets scales the absolute drawing about its first point.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        rng: the source of randomness (two uniform draws: x factor, then y factor).
        factor: the largest relative change ``e``; sketch-rnn's default is 0.15.

    Returns:
        A float copy (float32, or float64 for float64 input) of shape ``(N, 3)``.
    """
    sketch = validate_stroke3(sketch)
    if not 0.0 <= factor < 1.0:
        raise ConfigError(f"random_scale factor must be in [0, 1), got {factor}")
    x_factor, y_factor = 1.0 + rng.uniform(-factor, factor, size=2)
    result = sketch.astype(_float_dtype(sketch), copy=True)
    result[:, 0] *= x_factor
    result[:, 1] *= y_factor
    return result


def drop_points(sketch: np.ndarray, rng: np.random.Generator, prob: float = 0.10) -> np.ndarray:
    """Randomly drop points inside strokes, as sketch-rnn's ``augment_strokes``.

    The points are walked in order with a counter of how far we are into the current run of
    pen-down points (reset to 0 at a point that ends a stroke and at the point after one, and
    counting dropped points too). A point is dropped when it and the last kept point are both
    pen-down, the counter exceeds 2 and a uniform draw is below ``prob``. Its offset is added to
    the last kept row, so the sketch's total displacement and the absolute position of every kept
    point from the dropped one onwards are unchanged. Points that end a stroke are never dropped,
    so every stroke still ends where it did, and the first three points of each stroke are kept.

    One uniform number is drawn per row (as in the reference), so the draws line up with it.

    Note: magenta's loop adds the dropped offset to the *previous kept* row (the list it appends
    is aliased), so in absolute terms the point that disappears is that earlier kept point, and
    the dropped row's position survives. We reproduce that exactly.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        rng: the source of randomness.
        prob: the drop probability for an eligible point; sketch-rnn's default is 0.10.

    Returns:
        ``(M, 3)`` stroke-3 with ``M <= N``, same dtype as the input.
    """
    sketch = validate_stroke3(sketch)
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"drop_points prob must be in [0, 1], got {prob}")
    draws = rng.random(len(sketch))  # (N,)
    # Sum merged offsets in a wide type so no int16 offset can wrap around.
    wide = np.float64 if np.issubdtype(sketch.dtype, np.floating) else np.int64
    kept_rows: list[np.ndarray] = []
    previous_pen = 1  # as if a stroke had just ended before the first point
    count = 0
    for row, draw in zip(sketch, draws, strict=True):
        pen = int(row[2])
        count = 0 if (pen == 1 or previous_pen == 1) else count + 1
        if pen == 0 and previous_pen == 0 and count > 2 and draw < prob:
            kept_rows[-1][0:2] += row[0:2]
        else:
            kept_rows.append(np.array(row, dtype=wide))
            previous_pen = pen
    return np.stack(kept_rows).astype(sketch.dtype, copy=False)


def drop_strokes(sketch: np.ndarray, rng: np.random.Generator, prob: float = 0.1) -> np.ndarray:
    """Remove whole strokes, each with probability ``prob``; at least one stroke stays.

    The kept strokes stay where they were in the drawing (their absolute points are unchanged
    up to the translation stroke-3 does not store): the pen simply moves from the end of one
    kept stroke to the start of the next. One uniform draw per stroke, in order; if every
    stroke would go, the one with the smallest draw stays.

    Returns:
        A float64 stroke-3 copy (fewer rows when strokes were dropped).
    """
    sketch = validate_stroke3(sketch)
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"drop_strokes prob must be in [0, 1], got {prob}")
    points = stroke3_to_absolute(sketch)  # (N + 1, 3): the origin, then one point per row
    ends = np.flatnonzero(points[:, 2] == 1)
    if len(ends) == 0 or ends[-1] != len(points) - 1:
        ends = np.append(ends, len(points) - 1)  # a last stroke left pen-down
    starts = np.concatenate([[0], ends[:-1] + 1])
    draws = rng.random(len(ends))  # (S,)
    keep = draws >= prob
    if not keep.any():
        keep[int(np.argmin(draws))] = True
    strokes = [
        points[start : end + 1, 0:2]
        for start, end, kept in zip(starts, ends, keep, strict=True)
        if kept
    ]
    if sum(len(stroke) for stroke in strokes) < 2:  # a lone single-point stroke: nothing to draw
        return np.asarray(sketch, dtype=np.float64).copy()
    return polylines_to_stroke3(strokes)


def keep_prefix(
    sketch: np.ndarray, rng: np.random.Generator, min_fraction: float = 0.6
) -> np.ndarray:
    """Keep the first part of the drawing: a partial sketch, as if the player stopped early.

    A fraction ``f ~ U(min_fraction, 1)`` of the rows is kept (at least one, rounded up); the
    last kept point ends its stroke.

    Returns:
        A float copy of the first rows (float32, or float64 for float64 input).
    """
    sketch = validate_stroke3(sketch)
    if not 0.0 < min_fraction <= 1.0:
        raise ConfigError(f"keep_prefix min_fraction must be in (0, 1], got {min_fraction}")
    fraction = float(rng.uniform(min_fraction, 1.0))
    count = max(1, math.ceil(fraction * len(sketch)))
    result = sketch[:count].astype(_float_dtype(sketch), copy=True)
    result[-1, 2] = 1
    return result


def rotate(sketch: np.ndarray, angle_degrees: float) -> np.ndarray:
    """Rotate a sketch by ``angle_degrees`` (counter-clockwise in a y-up frame).

    Every offset ``(dx, dy)`` becomes ``(dx cos a - dy sin a, dx sin a + dy cos a)``. Rotating
    the offsets rotates the absolute drawing about its first point; rotation about any other
    centre (the bounding-box centre, the canvas origin) differs from that only by a translation,
    which stroke-3 does not store. So the result is the same whichever centre one has in mind.

    Returns:
        A float copy (float32, or float64 for float64 input) of shape ``(N, 3)``.
    """
    sketch = validate_stroke3(sketch)
    angle = math.radians(angle_degrees)
    cosine, sine = math.cos(angle), math.sin(angle)
    offsets = sketch[:, 0:2].astype(np.float64)  # (N, 2)
    result = sketch.astype(_float_dtype(sketch), copy=True)
    result[:, 0] = offsets[:, 0] * cosine - offsets[:, 1] * sine
    result[:, 1] = offsets[:, 0] * sine + offsets[:, 1] * cosine
    return result


def random_rotate(
    sketch: np.ndarray, rng: np.random.Generator, max_degrees: float = 15.0
) -> np.ndarray:
    """Rotate by an angle drawn from ``U(-max_degrees, max_degrees)`` (see :func:`rotate`)."""
    return rotate(sketch, float(rng.uniform(-max_degrees, max_degrees)))


def rotate90(sketch: np.ndarray, k: int) -> np.ndarray:
    """Rotate by ``k`` quarter turns exactly (the rotation pretext task, labels ``k % 4``).

    One quarter turn maps ``(dx, dy)`` to ``(-dy, dx)``, the same direction as :func:`rotate`
    with 90 degrees. On absolute points in the unit box this is Xu et al.'s ``(x, y) -> (1 - y,
    x)`` up to the translation stroke-3 does not store. Integer input stays integer (no rounding
    happens); the pen column is unchanged.
    """
    sketch = validate_stroke3(sketch)
    result = np.array(sketch, copy=True)
    dx, dy = sketch[:, 0], sketch[:, 1]
    turns = int(k) % 4
    if turns == 1:
        result[:, 0], result[:, 1] = -dy, dx
    elif turns == 2:
        result[:, 0], result[:, 1] = -dx, -dy
    elif turns == 3:
        result[:, 0], result[:, 1] = dy, -dx
    return result


def sine_remap(values: np.ndarray, strength: float, a: float = 0.0, b: float = 1.0) -> np.ndarray:
    """Xu et al.'s 1-D remap ``f(x) = x + 0.5 λ x (sin(g) - sin(2b))``, ``g = (2b - 2a) x + 2a``.

    The end points are fixed for any ``a`` and ``b``: ``f(0) = 0``, and ``g(1) = 2b`` makes the
    bracket vanish, so ``f(1) = 1``. Monotone on ``[0, 1]`` (checked numerically in the tests,
    the minimum of ``f'`` on a fine grid):

    * ``λ = 2.1``: ``f'(0) = 1 - 1.05 sin 2 ≈ 0.045`` is the minimum; monotone, the start of
      the x axis is squeezed about 33 times relative to its steepest part.
    * ``λ = -4.1``: ``f'`` dips to about 0.0125 near ``x = 0.54``: still monotone, but only
      barely; the middle of the y axis is squeezed about 230 times relative to its ends.
      ``λ`` below about -4.152 folds the axis over (``f`` stops being monotone).

    Args:
        values: coordinates already normalised to ``[0, 1]``.
        strength: ``λ``.
        a: the phase start (0 in the paper).
        b: the phase end (1 in the paper).
    """
    values = np.asarray(values, dtype=np.float64)
    phase = (2.0 * b - 2.0 * a) * values + 2.0 * a
    return values + 0.5 * strength * values * (np.sin(phase) - math.sin(2.0 * b))


def sine_deform(
    sketch: np.ndarray,
    lambda_x: float = 2.1,
    lambda_y: float = -4.1,
    a: float = 0.0,
    b: float = 1.0,
    *,
    unit_box: bool = False,
) -> np.ndarray:
    """The deformation pretext transform of Xu et al. applied to a stroke-3 sketch.

    The absolute points (the implicit first point included) are normalised per axis to ``[0, 1]``
    by the bounding box, each axis is remapped with :func:`sine_remap` (``λx`` on x, ``λy`` on y;
    the paper uses 2.1 and -4.1 with ``a = 0``, ``b = 1``), and the points are mapped back to the
    original bounding box, so the drawing keeps its size and only its interior is warped. An axis
    of zero extent (a straight horizontal or vertical line) is left as it is.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        lambda_x: ``λ`` for the x axis.
        lambda_y: ``λ`` for the y axis.
        a: phase start of :func:`sine_remap`.
        b: phase end of :func:`sine_remap`.
        unit_box: return offsets in the normalised frame (the deformed drawing spans ``[0, 1]``
            on each axis of non-zero extent) instead of mapping back to the original size.

    Returns:
        float64 ``(N, 3)`` stroke-3 with the same pen column.
    """
    sketch = validate_stroke3(sketch)
    points = stroke3_to_absolute(sketch)[:, 0:2]  # (N + 1, 2), row 0 is the implicit start
    low = points.min(axis=0)
    extent = points.max(axis=0) - low
    warped = points.copy()
    for axis, strength in ((0, lambda_x), (1, lambda_y)):
        if extent[axis] <= 0:
            continue
        unit = (points[:, axis] - low[axis]) / extent[axis]
        remapped = sine_remap(unit, strength, a, b)
        warped[:, axis] = remapped if unit_box else low[axis] + remapped * extent[axis]
    result = np.zeros(sketch.shape, dtype=np.float64)
    result[:, 0:2] = np.diff(warped, axis=0)
    result[:, 2] = sketch[:, 2]
    return result


def random_sine_deform(
    sketch: np.ndarray,
    rng: np.random.Generator,
    min_strength: float = 1.0,
    max_squeeze: float = 4.1,
    max_stretch: float = 2.1,
) -> np.ndarray:
    """:func:`sine_deform` with a warp drawn from ``rng``: strength, axes and direction.

    The paper's task warps every sketch the same way (``λx = 2.1``, ``λy = -4.1``), so a
    network can tell warped from original by one local signature (the squeezed band in the
    middle of the y axis) without knowing anything of the drawing. Here each call draws:

    * which axes are warped: x only, y only or both (one chance in three each);
    * each warped axis' ``λ``, uniform over ``[-max_squeeze, -min_strength]`` and
      ``[min_strength, max_stretch]`` (both intervals keep :func:`sine_remap` monotone),
      with equal chance of either sign;
    * whether each axis is mirrored before the warp (and back after), which moves the
      squeezed part from one end of the axis to the other.

    Telling such a sketch from the original needs a prior of what drawings look like, which is
    the representation the deformation task is meant to teach. This departs from the paper;
    ``data.deformation: paper`` keeps its fixed warp.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        rng: the generator of this draw.
        min_strength: smallest ``|λ|`` (weaker warps are hard to tell from the original).
        max_squeeze: largest ``|λ|`` of a negative ``λ`` (at most 4.15, or the axis folds).
        max_stretch: largest positive ``λ`` (at most 2.2, or the axis folds).

    Returns:
        float64 ``(N, 3)`` stroke-3 with the same pen column and bounding-box size.

    Examples:
        >>> warped = random_sine_deform(np.array([[4, 0, 0], [0, 4, 0], [-4, 0, 1]]),
        ...                             np.random.default_rng(0))
        >>> warped.shape
        (3, 3)
    """
    if not 0 < min_strength <= min(max_squeeze, max_stretch):
        raise ConfigError(
            f"random warp: need 0 < min_strength <= max_squeeze, max_stretch, got "
            f"{min_strength}, {max_squeeze}, {max_stretch}"
        )
    if max_squeeze > 4.15 or max_stretch > 2.2:
        raise ConfigError(
            f"random warp: max_squeeze {max_squeeze} > 4.15 or max_stretch {max_stretch} > 2.2 "
            "folds the axis over (the remap stops being monotone)"
        )
    axes = (True, False), (False, True), (True, True)
    warp_x, warp_y = axes[int(rng.integers(3))]
    strengths = []
    for warped in (warp_x, warp_y):
        if not warped:
            strengths.append(0.0)
        elif rng.random() < 0.5:
            strengths.append(-float(rng.uniform(min_strength, max_squeeze)))
        else:
            strengths.append(float(rng.uniform(min_strength, max_stretch)))
    mirror = np.where(rng.random(2) < 0.5, -1.0, 1.0)  # (2,) per-axis sign of dx, dy
    flipped = np.asarray(sketch, dtype=np.float64).copy()
    flipped[:, 0:2] *= mirror
    warped = sine_deform(flipped, lambda_x=strengths[0], lambda_y=strengths[1])
    warped[:, 0:2] *= mirror
    return warped


class _Chain:
    """Transforms applied in order with one generator.

    A class rather than a closure so that DataLoader workers can pickle it under the ``spawn``
    start method (closures and lambdas do not pickle).
    """

    def __init__(self, transforms: tuple[RandomTransform, ...]) -> None:
        self.transforms = transforms

    def __call__(self, sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            sketch = transform(sketch, rng)
        return sketch


def compose(*transforms: RandomTransform) -> RandomTransform:
    """Chain transforms ``(sketch, rng) -> sketch``, applied left to right with one generator."""
    return _Chain(tuple(transforms))


@dataclass
class Augmentation:
    """Which training augmentations to apply; a value of 0 switches one off.

    The order is partial sketch, drop strokes, scale, rotate, drop points (sketch-rnn scales
    and then drops points).

    Attributes:
        scale_factor: :func:`random_scale` ``factor`` (sketch-rnn: 0.15).
        drop_prob: :func:`drop_points` ``prob`` (sketch-rnn: 0.10).
        max_rotation_degrees: :func:`random_rotate` range; 0 (off) by default.
        stroke_drop_prob: :func:`drop_strokes` ``prob``; 0 (off) by default.
        partial_min_fraction: :func:`keep_prefix` ``min_fraction``; 1 (off) by default.
    """

    scale_factor: float = 0.15
    drop_prob: float = 0.10
    max_rotation_degrees: float = 0.0
    stroke_drop_prob: float = 0.0
    partial_min_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.scale_factor < 1.0:
            raise ConfigError(
                f"augmentation scale_factor must be in [0, 1), got {self.scale_factor}"
            )
        if not 0.0 <= self.drop_prob <= 1.0:
            raise ConfigError(f"augmentation drop_prob must be in [0, 1], got {self.drop_prob}")
        if not 0.0 <= self.max_rotation_degrees <= 180.0:
            raise ConfigError(
                "augmentation max_rotation_degrees must be in [0, 180], "
                f"got {self.max_rotation_degrees}"
            )
        if not 0.0 <= self.stroke_drop_prob < 1.0:
            raise ConfigError(
                f"augmentation stroke_drop_prob must be in [0, 1), got {self.stroke_drop_prob}"
            )
        if not 0.0 < self.partial_min_fraction <= 1.0:
            raise ConfigError(
                "augmentation partial_min_fraction must be in (0, 1], "
                f"got {self.partial_min_fraction}"
            )

    def transforms(self) -> list[RandomTransform]:
        """The enabled transforms in the order they are applied."""
        chain: list[RandomTransform] = []
        if self.partial_min_fraction < 1.0:
            chain.append(partial(keep_prefix, min_fraction=self.partial_min_fraction))
        if self.stroke_drop_prob > 0:
            chain.append(partial(drop_strokes, prob=self.stroke_drop_prob))
        if self.scale_factor > 0:
            chain.append(partial(random_scale, factor=self.scale_factor))
        if self.max_rotation_degrees > 0:
            chain.append(partial(random_rotate, max_degrees=self.max_rotation_degrees))
        if self.drop_prob > 0:
            chain.append(partial(drop_points, prob=self.drop_prob))
        return chain


class SketchAugmenter:
    """Apply an :class:`Augmentation` chain with reproducible randomness.

    Calling with an ``index`` (the sample's position in the data set) derives the generator
    from ``(seed, epoch, index)``: the same sample gets the same augmentation in a given epoch
    whichever worker process loads it, and a different one in the next epoch (set
    :attr:`epoch`). Without an index, the augmenter's own generator (seeded once) is used.

    Examples:
        >>> augmenter = SketchAugmenter(Augmentation(scale_factor=0.1, drop_prob=0.0), seed=3)
        >>> sketch = np.array([[5, 0, 0], [0, 5, 1]], dtype=np.int16)
        >>> augmenter(sketch, index=7).shape
        (2, 3)
    """

    def __init__(self, config: Augmentation | None = None, seed: int = 0) -> None:
        self.config = config if config is not None else Augmentation()
        self.seed = int(seed)
        self.epoch = 0
        self._chain = compose(*self.config.transforms())
        self._rng = np.random.default_rng(self.seed)

    def generator_for(self, index: int, epoch: int | None = None) -> np.random.Generator:
        """The generator used for sample ``index`` in ``epoch`` (the current one when None)."""
        epoch = self.epoch if epoch is None else epoch
        return np.random.default_rng([self.seed, int(epoch), int(index)])

    def __call__(
        self, sketch: np.ndarray, index: int | None = None, epoch: int | None = None
    ) -> np.ndarray:
        """Augment one stroke-3 sketch; returns a float array (the input is not modified).

        Args:
            sketch: ``(N, 3)`` stroke-3.
            index: the sample's index; None draws from the augmenter's own generator.
            epoch: the epoch of this draw (default :attr:`epoch`); only used with ``index``.
        """
        rng = self._rng if index is None else self.generator_for(index, epoch)
        result = self._chain(np.asarray(sketch), rng)
        return np.array(result, dtype=_float_dtype(result), copy=True)
