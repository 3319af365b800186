"""Figures of what a generative method draws.

Prior samples, reconstructions, latent interpolation, and corrupted / healed / original rows.

- [0] Ha, Eck, "A Neural Representation of Sketch Drawings", ICLR 2018 (sketch-rnn): unconditional
  samples from ``z ~ N(0, I)``, conditional reconstructions from the encoder's code, and latent
  interpolation (spherical, magenta's ``slerp``) between two sketches' codes.
- [1] SP-gra2seq (AAAI 2023): healing figures, masked input above the generated sketch.

Every function returns raw-unit stroke-3 sketches (``(N, 3)`` float32), ready for
:func:`sketchssl.render.grid.save_grid`; :func:`save_rows` lays named rows out one under another.
The method must implement ``generate`` (sketch-rnn: a batch, codes ``(B, Z)`` or a count) and
``embed``; :class:`~sketchssl.eval.healing.SketchCodec` converts between sketches and batches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sketchssl.data.formats import count_strokes
from sketchssl.data.store import SketchStore, distribution_summary
from sketchssl.errors import ConfigError
from sketchssl.eval.fill import FillConfig
from sketchssl.eval.healing import SketchCodec, corrupt_inputs, generate_sketches, kept_fills
from sketchssl.render.patch_view import mask_row
from sketchssl.render.patches import make_mask_table

__all__ = [
    "can_draw",
    "drawing_summary",
    "evenly_spaced",
    "healing_rows",
    "interpolation_strip",
    "prior_samples",
    "reconstruction_rows",
    "sample_figure",
    "save_rows",
    "set_pen_temperature",
    "slerp",
]


def _seed(method: Any, seed: int) -> None:
    method.eval()
    if hasattr(method, "generator"):
        method.generator = torch.Generator(device=method.device).manual_seed(seed)
    torch.manual_seed(seed)


def evenly_spaced(count: int, total: int) -> np.ndarray:
    """``min(count, total)`` positions spread evenly over ``0 .. total - 1``."""
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.linspace(0, total - 1, num=min(count, total)).round().astype(np.int64)


def _codec_and_sketches(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore,
    split: str,
    positions: Sequence[int] | None,
    count: int,
) -> tuple[SketchCodec, list[np.ndarray], np.ndarray]:
    codec = SketchCodec.for_method(method, run_config, store, split)
    total = len(codec.dataset)
    if total == 0:
        raise ConfigError(f"the {split!r} split of {store.path} is empty")
    chosen = evenly_spaced(count, total) if positions is None else np.asarray(positions)
    if len(chosen) and (chosen.min() < 0 or chosen.max() >= total):
        raise ConfigError(
            f"sketch positions {chosen.tolist()} are outside the {split!r} split (0 .. {total - 1})"
        )
    indices = codec.dataset.indices[chosen]
    sketches = [codec.dataset.prepare(store[int(index)]) for index in indices]
    return codec, sketches, chosen


@torch.no_grad()
def prior_samples(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore | None,
    count: int = 16,
    *,
    temperature: float = 1.0,
    max_len: int | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """``count`` unconditional samples, ``z ~ N(0, I)`` (sketch-rnn's ``generate(n)``).

    ``store`` gives the data scale (the train split's std) for raw units; None leaves the
    sketches in the model's normalised units (their shape is the same).
    """
    _seed(method, seed)
    drawn = method.generate(count, temperature=temperature, max_len=max_len)  # (B, T, 5)
    if store is None:
        from sketchssl.data.formats import stroke5_to_stroke3

        sketches = []
        for rows in drawn.cpu().numpy():
            sketch = stroke5_to_stroke3(rows)
            sketches.append(sketch if len(sketch) else np.array([[0.0, 0.0, 1.0]], np.float32))
        return sketches
    return SketchCodec.for_method(method, run_config, store, "train").to_raw(drawn)


def reconstruction_rows(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore,
    count: int = 8,
    *,
    split: str = "test",
    temperature: float = 0.24,
    greedy: bool = False,
    max_len: int | None = None,
    seed: int = 0,
) -> dict[str, list[np.ndarray]]:
    """``{"original": [...], "reconstruction": [...]}`` of ``count`` sketches of a split."""
    codec, sketches, _ = _codec_and_sketches(method, run_config, store, split, None, count)
    generated = generate_sketches(
        codec, sketches, temperature=temperature, greedy=greedy, max_len=max_len, seed=seed
    )
    return {"original": sketches, "reconstruction": generated}


def slerp(start: Tensor, end: Tensor, fraction: float) -> Tensor:
    """Spherical interpolation between two codes (linear when they are nearly parallel).

    Examples:
        >>> a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
        >>> [round(v, 4) for v in slerp(a, b, 0.5).tolist()]
        [0.7071, 0.7071]
    """
    cosine = torch.dot(start / start.norm(), end / end.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cosine)
    if float(torch.sin(omega).abs()) < 1e-6:
        return (1.0 - fraction) * start + fraction * end
    return (
        torch.sin((1.0 - fraction) * omega) * start + torch.sin(fraction * omega) * end
    ) / torch.sin(omega)


@torch.no_grad()
def interpolation_strip(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore,
    *,
    positions: tuple[int, int] | None = None,
    steps: int = 8,
    split: str = "test",
    temperature: float = 0.24,
    greedy: bool = False,
    max_len: int | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """Decode ``steps`` codes spherically interpolated between two sketches' codes ``mu``.

    Args:
        method: a generative method with ``embed`` (``mu``) and ``generate(codes, ...)``.
        run_config: its run configuration (data preprocessing).
        store: where the two sketches come from.
        positions: the two sketches' positions in the split; None = its first and last.
        steps: codes from the first sketch's (fraction 0) to the second's (fraction 1).
        split: which split.
        temperature: sampling temperature.
        greedy: most likely point at each step.
        max_len: most points per sketch (None: the method's own).
        seed: sampling seed.
    """
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps, got {steps}")
    codec, sketches, _ = _codec_and_sketches(
        method, run_config, store, split, list(positions) if positions else None, 2
    )
    if len(sketches) < 2:
        raise ConfigError(f"the {split!r} split of {store.path} has fewer than 2 sketches")
    batch = {key: value.to(method.device) for key, value in codec.batch(sketches[:2]).items()}
    codes = method.embed(batch)  # (2, Z): mu
    path = torch.stack(
        [slerp(codes[0], codes[1], float(f)) for f in np.linspace(0.0, 1.0, steps)]
    )  # (steps, Z)
    _seed(method, seed)
    drawn = method.generate(path, temperature=temperature, greedy=greedy, max_len=max_len)
    return codec.to_raw(drawn)


def healing_rows(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore,
    mask_prob: float,
    count: int = 8,
    *,
    mask_table: np.ndarray | None = None,
    split: str = "test",
    temperature: float = 0.24,
    greedy: bool = False,
    max_len: int | None = None,
    seed: int = 0,
    fill: FillConfig | None = None,
    decode_mean: bool | None = None,
    corruption: str = "canvas",
) -> dict[str, list[np.ndarray]]:
    """``{"corrupted": ..., "healed": ..., "original": ...}`` for ``count`` sketches of a split.

    With ``fill``, a row ``"input kept"`` comes before the originals: the corrupted input with
    its gaps filled (:func:`sketchssl.eval.healing.kept_fills`, from ``fill.source``).
    ``decode_mean`` chooses the code drawn from (:func:`sketchssl.eval.healing.code_options`).

    Row ``i`` of ``mask_table`` masks sketch ``i`` of the split (the table of
    :func:`sketchssl.eval.healing.evaluate_healing`; None makes one from ``seed``). The corrupted
    row shows the input as a stroke-3 drawing: for sequence methods exactly what they read, for
    patch methods the vector analogue of their masked canvas (points in masked squares deleted),
    which under ``corruption="points"`` is what they read
    (:data:`sketchssl.eval.healing.CORRUPTIONS`).
    """
    codec, sketches, positions = _codec_and_sketches(method, run_config, store, split, None, count)
    codec = replace(codec, corruption=corruption)
    if mask_table is None:
        mask_table = make_mask_table(len(codec.dataset), codec.patch_config.max_patches, seed)
    uniforms = [mask_row(mask_table, int(position)) for position in positions]
    corrupted = corrupt_inputs(sketches, uniforms, mask_prob, codec.patch_config)
    healed = generate_sketches(
        codec,
        sketches,
        uniforms=uniforms,
        mask_prob=mask_prob,
        temperature=temperature,
        greedy=greedy,
        max_len=max_len,
        seed=seed,
        decode_mean=decode_mean,
    )
    rows = {"corrupted": corrupted, "healed": healed}
    if fill is not None:
        filled = kept_fills(
            codec, sketches, corrupted, healed, uniforms, mask_prob, fill, seed=seed
        )  # (drawing, start) pairs
        rows["input kept"] = [drawing for drawing, _ in filled]
    rows["original"] = sketches
    return rows


def save_rows(
    rows: dict[str, list[np.ndarray]],
    path: str | os.PathLike[str],
    size: int = 96,
    ncols: int | None = None,
) -> Path:
    """Save named rows of sketches one under another (PNG or SVG); the name labels each row."""
    from sketchssl.render.grid import save_grid

    names = list(rows)
    if not names or not rows[names[0]]:
        raise ConfigError("nothing to draw")
    columns = ncols or max(len(rows[name]) for name in names)
    sketches: list[np.ndarray] = []
    labels: list[str] = []
    for name in names:
        row = list(rows[name])
        for start in range(0, len(row), columns):
            chunk = row[start : start + columns]
            sketches += chunk + [np.array([[0.0, 0.0, 1.0]], np.float32)] * (columns - len(chunk))
            labels += [name if start == 0 and column == 0 else "" for column in range(columns)]
    save_grid(sketches, path, ncols=columns, size=size, labels=labels)
    return Path(path)


def drawing_summary(
    sketches: Sequence[np.ndarray], max_len: int | None = None, name: str = "drawn"
) -> str:
    """One line on how a set of stroke-3 sketches is built: strokes and points per sketch.

    A quick check of generated sketches against their data (``sketchssl data info`` prints the
    same statistics for a store): an undertrained decoder tends to draw one long stroke, or to
    run on to ``max_len`` without ending. Sketches of ``max_len`` points are counted as cut.
    """
    strokes = distribution_summary([count_strokes(sketch) for sketch in sketches])
    points = [len(sketch) for sketch in sketches]
    line = (
        f"{name}: strokes per sketch median {strokes['median']:.0f} (mean {strokes['mean']:.1f}), "
        f"points median {distribution_summary(points)['median']:.0f}"
    )
    if max_len is not None:
        cut = sum(length >= max_len for length in points)
        line += f", {cut} of {len(points)} cut at {max_len} points"
    return line


def _max_len(method: Any, max_len: int | None) -> int | None:
    if max_len is not None:
        return max_len
    return getattr(getattr(method, "config", None), "max_length", None)


def set_pen_temperature(method: Any, pen_temperature: float | None) -> None:
    """Sample ``method``'s pen states at ``pen_temperature`` (None: keep the checkpoint's).

    The generative methods' configs carry ``decoder.pen_temperature`` (None there: the pen
    follows the sampling temperature, as in sketch-rnn); see
    :func:`~sketchssl.nn.mixture.sample_mixture`.
    """
    if pen_temperature is None:
        return
    if not pen_temperature > 0:
        raise ConfigError(f"--pen-temperature must be positive, got {pen_temperature}")
    settings = getattr(getattr(method, "config", None), "decoder", None)
    if settings is None or not hasattr(settings, "pen_temperature"):
        raise ConfigError(f"method {method.name!r} has no pen temperature to set")
    settings.pen_temperature = float(pen_temperature)


def can_draw(method: Any) -> bool:
    """Whether ``method`` overrides :meth:`SketchMethod.generate`."""
    from sketchssl.methods.base import SketchMethod

    return type(method).generate is not SketchMethod.generate


def sample_figure(
    method: Any,
    run_config: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    store: SketchStore | None = None,
    count: int = 16,
    split: str = "test",
    interpolate: bool = False,
    temperature: float | None = None,
    max_len: int | None = None,
    seed: int = 0,
) -> str:
    """What ``sketchssl sample`` draws for a generative method; returns a one-line summary.

    Without a store: ``count`` samples from the prior (temperature 1 by default). With a store:
    ``count`` test sketches over their reconstructions (temperature 0.24 by default). With
    ``interpolate``: a strip of ``count`` decoded codes between the split's first and last
    sketches.
    """
    if not can_draw(method):
        raise ConfigError(f"sketchssl sample: method {method.name!r} cannot draw")
    if count < 1:
        raise ConfigError(f"--n must be at least 1, got {count}")
    if interpolate:
        if store is None:
            raise ConfigError("--interpolate needs --data STORE (the two sketches to join)")
        strip = interpolation_strip(
            method,
            run_config,
            store,
            steps=max(count, 2),
            split=split,
            temperature=0.24 if temperature is None else temperature,
            max_len=max_len,
            seed=seed,
        )
        save_rows({"interpolation": strip}, out)
        return (
            f"wrote {out}: latent interpolation (slerp) in {len(strip)} steps between the first "
            f"and last {split} sketches"
        )
    if store is None:
        samples = prior_samples(
            method,
            run_config,
            None,
            count,
            temperature=1.0 if temperature is None else temperature,
            max_len=max_len,
            seed=seed,
        )
        save_rows({"prior": samples}, out, ncols=min(count, 8))
        return f"wrote {out}: {count} unconditional samples, z ~ N(0, I)\n" + drawing_summary(
            samples, _max_len(method, max_len), "samples"
        )
    rows = reconstruction_rows(
        method,
        run_config,
        store,
        count,
        split=split,
        temperature=0.24 if temperature is None else temperature,
        max_len=max_len,
        seed=seed,
    )
    save_rows(rows, out)
    return (
        f"wrote {out}: original / reconstruction for {len(rows['original'])} {split} sketches\n"
        + drawing_summary(rows["original"], None, "originals")
        + "\n"
        + drawing_summary(rows["reconstruction"], _max_len(method, max_len), "reconstructions")
    )
