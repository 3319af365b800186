"""SYNTHETIC hand-drawn-looking doodles: a procedural, labelled stand-in for QuickDraw.

Nothing here is human-drawn. These doodles exist so that tests, demos and smoke-training runs
have a labelled, multi-class sketch data set of any size without downloading anything. Every
record says so: its source is ``"doodles (synthetic)"``. Do not report results on them as
QuickDraw results.

Each class is a small program that draws the shape the way people tend to in "Quick, Draw!"
(Google's quickdraw-dataset): a square as one closed stroke, two L-shaped strokes or four
separate sides, starting at any corner in either direction; a house with its roof, door and
window in varied order; and so on. The hand-drawn look comes from

* a low-frequency wobble across each stroke (a few long sine waves along the arc length, not
  white noise), and a small misplacement of each stroke relative to the others;
* imperfect closure (closed shapes stop short or overshoot their start) and overshoot at corners;
* a small random rotation, aspect change and shear of the whole drawing.

Then the drawing goes through QuickDraw's own "simplified" preprocessing
(:func:`sketchssl.data.simplify.quickdraw_simplify`: shift to ``(0, 0)``, scale so the largest
coordinate is 255, resample at 1 px, Ramer-Douglas-Peucker at epsilon 2), and is stored as int16
stroke-3 with the first absolute point dropped, like the sketch-rnn ``.npz`` files.

Shapes are designed in a unit frame, about ``[-1, 1]`` on each axis, with y pointing down as in
QuickDraw. Numpy only; deterministic for a given generator.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sketchssl.data.formats import polylines_to_stroke3
from sketchssl.data.records import SketchRecord
from sketchssl.data.simplify import quickdraw_simplify, resample_polyline
from sketchssl.errors import ConfigError

__all__ = [
    "DOODLE_CLASSES",
    "DOODLE_SOURCE",
    "DoodleStyle",
    "doodle_polylines",
    "generate_doodle",
    "iter_doodle_records",
]

#: The ``source`` of every synthetic record, so no one mistakes them for QuickDraw drawings.
DOODLE_SOURCE = "doodles (synthetic)"

Polyline = np.ndarray  # (n, 2) points in the unit frame, y down


@dataclass(frozen=True)
class DoodleStyle:
    """How "hand-drawn" the synthetic doodles look. Lengths are in the unit frame (width ~2).

    Attributes:
        wobble: amplitude of the low-frequency wobble across each stroke.
        stroke_shift: standard deviation of the random misplacement of each stroke.
        max_rotation_degrees: the whole drawing is rotated by at most this much.
        aspect_jitter: the x axis is scaled by ``exp(U(-aspect_jitter, aspect_jitter))``.
        max_shear: the largest horizontal shear.
        step: spacing of the dense path the wobble is applied to.
    """

    wobble: float = 0.04
    stroke_shift: float = 0.02
    max_rotation_degrees: float = 8.0
    aspect_jitter: float = 0.15
    max_shear: float = 0.08
    step: float = 0.01


# ---------------------------------------------------------------------------------- helpers


def _path(*points: Sequence[float]) -> Polyline:
    return np.asarray(points, dtype=np.float64)


def _arc(
    centre: Sequence[float],
    radius_x: float,
    radius_y: float,
    start: float,
    sweep: float,
    samples: int = 120,
) -> Polyline:
    """Points on an ellipse from angle ``start`` through ``sweep`` radians (y down)."""
    angles = start + np.linspace(0.0, sweep, samples)
    return np.stack(
        [centre[0] + radius_x * np.cos(angles), centre[1] + radius_y * np.sin(angles)], axis=1
    )


def _extend(line: Polyline, start_by: float, end_by: float) -> Polyline:
    """Lengthen (positive) or shorten (negative) a two-point line at either end."""
    direction = line[-1] - line[0]
    length = float(np.hypot(*direction)) or 1.0
    unit = direction / length
    return _path(line[0] - unit * start_by, line[-1] + unit * end_by)


def _close_imperfectly(
    corners: Polyline, rng: np.random.Generator, short: float = 0.12, over: float = 0.15
) -> Polyline:
    """A closed polygon path whose last edge stops short of its start or overshoots it."""
    last_edge = corners[0] - corners[-1]
    fraction = 1.0 + rng.uniform(-short, over)
    return np.concatenate([corners, (corners[-1] + fraction * last_edge)[None]], axis=0)


def _polygon_strokes(corners: Polyline, rng: np.random.Generator) -> list[Polyline]:
    """Draw a polygon as one closed stroke, two open halves, or one stroke per edge."""
    count = len(corners)
    start = int(rng.integers(count))
    direction = 1 if rng.random() < 0.5 else -1
    ordered = corners[[(start + direction * i) % count for i in range(count)]]
    mode = rng.choice(3, p=[0.5, 0.2, 0.3])
    if mode == 0:
        return [_close_imperfectly(ordered, rng)]
    if mode == 1:
        # two open strokes from the same corner, one each way round, meeting roughly opposite
        split = count // 2
        first = ordered[: split + 1]
        second = np.concatenate([ordered[:1], ordered[split:][::-1]], axis=0)
        second[-1] += rng.normal(0.0, 0.04, size=2)
        return [first, second]
    edges = []
    for index in range(count):
        edge = _path(ordered[index], ordered[(index + 1) % count])
        if rng.random() < 0.3:
            edge = edge[::-1]
        edges.append(_extend(edge, rng.uniform(-0.03, 0.1), rng.uniform(-0.03, 0.12)))
    if rng.random() < 0.3:
        rng.shuffle(edges)
    return edges


def _jitter(points: Polyline, rng: np.random.Generator, scale: float) -> Polyline:
    return points + rng.normal(0.0, scale, size=points.shape)


# ---------------------------------------------------------------------------------- classes


def _circle(rng: np.random.Generator) -> list[Polyline]:
    start = rng.uniform(0.0, 2 * math.pi)
    direction = 1 if rng.random() < 0.6 else -1
    sweep = direction * (2 * math.pi + rng.uniform(-0.35, 0.5))
    circle = _arc((0.0, 0.0), 1.0, rng.uniform(0.85, 1.1), start, sweep, 160)
    circle *= (1.0 + rng.uniform(-0.08, 0.08) * np.linspace(0.0, 1.0, len(circle)))[:, None]
    if rng.random() < 0.12:  # two halves
        middle = len(circle) // 2 + int(rng.integers(-10, 10))
        return [circle[: middle + 4], circle[middle:]]
    return [circle]


def _square(rng: np.random.Generator) -> list[Polyline]:
    corners = _jitter(_path((-1, -1), (1, -1), (1, 1), (-1, 1)), rng, 0.05)
    return _polygon_strokes(corners, rng)


def _triangle(rng: np.random.Generator) -> list[Polyline]:
    corners = _path((rng.uniform(-0.2, 0.2), -1.0), (1.0, 0.85), (-1.0, 0.85))
    return _polygon_strokes(_jitter(corners, rng, 0.05), rng)


def _star(rng: np.random.Generator) -> list[Polyline]:
    base = -math.pi / 2 + rng.normal(0.0, 0.05)
    outer = np.array(
        [
            [math.cos(base + k * 2 * math.pi / 5), math.sin(base + k * 2 * math.pi / 5)]
            for k in range(5)
        ]
    )
    outer = _jitter(outer, rng, 0.04)
    first = int(rng.integers(5))
    direction = 1 if rng.random() < 0.5 else -1
    if rng.random() < 0.55:  # the pentagram, every second point, in one stroke
        order = [(first + direction * 2 * k) % 5 for k in range(5)]
        return [_close_imperfectly(outer[order], rng, short=0.08, over=0.1)]
    inner_radius = rng.uniform(0.38, 0.5)
    points = []
    for k in range(5):
        index = (first + direction * k) % 5
        angle = base + (index + 0.5 * direction) * 2 * math.pi / 5
        points.append(outer[index])
        points.append([inner_radius * math.cos(angle), inner_radius * math.sin(angle)])
    return [_close_imperfectly(np.asarray(points), rng, short=0.1, over=0.1)]


def _house(rng: np.random.Generator) -> list[Polyline]:
    top, width = rng.uniform(-0.15, 0.05), rng.uniform(0.65, 0.85)
    body = _polygon_strokes(
        _jitter(_path((-width, top), (width, top), (width, 1.0), (-width, 1.0)), rng, 0.03), rng
    )
    eave = width + rng.uniform(0.0, 0.2)
    roof_points = _jitter(
        _path((-eave, top), (rng.uniform(-0.1, 0.1), -1.0), (eave, top)), rng, 0.03
    )
    if rng.random() < 0.7:
        roof = [roof_points if rng.random() < 0.6 else roof_points[::-1]]
    else:
        roof = [roof_points[:2], roof_points[1:]]
    strokes = body + roof if rng.random() < 0.7 else roof + body
    extras = []
    door_side = 1 if rng.random() < 0.5 else -1
    if rng.random() < 0.8:
        centre = door_side * rng.uniform(0.0, 0.35)
        half, height = rng.uniform(0.12, 0.2), rng.uniform(0.35, 0.55)
        extras.append(
            _path(
                (centre - half, 1.0),
                (centre - half, 1.0 - height),
                (centre + half, 1.0 - height),
                (centre + half, 1.0),
            )
        )
    if rng.random() < 0.6:
        centre_x, centre_y = -door_side * rng.uniform(0.3, 0.45), top + rng.uniform(0.2, 0.35)
        half = rng.uniform(0.1, 0.16)
        window = _path(
            (centre_x - half, centre_y - half),
            (centre_x + half, centre_y - half),
            (centre_x + half, centre_y + half),
            (centre_x - half, centre_y + half),
        )
        extras.append(_close_imperfectly(window, rng, short=0.05, over=0.1))
        if rng.random() < 0.35:  # window bars
            extras.append(_path((centre_x, centre_y - half), (centre_x, centre_y + half)))
            extras.append(_path((centre_x - half, centre_y), (centre_x + half, centre_y)))
    if rng.random() < 0.5:
        extras.reverse()
    return strokes + extras


def _spiral(rng: np.random.Generator) -> list[Polyline]:
    turns = rng.uniform(2.2, 3.5)
    angles = np.linspace(0.0, 2 * math.pi * turns, 400)
    radius = 0.04 + 0.96 * angles / angles[-1]
    phase = rng.uniform(0.0, 2 * math.pi)
    direction = 1 if rng.random() < 0.5 else -1
    spiral = np.stack(
        [radius * np.cos(phase + direction * angles), radius * np.sin(phase + direction * angles)],
        axis=1,
    )
    return [spiral if rng.random() < 0.7 else spiral[::-1]]


def _zigzag(rng: np.random.Generator) -> list[Polyline]:
    peaks = int(rng.integers(4, 9))
    height = rng.uniform(0.3, 0.55)
    xs = np.linspace(-1.0, 1.0, 2 * peaks + 1)
    sign = 1 if rng.random() < 0.5 else -1
    ys = sign * height * np.where(np.arange(len(xs)) % 2 == 0, -0.5, 0.5)
    zigzag = _jitter(np.stack([xs, ys], axis=1), rng, 0.025)
    return [zigzag if rng.random() < 0.8 else zigzag[::-1]]


def _wave(rng: np.random.Generator) -> list[Polyline]:
    periods = rng.uniform(1.5, 3.0)
    height = rng.uniform(0.2, 0.35)
    phase = rng.choice([0.0, math.pi])
    xs = np.linspace(-1.0, 1.0, 200)
    count = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
    waves = []
    for row in range(count):
        offset = (row - (count - 1) / 2) * rng.uniform(0.45, 0.6)
        ys = offset + height * np.sin(phase + periods * math.pi * (xs + 1.0))
        wave = np.stack([xs + rng.normal(0.0, 0.04), ys], axis=1)
        waves.append(wave if rng.random() < 0.8 else wave[::-1])
    return waves


def _heart(rng: np.random.Generator) -> list[Polyline]:
    def point(angle: np.ndarray) -> Polyline:
        x = 16 * np.sin(angle) ** 3
        y_up = (
            13 * np.cos(angle) - 5 * np.cos(2 * angle) - 2 * np.cos(3 * angle) - np.cos(4 * angle)
        )
        return np.stack([x / 16.0, -y_up / 16.0], axis=1)

    if rng.random() < 0.55:  # one stroke from the top notch or the bottom tip, either way round
        direction = 1 if rng.random() < 0.5 else -1
        start = 0.0 if rng.random() < 0.7 else math.pi
        sweep = 2 * math.pi + rng.uniform(-0.25, 0.2)
        return [point(start + direction * np.linspace(0.0, sweep, 200))]
    left = point(np.linspace(0.0, -math.pi, 100))
    right = point(np.linspace(0.0, math.pi, 100))
    right[-1] += rng.normal(0.0, 0.04, size=2)
    return [left, right] if rng.random() < 0.5 else [right, left]


def _arrow(rng: np.random.Generator) -> list[Polyline]:
    tail, tip = _path(-1.0, rng.normal(0.0, 0.05)), _path(1.0, rng.normal(0.0, 0.05))
    length, half = rng.uniform(0.3, 0.45), rng.uniform(0.25, 0.4)
    upper = tip + _path(-length, -half) + rng.normal(0.0, 0.03, 2)
    lower = tip + _path(-length, half) + rng.normal(0.0, 0.03, 2)
    if rng.random() < 0.5:
        upper, lower = lower, upper
    shaft = _path(tail, tip)
    mode = rng.choice(3, p=[0.5, 0.3, 0.2])
    if mode == 0:
        strokes = [shaft, _path(upper, tip, lower)]
    elif mode == 1:
        strokes = [shaft, _path(tip, upper), _path(tip, lower)]
    else:  # one stroke: along the shaft, up one barb, back to the tip, down the other
        strokes = [_path(tail, tip, upper, tip + rng.normal(0.0, 0.02, 2), lower)]
    if rng.random() < 0.25:  # pointing left
        strokes = [stroke * _path(-1.0, 1.0) for stroke in strokes]
    return strokes


def _smiley(rng: np.random.Generator) -> list[Polyline]:
    face = _circle(rng)  # one stroke, sometimes two halves
    eyes = []
    for side in (-1, 1):
        centre = _path(side * rng.uniform(0.28, 0.42), rng.uniform(-0.45, -0.2))
        if rng.random() < 0.6:
            eye_height = rng.uniform(0.08, 0.14)
            eyes.append(_path(centre - (0, eye_height), centre + (0, eye_height)))
        else:
            eyes.append(_arc(centre, 0.09, 0.09, rng.uniform(0, 6.3), 2 * math.pi + 0.3, 30))
    if rng.random() < 0.5:
        eyes.reverse()
    spread = rng.uniform(0.35, 0.6)
    mouth = _arc(
        (0.0, rng.uniform(-0.05, 0.1)),
        rng.uniform(0.45, 0.6),
        rng.uniform(0.35, 0.5),
        spread,
        math.pi - 2 * spread,
        60,
    )
    features = eyes + [mouth if rng.random() < 0.5 else mouth[::-1]]
    if rng.random() < 0.25:  # a nose
        nose_top = _path(rng.normal(0.0, 0.04), rng.uniform(-0.2, -0.1))
        features.insert(2, _path(nose_top, nose_top + (rng.normal(0.0, 0.04), 0.2)))
    if rng.random() < 0.8:
        return face + features
    return features + face


def _cross(rng: np.random.Generator) -> list[Polyline]:
    level = rng.uniform(-0.25, 0.05)
    reach = rng.uniform(0.7, 1.0)
    if rng.random() < 0.2:  # the outline of a plus sign, one stroke
        arm = rng.uniform(0.22, 0.32)
        outline = _path(
            (-arm, -1),
            (arm, -1),
            (arm, level - arm),
            (reach, level - arm),
            (reach, level + arm),
            (arm, level + arm),
            (arm, 1),
            (-arm, 1),
            (-arm, level + arm),
            (-reach, level + arm),
            (-reach, level - arm),
            (-arm, level - arm),
        )
        start = int(rng.integers(len(outline)))
        return [_close_imperfectly(np.roll(outline, -start, axis=0), rng, 0.2, 0.2)]
    vertical = _path((rng.normal(0, 0.05), -1.0), (rng.normal(0, 0.05), 1.0))
    horizontal = _path((-reach, level), (reach, level + rng.normal(0, 0.05)))
    strokes = [
        vertical if rng.random() < 0.85 else vertical[::-1],
        horizontal if rng.random() < 0.8 else horizontal[::-1],
    ]
    return strokes if rng.random() < 0.6 else strokes[::-1]


def _cloud(rng: np.random.Generator) -> list[Polyline]:
    bumps = int(rng.integers(5, 9))
    start = rng.uniform(0.0, 2 * math.pi)
    angles = (
        start + (np.arange(bumps + 1) + rng.uniform(-0.2, 0.2, bumps + 1)) * 2 * math.pi / bumps
    )
    angles[-1] = angles[0] + 2 * math.pi + rng.uniform(-0.15, 0.2)  # imperfect closure
    anchors = np.stack([np.cos(angles), 0.55 * np.sin(angles)], axis=1)
    pieces = []
    for left, right in zip(anchors[:-1], anchors[1:], strict=True):
        chord = right - left
        outward = np.array([chord[1], -chord[0]])  # anchors go clockwise on screen
        middle = (left + right) / 2
        bulge = rng.uniform(0.35, 0.6) * (0.5 if middle[1] > 0.25 else 1.0)
        u = np.linspace(0.0, 1.0, 40)[:, None]
        pieces.append(left + u * chord + np.sin(math.pi * u) * bulge * outward)
    cloud = np.concatenate(pieces, axis=0)
    return [cloud if rng.random() < 0.6 else cloud[::-1]]


def _sun(rng: np.random.Generator) -> list[Polyline]:
    radius = rng.uniform(0.35, 0.5)
    circle = _arc(
        (0.0, 0.0),
        radius,
        radius * rng.uniform(0.9, 1.1),
        rng.uniform(0, 6.3),
        2 * math.pi + rng.uniform(-0.3, 0.4),
        100,
    )
    rays = []
    count = int(rng.integers(7, 13))
    start = rng.uniform(0.0, 2 * math.pi)
    direction = 1 if rng.random() < 0.6 else -1
    outward = rng.random() < 0.8
    for k in range(count):
        angle = start + direction * k * 2 * math.pi / count + rng.normal(0.0, 0.06)
        unit = _path(math.cos(angle), math.sin(angle))
        ray = _path(unit * (radius + rng.uniform(0.08, 0.16)), unit * rng.uniform(0.8, 1.0))
        rays.append(ray if outward else ray[::-1])
    return [circle] + rays if rng.random() < 0.85 else rays + [circle]


_GENERATORS: dict[str, Callable[[np.random.Generator], list[Polyline]]] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "house": _house,
    "spiral": _spiral,
    "zigzag": _zigzag,
    "heart": _heart,
    "arrow": _arrow,
    "smiley": _smiley,
    "cross": _cross,
    "wave": _wave,
    "cloud": _cloud,
    "sun": _sun,
}

#: The synthetic doodle classes, in label order.
DOODLE_CLASSES: tuple[str, ...] = tuple(_GENERATORS)


# ---------------------------------------------------------------------------------- drawing


def _wobble(line: Polyline, rng: np.random.Generator, style: DoodleStyle) -> Polyline:
    """Resample densely and push each point sideways by a smooth random function of arc length."""
    dense = resample_polyline(line, style.step) if len(line) > 1 else line
    if len(dense) < 3:
        return dense
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(dense, axis=0).T))])  # (n,)
    amplitude = style.wobble * min(1.0, arc[-1] / 0.6)  # short strokes wobble less
    sideways = np.zeros_like(arc)
    # three long waves carry the wobble; two shorter, weaker ones make lines less smooth
    for low, high, weight in (
        (0.5, 2.5, 0.45),
        (0.5, 2.5, 0.45),
        (0.5, 2.5, 0.45),
        (0.12, 0.35, 0.12),
        (0.12, 0.35, 0.12),
    ):
        wavelength = rng.uniform(low, high)
        phase = rng.uniform(0.0, 2 * math.pi)
        sideways += weight * rng.uniform(0.5, 1.0) * np.sin(2 * math.pi * arc / wavelength + phase)
    tangent = np.gradient(dense, axis=0)
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-12)[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    return dense + (amplitude * sideways)[:, None] * normal


def _transform(strokes: list[Polyline], rng: np.random.Generator, style: DoodleStyle) -> list:
    """Rotate, stretch and shear the whole drawing a little."""
    angle = math.radians(rng.uniform(-style.max_rotation_degrees, style.max_rotation_degrees))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    stretch = np.diag([math.exp(rng.uniform(-style.aspect_jitter, style.aspect_jitter)), 1.0])
    shear = np.array([[1.0, rng.uniform(-style.max_shear, style.max_shear)], [0.0, 1.0]])
    matrix = rotation @ stretch @ shear
    return [stroke @ matrix.T for stroke in strokes]


def doodle_polylines(
    class_name: str, rng: np.random.Generator, style: DoodleStyle | None = None
) -> list[np.ndarray]:
    """One synthetic doodle as strokes of absolute points in QuickDraw's simplified frame.

    Returns:
        One int64 ``(n_i, 2)`` array per stroke, coordinates in ``[0, 255]`` (the drawing's
        minimum at 0 and its largest extent 255 before simplification).
    """
    style = style if style is not None else DoodleStyle()
    generator = _GENERATORS.get(class_name)
    if generator is None:
        close = difflib.get_close_matches(str(class_name), DOODLE_CLASSES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown doodle class '{class_name}'.{hint} "
            f"The synthetic doodle classes are: {', '.join(DOODLE_CLASSES)}"
        )
    strokes = [np.asarray(stroke, dtype=np.float64) for stroke in generator(rng)]
    strokes = [_wobble(stroke, rng, style) for stroke in strokes]
    strokes = [stroke + rng.normal(0.0, style.stroke_shift, size=2) for stroke in strokes]
    return quickdraw_simplify(_transform(strokes, rng, style))


def generate_doodle(
    class_name: str, rng: np.random.Generator, style: DoodleStyle | None = None
) -> np.ndarray:
    """One SYNTHETIC doodle of ``class_name`` as int16 stroke-3 (first absolute point dropped).

    Args:
        class_name: one of :data:`DOODLE_CLASSES`.
        rng: all randomness comes from this generator, so equal generators give equal doodles.
        style: how wobbly and varied the drawing is; :class:`DoodleStyle` defaults when None.

    Returns:
        ``(N, 3)`` int16 stroke-3 ``(dx, dy, pen_lifted)``.

    Raises:
        ConfigError: an unknown class name (the message lists the classes).

    Examples:
        >>> sketch = generate_doodle("house", np.random.default_rng(0))
        >>> sketch.dtype, sketch.shape[1]
        (dtype('int16'), 3)
    """
    return polylines_to_stroke3(doodle_polylines(class_name, rng, style), dtype=np.int16)


def iter_doodle_records(
    per_class: int,
    seed: int = 0,
    *,
    classes: Sequence[str] | None = None,
    style: DoodleStyle | None = None,
) -> Iterator[SketchRecord]:
    """Yield ``per_class`` SYNTHETIC doodles of every class, round-robin over the classes.

    Doodle ``i`` of a class is drawn from a generator seeded with ``(seed, class id, i)``, so
    it does not depend on ``per_class`` or on which other classes are asked for.

    Args:
        per_class: how many doodles of each class.
        seed: the data set's seed.
        classes: a subset of :data:`DOODLE_CLASSES` (all of them when None).
        style: see :class:`DoodleStyle`.

    Yields:
        :class:`SketchRecord` with ``source = "doodles (synthetic)"``, ``label`` the class name,
        ``split = None``, ``key_id = None`` and ``index`` the running position in this stream.
    """
    if per_class < 0:
        raise ConfigError(f"per_class must be zero or more, got {per_class}")
    names = tuple(DOODLE_CLASSES if classes is None else classes)
    for name in names:
        if name not in _GENERATORS:
            doodle_polylines(name, np.random.default_rng(0))  # raises the helpful error
    position = 0
    for sample in range(per_class):
        for name in names:
            rng = np.random.default_rng([int(seed), DOODLE_CLASSES.index(name), sample])
            yield SketchRecord(
                strokes=generate_doodle(name, rng, style),
                label=name,
                split=None,
                key_id=None,
                source=DOODLE_SOURCE,
                index=position,
            )
            position += 1
