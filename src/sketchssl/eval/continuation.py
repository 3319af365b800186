"""The healer's decoder, led through the kept strokes, draws on where the erasure cut them.

A fill made from the healer's *redrawing* (:mod:`sketchssl.eval.fill`, ``source="redraw"``)
is a new drawing of the whole shape, placed over the kept strokes by alignment: its parts
are where the healer would have drawn them, not where the user did (RESULTS.md, "Where a kept
fill's strokes go": the redrawing's fill, even put where the erased points were, is retrieved
less often than the erased input). sketch-rnn's decoder can also *complete* a drawing (Ha &
Eck, ICLR 2018, "Predicting different endings of incomplete sketches"): fed a drawing's first
points, it draws what comes next. Here it is fed every kept point of the corrupted input in
order, with the code of that input, and at the end of each kept stroke it is asked whether the
stroke went on:

1. The decoder reads ``S0`` and the kept points one by one (teacher forcing), the pen down
   inside a stroke.
2. At the last point of a kept stroke, the pen state it predicted for that point says whether
   it expected the pen to stay down. When ``P(pen down) > pen_threshold`` the stroke was
   probably cut: the point is fed with the pen down and the decoder samples on (temperature
   ``temperature``) until it lifts the pen, ends the sketch, runs ``max_steps`` points, or
   comes back to the kept strokes (within ``leave`` of the drawing's extent) after having left
   them, which is where the erased run rejoined them; a continuation that never leaves them
   stops after ``idle_steps``. With a ``bound`` it also stops where it would leave the kept
   strokes' bounding box (grown by ``bound`` of the extent on every side): what was erased from
   a drawing mostly lay inside what is left of it, and a decoder that drifts out of it is
   drawing another shape beside the user's.
3. The decoder then reads the continuation and goes on with the next kept point (its offset
   from where the continuation ended), so what it draws later knows what it drew before.

The continuations are in the input's own frame, so :func:`sketchssl.eval.fill.fill_erased`
keeps of them what lies away from the kept points (``radius``), without an alignment, and
puts and joins them as for a redrawing. Nothing here sees the original or the mask.

Decoders that read absolute positions (SketchGloc's) are fed and sampled in absolute
coordinates (the method's ``decoder_reads_absolute``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_polylines
from sketchssl.data.simplify import resample_polyline
from sketchssl.errors import ConfigError
from sketchssl.nn.decoder import START_POINT, MixtureDecoder
from sketchssl.nn.mixture import sample_mixture

__all__ = ["ContinueConfig", "continue_cut_strokes"]

_PEN_DOWN = (1.0, 0.0, 0.0)
_PEN_UP = (0.0, 1.0, 0.0)


@dataclass(frozen=True)
class ContinueConfig:
    """How the decoder draws on from the kept strokes.

    Attributes:
        pen_threshold: a kept stroke is continued when the decoder gave its last point a
            pen-down probability above this (1 continues nothing).
        temperature: sampling temperature of the continuations.
        max_steps: most points of one continuation.
        leave: a continuation has left the kept strokes when farther than ``leave * extent``
            from all of them (``extent``: the larger side of the input's bounding box), and
            stops when it comes back that near.
        idle_steps: a continuation that has not left the kept strokes after this many points
            stops (it is retracing them).
        bound: when set, a continuation stops before its first point outside the kept
            strokes' bounding box grown by ``bound * extent`` on every side; None: unbounded.
    """

    pen_threshold: float = 0.5
    temperature: float = 0.1
    max_steps: int = 60
    leave: float = 0.05
    idle_steps: int = 8
    bound: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.pen_threshold <= 1.0:
            raise ConfigError(f"continue pen_threshold {self.pen_threshold} must be in [0, 1]")
        if not self.temperature > 0:
            raise ConfigError(f"continue temperature {self.temperature} must be positive")
        if self.max_steps < 1 or self.idle_steps < 1:
            raise ConfigError(
                f"continue max_steps ({self.max_steps}) and idle_steps ({self.idle_steps}) must "
                "be >= 1"
            )
        if not 0.0 < self.leave < 1.0:
            raise ConfigError(f"continue leave {self.leave} must be in (0, 1): a share of extent")
        if self.bound is not None and not self.bound >= 0:
            raise ConfigError(
                f"continue bound {self.bound} must be >= 0 (a share of the extent) or None"
            )


def _row(
    point: np.ndarray,
    previous: np.ndarray,
    pen: tuple[float, ...],
    absolute: bool,
    device: torch.device,
) -> Tensor:
    """The decoder's input row ``(1, 5)`` for ``point`` reached from ``previous``."""
    xy = point if absolute else point - previous
    return torch.tensor([[float(xy[0]), float(xy[1]), *pen]], dtype=torch.float32, device=device)


@torch.no_grad()
def continue_cut_strokes(
    decoder: MixtureDecoder,
    z: Tensor,
    sketch: np.ndarray,
    config: ContinueConfig | None = None,
    *,
    absolute: bool = False,
    generator: torch.Generator | None = None,
) -> list[np.ndarray]:
    """The continuations of one corrupted sketch's kept strokes.

    Args:
        decoder: the healer's decoder, in eval mode.
        z: ``(Z,)`` the code of the corrupted sketch.
        sketch: ``(N, 3)`` the corrupted sketch as stroke-3 in the decoder's units (normalised).
        config: continuation settings.
        absolute: the decoder reads and draws absolute positions (SketchGloc).
        generator: random source of the samples.

    Returns:
        Polylines ``(n, 2)`` in the sketch's frame (its implicit first point at the origin),
        each starting at the kept point it continues; empty when nothing was continued.
    """
    config = config or ContinueConfig()
    lines = [line for line in stroke3_to_polylines(sketch) if len(line)]
    if not lines:
        return []
    kept = np.concatenate(lines)  # (K, 2)
    extent = float(np.ptp(kept, axis=0).max())
    if len(kept) < 2 or extent <= 0:
        return []
    dense = np.concatenate(
        [resample_polyline(line, 0.01 * extent) if len(line) > 1 else line for line in lines]
    )  # the kept strokes every 1 % of the extent, for the distance tests

    def near_kept(point: np.ndarray) -> bool:
        return float(np.sqrt(((dense - point) ** 2).sum(axis=1)).min()) <= config.leave * extent

    margin = np.inf if config.bound is None else config.bound * extent
    low, high = kept.min(axis=0) - margin, kept.max(axis=0) + margin  # (2,) each

    device = decoder.head.weight.device
    codes = z.reshape(1, -1).to(device)
    state = decoder.initial_state(codes)
    fed = torch.tensor([START_POINT], dtype=torch.float32, device=device)
    position = lines[0][0]  # the origin: S0 is the first point
    continuations: list[np.ndarray] = []
    for index, line in enumerate(lines):
        points = line[1:] if index == 0 else line
        for order, point in enumerate(points):
            raw, state = decoder.step(fed, codes, state)
            inside = order < len(points) - 1
            # the pen state the decoder predicted for a stroke's last point: did it go on?
            go_on = not inside and (
                float(torch.softmax(decoder.mixture(raw).pen_logits[0], dim=-1)[0])
                > config.pen_threshold
            )
            fed = _row(point, position, _PEN_DOWN if inside or go_on else _PEN_UP, absolute, device)
            position = point
            if not go_on:
                continue
            drawn = [point]
            left = False
            for step in range(config.max_steps):
                raw, state = decoder.step(fed, codes, state)
                sample = (
                    sample_mixture(decoder.mixture(raw), config.temperature, generator=generator)[0]
                    .cpu()
                    .numpy()
                )  # (5,)
                new = sample[:2].astype(np.float64) if absolute else position + sample[:2]
                if sample[4] > 0.5 or np.any((new < low) | (new > high)):
                    # the end of the sketch, or out of bounds: lift the pen where it is instead
                    fed = _row(position, position, _PEN_UP, absolute, device)
                    break
                near = near_kept(new)
                back = near and (left or step >= config.idle_steps)  # rejoined, or retracing
                left = left or not near
                stop = bool(sample[3] > 0.5) or back or step == config.max_steps - 1
                fed = _row(new, position, _PEN_UP if stop else _PEN_DOWN, absolute, device)
                position = new
                drawn.append(new)
                if stop:
                    break
            if len(drawn) > 1:
                continuations.append(np.asarray(drawn))
    return continuations


def continuation_drawings(
    decoder: MixtureDecoder,
    codes: Tensor,
    sketches: Sequence[np.ndarray],
    scale: float,
    config: ContinueConfig | None = None,
    *,
    absolute: bool = False,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each sketch's continuations as one stroke-3 drawing and where it starts, in raw units.

    Args:
        decoder: the healer's decoder (eval mode).
        codes: ``(N, Z)`` the corrupted sketches' codes.
        sketches: the corrupted sketches, stroke-3 in raw units.
        scale: raw units per decoder unit (the data's offset scale; 1 for none).
        config: continuation settings.
        absolute: the decoder reads absolute positions.
        seed: seeds the samples (one generator for the whole list).

    Returns:
        ``(stroke-3, start)`` per sketch (``start`` the drawing's first point in the sketch's
        frame), None where nothing was continued; for
        :func:`sketchssl.eval.fill.fill_erased`'s ``drawn_start``.
    """
    if len(codes) != len(sketches):
        raise ConfigError(
            f"continuation needs one code per sketch: {len(codes)} and {len(sketches)}"
        )
    generator = torch.Generator(device=decoder.head.weight.device).manual_seed(seed)
    results: list[tuple[np.ndarray, np.ndarray] | None] = []
    for code, sketch in zip(codes, sketches, strict=True):
        normalised = np.asarray(sketch, dtype=np.float64).copy()
        normalised[:, :2] /= scale
        lines = continue_cut_strokes(
            decoder, code, normalised, config, absolute=absolute, generator=generator
        )
        if not lines:
            results.append(None)
            continue
        raw_lines = [line * scale for line in lines]
        results.append((polylines_to_stroke3(raw_lines).astype(np.float32), raw_lines[0][0]))
    return results
