"""Healing inputs: a sketch as a large canvas, patch centres along its strokes, patch masking.

The patch procedure of SketchHealer as SP-gra2seq and Lmser-pix2seq use it:

- [0] Zang, Tu, Xu, "Self-Organizing a Latent Hierarchy of Sketch Patterns for Controllable
  Sketch Synthesis" (SP-gra2seq), AAAI 2023, https://arxiv.org/abs/2211.16841; reference code
  CMACH508/SP-gra2seq ``utils.py`` (``make_graph_``, ``scale_sketch``, ``canvas_size_google``).
- [1] Su, Qi, Pang, Yang, Song, "SketchHealer", AAAI 2020 (sgybupt/SketchHealer), where the
  cropping comes from.
- [2] Li, Zang, Tu, Xu, "Lmser-pix2seq", CVIU 2024 (CMACH508/Lmser-pix2seq): the same canvas
  with 128-px patches.

Procedure (:func:`make_patch_graph`):

1. Scale the sketch so the larger side of its bounding box is ``canvas_scale`` (640) px, place
   it ``margin`` (= line width + 1 = 17) px from the top-left corner of a square canvas of side
   ``canvas_scale + 2 * margin`` and draw it white on black, ``line_width`` 16 (= int(640 *
   0.025)). Then pad the canvas with a black border of ``int(1.5 * patch_size)``.
2. Patch centres (:func:`patch_centres`): walk the stroke-3 rows; the row that moves the pen to
   a new stroke is skipped; of the other rows, every ``point_stride``-th (4th) of a stroke,
   counted from its first, puts a centre at the point the row starts from. So the first point
   of every stroke is a centre, then every 4th point. After ``max_patches`` (20) candidates the
   walk stops; a candidate whose window leaves the padded canvas keeps its slot, empty.
3. Masking (:func:`mask_canvas`), before any crop: slot ``k`` is masked when its uniform
   ``u_k < mask_prob``, by zeroing its ``patch_size`` square on the canvas. Only then are the
   patches cropped (:func:`crop_patches`), so a masked square is black in every overlapping
   neighbour as well: no pixel leaks (the leak of SketchHealer's interleaved mask-and-crop,
   METHODS.md section 3).
4. Node 0 is the whole masked canvas (without the border) resized to ``patch_size``; nodes
   ``1 .. max_patches`` are the patches in slot order. Pixels map to ``[-1, 1]`` (background -1).

A drawing can also be put on another sketch's canvas (:func:`layout_on`, ``make_patch_graph``'s
``canvas_of``): that sketch's scale, place and patch slots, the drawing's first point at a given
place in its frame. The healing evaluation uses this to show a patch healer the point-deleted
sketch exactly where the original lay, and to read a healed drawing on the canvas it was given
(:mod:`sketchssl.eval.healing`, ``corruption="points"``).

The uniforms come from a mask table (:func:`make_mask_table`: one row of ``max_patches``
uniforms per sketch, from a fixed seed, saved as ``.npy``), so a test set is corrupted the same
way every time and for every method; or from a ``numpy`` generator in training.

Deliberate differences from the TensorFlow code: the bounding box covers every point (SP-gra2seq
leaves out the first two points, which can then fall off the canvas), coordinates stay floats
until the centres are rounded (SP-gra2seq truncates every scaled offset to int16, so errors
accumulate along a sketch), lines are anti-aliased with round joins (OpenCV ``cv2.line`` is not
anti-aliased there), and node 0 is resized with Pillow's anti-aliased bilinear filter.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sketchssl.data.formats import stroke3_to_absolute, validate_stroke3
from sketchssl.errors import SketchFileError, SketchFormatError
from sketchssl.render.raster import CanvasTransform, render_strokes

__all__ = [
    "PatchConfig",
    "PatchGraph",
    "CanvasLayout",
    "canvas_layout",
    "layout_on",
    "render_patch_canvas",
    "patch_centres",
    "mask_canvas",
    "crop_patches",
    "make_patch_graph",
    "make_mask_table",
    "save_mask_table",
    "load_mask_table",
]


@dataclass(frozen=True)
class PatchConfig:
    """Canvas and patch geometry; defaults are SP-gra2seq's.

    Attributes:
        patch_size: side of each patch and of node 0 (SP-gra2seq 256, Lmser-pix2seq 128).
        max_patches: patch slots (SP-gra2seq ``graph_number - 1`` = 20).
        canvas_scale: larger side of the scaled sketch in pixels (640).
        line_width: stroke width in pixels (``int(640 * 0.025)`` = 16).
        point_stride: a centre every this many points of a stroke (4).
        border: black border around the canvas; None = ``int(1.5 * patch_size)`` (SP-gra2seq;
            the Lmser-pix2seq code uses twice that).
    """

    patch_size: int = 256
    max_patches: int = 20
    canvas_scale: float = 640.0
    line_width: float = 16.0
    point_stride: int = 4
    border: int | None = None

    def __post_init__(self) -> None:
        if self.patch_size < 2 or self.patch_size % 2:
            raise SketchFormatError(
                f"patch_size must be an even number >= 2, got {self.patch_size}"
            )
        for key in ("max_patches", "point_stride"):
            if getattr(self, key) < 1:
                raise SketchFormatError(f"{key} must be at least 1, got {getattr(self, key)}")
        if not self.canvas_scale > 0 or not self.line_width > 0:
            raise SketchFormatError("canvas_scale and line_width must be positive")
        if self.border is not None and self.border < 0:
            raise SketchFormatError(f"border must be >= 0, got {self.border}")

    @property
    def margin(self) -> int:
        """Gap between the sketch's bounding box and the canvas edge: line width + 1 (17)."""
        return int(self.line_width) + 1

    @property
    def border_size(self) -> int:
        """The border actually used."""
        return int(1.5 * self.patch_size) if self.border is None else int(self.border)


@dataclass(frozen=True)
class CanvasLayout:
    """Where a sketch lands on the padded canvas.

    Attributes:
        points: ``(N + 1, 3)`` float64 ``(x, y, pen_lifted)`` of every point in padded-canvas
            pixel coordinates (:func:`sketchssl.data.formats.stroke3_to_absolute` order).
        canvas_side: side of the canvas before the border.
        border: border width on each side.
        transform: sketch -> canvas (before the border) pixel transform.
    """

    points: np.ndarray
    canvas_side: int
    border: int
    transform: CanvasTransform

    @property
    def padded_side(self) -> int:
        """Side of the padded canvas."""
        return self.canvas_side + 2 * self.border


@dataclass
class PatchGraph:
    """The nodes of one (possibly masked) sketch.

    Attributes:
        nodes: ``(1 + max_patches, P, P)`` float32 in ``[-1, 1]``: node 0 the masked canvas,
            then one patch per slot (``-1`` everywhere for an empty slot).
        centres: ``(K, 2)`` int64 ``(x, y)`` of the ``K <= max_patches`` candidate centres in
            padded-canvas pixels, in slot order.
        valid: ``(max_patches,)`` bool: the slot holds a patch.
        masked: ``(max_patches,)`` bool: the slot's square was blacked out.
        original: ``(P, P)`` float32 node 0 of the unmasked sketch (Lmser-pix2seq's
            reconstruction target), when asked for.
    """

    nodes: np.ndarray
    centres: np.ndarray
    valid: np.ndarray
    masked: np.ndarray
    original: np.ndarray | None = None

    @property
    def num_slots(self) -> int:
        """``K``, the candidates found (SP-gra2seq's ``graph_count``)."""
        return len(self.centres)


def canvas_layout(sketch: np.ndarray, config: PatchConfig | None = None) -> CanvasLayout:
    """Scale and place ``sketch`` as step 1 of the module docstring says."""
    config = config or PatchConfig()
    sketch = validate_stroke3(sketch)
    points = stroke3_to_absolute(sketch)  # (N + 1, 3)
    low = points[:, :2].min(axis=0)
    extent = float((points[:, :2].max(axis=0) - low).max())
    scale = config.canvas_scale / extent if extent > 0 else 1.0
    margin = config.margin
    side = int(round(config.canvas_scale)) + 2 * margin
    transform = CanvasTransform(
        scale_x=scale,
        scale_y=scale,
        offset_x=margin - low[0] * scale,
        offset_y=margin - low[1] * scale,
    )
    border = config.border_size
    placed = points.copy()
    placed[:, :2] = transform.apply(points[:, :2]) + border
    return CanvasLayout(placed, side, border, transform)


def layout_on(
    canvas_of: np.ndarray,
    sketch: np.ndarray,
    start: np.ndarray | tuple[float, float] = (0.0, 0.0),
    config: PatchConfig | None = None,
) -> CanvasLayout:
    """Where ``sketch`` lands on the canvas of ``canvas_of``: that sketch's scale and place.

    Args:
        canvas_of: ``(M, 3)`` stroke-3, the sketch whose canvas this is (its bounding box sets
            the scale and the place, as :func:`canvas_layout`).
        sketch: ``(N, 3)`` stroke-3 in the same units, drawn on it.
        start: where the first point of ``sketch`` (its origin) lies in the frame of
            ``canvas_of`` (whose first point is ``(0, 0)``).
        config: geometry.

    Returns:
        The :class:`CanvasLayout` of ``sketch``; ``layout_on(s, s)`` is ``canvas_layout(s)``.
    """
    config = config or PatchConfig()
    host = canvas_layout(canvas_of, config).transform
    start = np.asarray(start, dtype=np.float64).reshape(2)
    transform = CanvasTransform(
        scale_x=host.scale_x,
        scale_y=host.scale_y,
        offset_x=host.offset_x + float(start[0]) * host.scale_x,
        offset_y=host.offset_y + float(start[1]) * host.scale_y,
    )
    border = config.border_size
    placed = stroke3_to_absolute(validate_stroke3(sketch))  # (N + 1, 3)
    placed[:, :2] = transform.apply(placed[:, :2]) + border
    side = int(round(config.canvas_scale)) + 2 * config.margin
    return CanvasLayout(placed, side, border, transform)


def render_patch_canvas(
    sketch: np.ndarray, config: PatchConfig | None = None, layout: CanvasLayout | None = None
) -> np.ndarray:
    """The padded canvas: uint8 ``(S, S)``, white (255) strokes on black."""
    config = config or PatchConfig()
    layout = layout or canvas_layout(sketch, config)
    inner = render_strokes(
        sketch,
        size=layout.canvas_side,
        line_width=config.line_width,
        invert=True,
        transform=layout.transform,
    )  # (side, side) uint8
    return np.pad(inner, layout.border)


def patch_centres(sketch: np.ndarray, config: PatchConfig | None = None) -> np.ndarray:
    """Candidate centres in slot order, ``(K, 2)`` int64 ``(x, y)`` padded-canvas pixels.

    The walk of step 2 of the module docstring (SP-gra2seq ``make_graph_``).
    """
    config = config or PatchConfig()
    sketch = validate_stroke3(sketch)
    layout = canvas_layout(sketch, config)
    centre_points = []
    count = 0
    moving = False  # the previous row lifted the pen: this row moves to a new stroke
    for row in range(len(sketch)):
        if moving:
            moving = False
            continue
        if count % config.point_stride == 0:
            if len(centre_points) >= config.max_patches:
                break
            centre_points.append(row)  # the row starts from point ``row``
        count += 1
        if sketch[row, 2] != 0:
            count = 0
            moving = True
    xy = layout.points[centre_points, :2] if centre_points else np.zeros((0, 2))
    return np.floor(xy + 0.5).astype(np.int64).reshape(-1, 2)


def _window(centre: np.ndarray, half: int, side: int) -> tuple[slice, slice] | None:
    """Row and column slices of the square around ``centre``; None if it leaves the canvas."""
    x, y = int(centre[0]), int(centre[1])
    if x - half < 0 or y - half < 0 or x + half > side or y + half > side:
        return None
    return slice(y - half, y + half), slice(x - half, x + half)


def mask_canvas(
    canvas: np.ndarray,
    centres: np.ndarray,
    uniforms: np.ndarray,
    mask_prob: float,
    patch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Black out the square of every slot whose uniform is below ``mask_prob``.

    Args:
        canvas: ``(S, S)`` uint8 padded canvas (not modified).
        centres: ``(K, 2)`` slot centres.
        uniforms: at least ``K`` values in ``[0, 1)``, one per slot in order (an empty slot
            consumes its value too, as in SP-gra2seq).
        mask_prob: probability that a slot is masked.
        patch_size: side of the blacked-out square.

    Returns:
        The masked copy of the canvas and ``(K,)`` bool: which slots were masked.
    """
    if len(uniforms) < len(centres):
        raise SketchFormatError(
            f"{len(centres)} patch slots need as many mask uniforms, got {len(uniforms)}; "
            "make the mask table with max_centres >= max_patches"
        )
    canvas = canvas.copy()
    masked = np.zeros(len(centres), dtype=bool)
    half = patch_size // 2
    for slot, centre in enumerate(centres):
        window = _window(centre, half, canvas.shape[0])
        if window is not None and uniforms[slot] < mask_prob:
            canvas[window] = 0
            masked[slot] = True
    return canvas, masked


def crop_patches(
    canvas: np.ndarray, centres: np.ndarray, patch_size: int, max_patches: int
) -> tuple[np.ndarray, np.ndarray]:
    """Crop each slot's square from ``canvas``.

    Returns:
        uint8 ``(max_patches, P, P)`` patches (zeros for empty slots) and ``(max_patches,)``
        bool ``valid``.
    """
    patches = np.zeros((max_patches, patch_size, patch_size), dtype=np.uint8)
    valid = np.zeros(max_patches, dtype=bool)
    half = patch_size // 2
    for slot, centre in enumerate(centres[:max_patches]):
        window = _window(centre, half, canvas.shape[0])
        if window is not None:
            patches[slot] = canvas[window]
            valid[slot] = True
    return patches, valid


def _to_unit_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]``."""
    return pixels.astype(np.float32) / 255.0 * 2.0 - 1.0


def _whole_canvas(canvas: np.ndarray, layout: CanvasLayout, patch_size: int) -> np.ndarray:
    """Node 0: the canvas without its border, resized to ``patch_size`` (uint8)."""
    border, side = layout.border, layout.canvas_side
    inner = canvas[border : border + side, border : border + side]
    resized = Image.fromarray(inner).resize((patch_size, patch_size), Image.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def make_patch_graph(
    sketch: np.ndarray,
    config: PatchConfig | None = None,
    *,
    mask_prob: float = 0.0,
    uniforms: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    with_original: bool = False,
    canvas_of: np.ndarray | None = None,
    start: np.ndarray | tuple[float, float] = (0.0, 0.0),
) -> PatchGraph:
    """Render, mask and crop one stroke-3 sketch (the whole module docstring).

    Args:
        sketch: ``(N, 3)`` stroke-3, any scale (it is rescaled to ``canvas_scale``).
        config: geometry.
        mask_prob: probability that a slot is masked (0, 0.1, 0.3, 0.5 in the papers).
        uniforms: this sketch's row of a mask table (test time: fixed corruption).
        rng: source of fresh uniforms when ``uniforms`` is None (training time).
        with_original: also return node 0 of the unmasked canvas.
        canvas_of: draw ``sketch`` on this sketch's canvas instead of its own: its scale,
            place and patch slots (:func:`layout_on`); ``uniforms`` are then its row.
        start: with ``canvas_of``, where the first point of ``sketch`` lies in its frame.

    Returns:
        The :class:`PatchGraph`.

    Examples:
        >>> square = np.array([[10, 0, 0], [0, 10, 0], [-10, 0, 0], [0, -10, 1]])
        >>> graph = make_patch_graph(square, PatchConfig(patch_size=64))
        >>> graph.nodes.shape, graph.num_slots, int(graph.valid.sum())
        ((21, 64, 64), 1, 1)
    """
    config = config or PatchConfig()
    if not 0.0 <= mask_prob <= 1.0:
        raise SketchFormatError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if canvas_of is None:
        layout = canvas_layout(sketch, config)
        centres = patch_centres(sketch, config)
    else:
        layout = layout_on(canvas_of, sketch, start, config)
        centres = patch_centres(canvas_of, config)
    canvas = render_patch_canvas(sketch, config, layout)
    if uniforms is None:
        if mask_prob > 0 and rng is None:
            raise SketchFormatError(
                "mask_prob > 0 needs uniforms (a mask-table row) or rng (a numpy Generator)"
            )
        uniforms = rng.random(len(centres)) if rng is not None else np.ones(len(centres))
    masked_canvas, masked_slots = mask_canvas(
        canvas, centres, np.asarray(uniforms), mask_prob, config.patch_size
    )
    patches, valid = crop_patches(masked_canvas, centres, config.patch_size, config.max_patches)
    nodes = np.empty((config.max_patches + 1, config.patch_size, config.patch_size), np.float32)
    nodes[0] = _to_unit_range(_whole_canvas(masked_canvas, layout, config.patch_size))
    nodes[1:] = _to_unit_range(patches)
    masked = np.zeros(config.max_patches, dtype=bool)
    masked[: len(masked_slots)] = masked_slots
    original = (
        _to_unit_range(_whole_canvas(canvas, layout, config.patch_size)) if with_original else None
    )
    return PatchGraph(nodes, centres, valid, masked, original)


def make_mask_table(num_sketches: int, max_centres: int = 20, seed: int = 0) -> np.ndarray:
    """``(num_sketches, max_centres)`` float64 uniforms in ``[0, 1)`` from ``seed``.

    Row ``i`` drives the masking of sketch ``i`` of an evaluation split, column ``k`` its slot
    ``k``; the same table gives the same corruption for every method and every run. A sketch
    masked at rate ``p`` has its slots ``{k : table[i, k] < p}`` masked, so the masks are nested:
    everything masked at 0.1 is masked at 0.3 too.
    """
    if num_sketches < 0 or max_centres < 1:
        raise SketchFormatError(
            f"a mask table needs num_sketches >= 0 and max_centres >= 1, got {num_sketches}, "
            f"{max_centres}"
        )
    return np.random.default_rng(seed).random((num_sketches, max_centres))


def save_mask_table(path: str | os.PathLike[str], table: np.ndarray) -> Path:
    """Write ``table`` as ``.npy`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, np.asarray(table, dtype=np.float64), allow_pickle=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_mask_table(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a table written by :func:`save_mask_table` (no pickled objects are accepted).

    Raises:
        SketchFileError: missing, unreadable, not 2-D or values outside ``[0, 1]``.
    """
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise SketchFileError(
            path, f"cannot read the mask table ({error}); make one with make_mask_table"
        ) from None
    if not isinstance(table, np.ndarray) or table.ndim != 2:
        raise SketchFileError(path, "a mask table must be a 2-D array (sketches x centres)")
    if table.size and not ((table >= 0).all() and (table <= 1).all()):
        raise SketchFileError(path, "mask table values must be uniforms in [0, 1]")
    return table.astype(np.float64, copy=False)
