"""Per-sample inputs of the rotation / deformation pretext tasks, built in DataLoader workers.

- [0] Xu, Song, Yin, Song, Wang, "Deep Self-Supervised Representation Learning for Free-Hand
  Sketch", IEEE TCSVT 2020, https://arxiv.org/abs/2002.00867; reference code
  https://github.com/zzz1515151/self-supervised_learning_sketch (``dataloader/``).

Where the transforms happen. Every transform is applied to the *strokes* (stroke-3), and only then
is the sketch encoded, so the image branch sees clean anti-aliased lines and never a resampled
image. Each sample yields all its transformed copies at once (4 rotations, or the original and
the warped sketch), as the reference does, together with the label of the transform applied to
each copy; the labels come from the same ``(label, transform)`` table that produced the copies.
This runs per sample in the DataLoader workers, in parallel with the network: rendering inside
the model's step would serialise it with the forward pass on the main process.

Views (names for :class:`sketchssl.render.views.SketchDataset`):

* ``points``: the TCN input of the untransformed sketch, ``(T, 4)`` (see :func:`sketch_points`).
* ``rotation_images`` / ``deformation_images``: ``(K, 1, H, W)`` renders of the K copies, ink = 1.
* ``rotation_points`` / ``deformation_points``: ``(K, T, 4)`` TCN inputs of the K copies.

Each pretext view ``V`` also yields ``V + "_labels"``, ``(K,)`` int64; copy 0 is always the
untransformed sketch (label 0), which is what the methods embed.

Transforms (:mod:`sketchssl.data.augment`): rotation label ``k`` is :func:`rotate90` by ``k``
quarter turns (on screen, y down, a quarter turn is clockwise; on the fitted points it is the
paper's ``(x, y) -> (1 - y, x)``). Deformation label 1 is :func:`sine_deform` with the paper's
``λx = 2.1``, ``λy = -4.1``, ``a = 0``, ``b = 1``, each axis remapped over its own extent. The
reference warps the TCN points in the shared ``/255`` frame instead; we use one warp for both
branches, so they learn the same task.

A departure, off by default: with ``data.deformation: random`` (:class:`RandomWarp`) label 1 is
a warp drawn per sketch and epoch (which axes, how strong, squeezing which end), so the task
cannot be solved by spotting one fixed local signature. On SPG20 the fixed warp leaves the CNN's
fc1 features below their random init on kNN; the drawn warp puts them well above it
(docs/RESULTS.md, "What was tried").

Point normalisation. The reference feeds the original points as ``coordinate / 255`` (QuickDraw's
simplified drawings are aligned to the origin, longest side 255) but centre-normalises the warped
copy; that difference alone gives the deformation label away. Here *every* copy is fitted the
same way: longest side spanning 0..255 of the 256 canvas, the box centred on the canvas, divided
by 255. A centred box maps onto itself under ``(x, y) -> (1 - y, x)``, so no copy's position
reveals its label either.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from sketchssl.data.augment import random_sine_deform, rotate90, sine_deform
from sketchssl.data.formats import stroke3_to_absolute, truncate_stroke3, validate_stroke3
from sketchssl.errors import ConfigError

__all__ = [
    "CANVAS_SIZE",
    "DEFORMATION",
    "DEFORMATIONS",
    "PRETEXT_VIEWS",
    "RandomWarp",
    "TASKS",
    "VIEWS",
    "build_view",
    "deform",
    "pretext_copies",
    "sketch_points",
    "task_transforms",
    "warp_for",
]

CANVAS_SIZE = 256  # the QuickDraw canvas the TCN coordinates live on
#: The paper's warp: ``λx``, ``λy``, ``a``, ``b``.
DEFORMATION = {"lambda_x": 2.1, "lambda_y": -4.1, "a": 0.0, "b": 1.0}
TASKS = ("rotation", "deformation")
#: ``data.deformation``: the paper's fixed warp, or one drawn per sketch (:class:`RandomWarp`).
DEFORMATIONS = ("paper", "random")
PRETEXT_VIEWS = tuple(f"{task}_{kind}" for task in TASKS for kind in ("images", "points"))
VIEWS = ("points", *PRETEXT_VIEWS)

Transform = Callable[[np.ndarray], np.ndarray]


def _identity(sketch: np.ndarray) -> np.ndarray:
    return sketch


def deform(sketch: np.ndarray) -> np.ndarray:
    """The paper's warp: :func:`~sketchssl.data.augment.sine_deform` with :data:`DEFORMATION`."""
    return sine_deform(sketch, **DEFORMATION)


class RandomWarp:
    """A sine warp drawn per sketch and epoch (:func:`~sketchssl.data.augment.random_sine_deform`).

    The generator of a draw comes from ``(seed, epoch, store index)``, as the training
    augmentation's does: every epoch warps a sketch anew, a resumed run warps it the same way,
    whichever worker loads it.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def transform_for(self, index: int, epoch: int) -> Transform:
        """The warp of store sketch ``index`` in ``epoch``: stroke-3 -> warped stroke-3."""
        rng = np.random.default_rng([self.seed, int(epoch), int(index), 0xDEF])
        return partial(random_sine_deform, rng=rng)


def warp_for(deformation: str, seed: int) -> RandomWarp | None:
    """The warp ``data.deformation`` names: None (``paper``) or a :class:`RandomWarp` (``random``).

    Raises:
        ConfigError: a name not in :data:`DEFORMATIONS`.
    """
    if deformation not in DEFORMATIONS:
        raise ConfigError(
            f"data.deformation {deformation!r}: choose one of {', '.join(DEFORMATIONS)}"
        )
    return RandomWarp(seed) if deformation == "random" else None


class _QuarterTurns:
    """``rotate90(sketch, k)`` as a picklable callable."""

    def __init__(self, turns: int) -> None:
        self.turns = turns

    def __call__(self, sketch: np.ndarray) -> np.ndarray:
        return rotate90(sketch, self.turns)


def task_transforms(task: str, warp: Transform | None = None) -> list[tuple[int, Transform]]:
    """``(label, transform)`` pairs of a pretext task, the untransformed copy (label 0) first.

    Args:
        task: one of :data:`TASKS`.
        warp: the deformation task's warp (default: the paper's, :func:`deform`).

    Raises:
        ConfigError: unknown task.
    """
    if task == "rotation":
        return [(0, _identity)] + [(turns, _QuarterTurns(turns)) for turns in (1, 2, 3)]
    if task == "deformation":
        return [(0, _identity), (1, deform if warp is None else warp)]
    raise ConfigError(f"unknown pretext task {task!r}: choose one of {', '.join(TASKS)}")


def sketch_points(sketch: np.ndarray, max_points: int = 100) -> np.ndarray:
    """The TCN input of a sketch: ``(max_points, 4)`` float32 rows ``(x, y, p1, p2)``.

    The absolute points (the implicit first point of stroke-3 included, then one per row) are
    cut to ``max_points`` (a cut sketch's last point ends its stroke), fitted into the
    ``256 x 256`` canvas (longest side spanning 0..255, box centred) and divided by 255. ``p2``
    is 1 where the pen lifts after the point, ``p1 = 1 - p2``; rows after the last point are
    all zero (``p1 == p2``, as the reference marks padding). A single point sits at the centre.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        max_points: rows of the result (100 in the paper); at least 2.

    Examples:
        >>> sketch_points(np.array([[10, 0, 0], [0, 5, 1]]), max_points=4)[:, :2].tolist()
        [[0.0, 0.25], [1.0, 0.25], [1.0, 0.75], [0.0, 0.0]]
    """
    if max_points < 2:
        raise ConfigError(f"the points view needs max_len of at least 2, got {max_points}")
    sketch = truncate_stroke3(validate_stroke3(sketch), max_points - 1)
    absolute = stroke3_to_absolute(sketch)  # (P, 3), P <= max_points
    corners = absolute[:, :2].min(axis=0), absolute[:, :2].max(axis=0)
    longest = float(np.max(corners[1] - corners[0]))
    scale = (CANVAS_SIZE - 1) / longest if longest > 0 else 1.0
    centre = (corners[0] + corners[1]) / 2.0
    canvas = (absolute[:, :2] - centre) * scale + (CANVAS_SIZE - 1) / 2.0  # (P, 2) in 0..255
    rows = np.zeros((max_points, 4), dtype=np.float32)
    count = len(absolute)
    rows[:count, :2] = canvas / (CANVAS_SIZE - 1)
    rows[:count, 2] = 1.0 - absolute[:, 2]
    rows[:count, 3] = absolute[:, 2]
    return rows


def _render_image(sketch: np.ndarray, size: int, line_width: float, padding: float) -> np.ndarray:
    from sketchssl.render.raster import render_strokes

    pixels = render_strokes(sketch, size=size, line_width=line_width, padding=padding, invert=True)
    return (pixels.astype(np.float32) / np.float32(255.0))[None]  # (1, H, W), ink = 1


def pretext_copies(
    sketch: np.ndarray,
    task: str,
    encode: Callable[[np.ndarray], np.ndarray],
    warp: Transform | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every transformed copy of ``sketch`` for ``task``, encoded, with its label.

    Args:
        sketch: ``(N, 3)`` stroke-3.
        task: ``"rotation"`` (4 copies) or ``"deformation"`` (2 copies).
        encode: stroke-3 -> array (a render, or :func:`sketch_points`).
        warp: the deformation warp (default: the paper's).

    Returns:
        ``(copies (K, ...), labels (K,) int64)``, copy ``i`` being ``encode(transform_i(sketch))``.
    """
    pairs = task_transforms(task, warp)
    copies = np.stack([encode(transform(sketch)) for _, transform in pairs])  # (K, ...)
    labels = np.array([label for label, _ in pairs], dtype=np.int64)  # (K,)
    return copies, labels


def build_view(
    view: str,
    sketch: np.ndarray,
    *,
    max_points: int,
    raster_size: int,
    raster_line_width: float,
    raster_padding: float,
    warp: Transform | None = None,
) -> dict[str, torch.Tensor]:
    """The item entries of one of :data:`VIEWS` for a prepared (clamped, cut) stroke-3 sketch.

    ``warp`` replaces the paper's deformation (a :class:`RandomWarp` draw).

    Returns:
        ``{"points": (T, 4)}`` for ``points``; ``{view: (K, ...), view + "_labels": (K,)}`` for a
        pretext view.
    """
    if view == "points":
        return {"points": torch.from_numpy(sketch_points(sketch, max_points))}
    if view not in PRETEXT_VIEWS:
        raise ConfigError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    task, kind = view.rsplit("_", 1)
    if kind == "points":
        # cut before transforming, so the warp sees exactly the drawing that is kept
        sketch = truncate_stroke3(validate_stroke3(sketch), max(1, max_points - 1))

        def encode(copy: np.ndarray) -> np.ndarray:
            return sketch_points(copy, max_points)
    else:

        def encode(copy: np.ndarray) -> np.ndarray:
            return _render_image(copy, raster_size, raster_line_width, raster_padding)

    copies, labels = pretext_copies(sketch, task, encode, warp)
    return {view: torch.from_numpy(copies), f"{view}_labels": torch.from_numpy(labels)}
