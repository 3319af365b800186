"""Rec and Ret: how recognisable generated sketches are, and whether they keep their identity.

- [0] SP-gra2seq (Zang, Tu, Xu, AAAI 2023; CMACH508/SP-gra2seq ``retrieval.py``) and SketchGloc
  (IJCAI 2024): Rec and Ret, query = generated, gallery = originals.
- [1] Lmser-pix2seq (Li et al., CVIU 2024; CMACH508/Lmser-pix2seq ``retrieval.py``): Ret with
  query = original, gallery = generated; its "top-10" checks ``sorted_index[:9]``.
- [2] Yu et al., Sketch-a-Net (BMVC 2015): the judge (:mod:`sketchssl.methods.sketch_a_net`).

Protocol (METHODS.md sections 3, 5, 7):

* Each test sketch is corrupted (patch masking at rate ``p`` from a fixed mask table; ``p = 0``
  is plain reconstruction), the method generates a sketch from it (temperature 0.24 as
  SP-gra2seq's ``sample``; from the code ``mu``, except Lmser-pix2seq, which samples ``z`` as its
  ``inference.py`` does unless ``decode_mean`` says otherwise).
* **Rec** = accuracy of the judge on the generated sketches, each rendered as the judge's own
  raster view (its run config's ``raster_size`` / ``raster_line_width``), against the source
  sketch's label.
* **Ret** (:func:`retrieval_accuracy`): re-encode every generated sketch *without masking*; the
  originals are encoded without masking too. ``direction="generated_to_original"`` (SP-gra2seq,
  SketchGloc; our default): each generated code queries the gallery of original codes, mean
  squared distance. ``"original_to_generated"`` (Lmser-pix2seq): each original code queries the
  generated codes, Euclidean distance. A hit at ``k`` = the query's own counterpart is among the
  first ``k`` (true top-k: rank < k, where the Lmser script uses rank < k - 1). For one query both
  distances order the gallery the same way; the two directions differ by who queries whom.
  Ties are broken by gallery order (a stable sort). Chance level = ``k / N``.
* Reference rows: the judge on the real test sketches (upper bound of Rec) and, for ``p > 0``,
  "no healing": Rec of the judge on the corrupted inputs and Ret of the corrupted inputs encoded
  as the method reads them (what returning the input unchanged would score).

How a method plugs in: ``generate(batch, temperature=..., greedy=..., max_len=...) -> (B, T, 5)``
stroke-5 in the method's own (normalised) units (a method whose code is sampled also takes
``use_mean``: :func:`code_options`), and ``encode_for_retrieval(batch) -> (B, D)``
(default: ``embed``). The batch holds the input kind the method declares with the class
attribute ``healing_input``: ``"sequence"`` (default; sketch-rnn) gets the sequence view of the
corrupted sketch (:func:`sketchssl.render.patch_view.corrupt_sequence`: points inside masked
squares deleted), ``"patches"`` gets :func:`sketchssl.render.patch_view.patch_view` of the masked
canvas (SP-gra2seq and its successors). Patch methods may set ``patch_config``.

Two corruptions for the patch methods (:data:`CORRUPTIONS`, ``HealingEval.corruption``):

* ``"canvas"`` (the papers'): the original's canvas with the masked squares blacked out. The
  corrupted input the judge sees and a kept-input fill starts from is still the point-deleted
  drawing, which on sparse drawings has lost far more ink than the canvas (a deleted point takes
  both its segments), so the no-healing Rec and Ret then describe two different inputs.
* ``"points"``: the point-deleted drawing, the one every method gets, drawn on the original's
  canvas where it lay (its scale, place and patch slots,
  :func:`sketchssl.render.patches.layout_on`), masked squares blacked as before. Every row then
  starts from one corrupted drawing. A kept-input healing is read on that same canvas, unmasked
  (``healed, input kept``; what a fill draws off the canvas is not seen), and the row ``no
  healing, re-encoded unmasked`` reads the corrupted drawing the same way, so the healed row has
  a reference that differs from it only by the fill. Sequence-input methods read the same
  drawing under either name.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sketchssl.data.formats import stroke3_to_stroke5, stroke5_to_stroke3
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError
from sketchssl.eval.continuation import ContinueConfig, continuation_drawings
from sketchssl.eval.fill import FillConfig, fill_erased
from sketchssl.nn.decoder import MixtureDecoder
from sketchssl.render.patch_view import (
    PATCH_VIEW,
    corrupt_sequence,
    mask_row,
    patch_config_from_data,
    patch_view,
)
from sketchssl.render.patches import PatchConfig, make_mask_table
from sketchssl.render.raster import render_strokes
from sketchssl.render.views import SketchDataset

__all__ = [
    "CORRUPTIONS",
    "DIRECTIONS",
    "FILLED_ROW",
    "NO_HEALING_ROW",
    "UNMASKED_INPUT_ROW",
    "HealingEval",
    "SketchCodec",
    "check_corruption",
    "code_options",
    "corrupt_inputs",
    "corrupt_inputs_placed",
    "encode_sketches",
    "evaluate_healing",
    "generate_sketches",
    "judge_images",
    "judge_predictions",
    "own_match_ranks",
    "recognition_accuracy",
    "render_healing_markdown",
    "retrieval_accuracy",
    "write_healing_report",
]

DIRECTIONS = ("generated_to_original", "original_to_generated")
CORRUPTIONS = ("canvas", "points")


def check_corruption(value: str, name: str = "corruption") -> str:
    """``value`` if it is one of :data:`CORRUPTIONS`; ``name`` is the setting the error names.

    Raises:
        ConfigError: any other value.
    """
    if value not in CORRUPTIONS:
        raise ConfigError(f"{name} {value!r}: choose one of {', '.join(CORRUPTIONS)}")
    return value


DIRECTION_TAGS = {"generated_to_original": "g2o", "original_to_generated": "o2g"}
DEFAULT_KS = (1, 10, 50)


# ---------------------------------------------------------------------------------- retrieval
def _distances(queries: Tensor, gallery: Tensor, direction: str) -> Tensor:
    """``(Q, G)`` distances: mean squared (SP-gra2seq) or Euclidean (Lmser-pix2seq)."""
    squared = torch.cdist(queries.double(), gallery.double()).pow(2)  # (Q, G)
    if direction == "generated_to_original":
        return squared / queries.shape[1]
    return squared.sqrt()


def own_match_ranks(
    original_codes: Tensor | np.ndarray,
    generated_codes: Tensor | np.ndarray,
    direction: str = "generated_to_original",
    chunk_size: int = 1024,
) -> Tensor:
    """0-based rank of each query's own counterpart in its gallery, ``(N,)`` int64.

    Code ``i`` of both sets belongs to sketch ``i``. The rank counts the gallery items strictly
    closer than the counterpart, plus the equally close ones that come earlier in the gallery
    (stable-sort order).

    Args:
        original_codes: ``(N, D)`` codes of the unmasked originals.
        generated_codes: ``(N, D)`` codes of the generated sketches, re-encoded unmasked.
        direction: one of :data:`DIRECTIONS`.
        chunk_size: queries per distance block (memory ``chunk_size * N``).
    """
    if direction not in DIRECTIONS:
        raise ConfigError(f"Ret direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
    originals = torch.as_tensor(original_codes).detach().cpu()
    generated = torch.as_tensor(generated_codes).detach().cpu()
    if originals.dim() != 2 or originals.shape != generated.shape or len(originals) == 0:
        raise ConfigError(
            "Ret needs two non-empty (N, D) code sets of the same shape, got "
            f"{tuple(originals.shape)} and {tuple(generated.shape)}"
        )
    queries, gallery = (
        (generated, originals) if direction == "generated_to_original" else (originals, generated)
    )
    count = len(queries)
    ranks = torch.empty(count, dtype=torch.int64)
    positions = torch.arange(count)
    for first in range(0, count, chunk_size):
        rows = positions[first : first + chunk_size]  # (q,)
        distance = _distances(queries[rows], gallery, direction)  # (q, N)
        own = distance[torch.arange(len(rows)), rows][:, None]  # (q, 1)
        closer = (distance < own).sum(dim=1)
        tied_before = ((distance == own) & (positions[None, :] < rows[:, None])).sum(dim=1)
        ranks[rows] = closer + tied_before
    return ranks


def retrieval_accuracy(
    original_codes: Tensor | np.ndarray,
    generated_codes: Tensor | np.ndarray,
    direction: str = "generated_to_original",
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Ret acc@k (true top-k) of one direction, with chance levels and the mean rank.

    Returns:
        ``{"ret_<tag>_acc@k": fraction, "ret_chance@k": k / N, "ret_<tag>_mean_rank": mean
        1-based rank}`` with ``tag`` ``g2o`` or ``o2g``.

    Examples:
        >>> codes = torch.eye(4)
        >>> retrieval_accuracy(codes, codes, ks=(1,))["ret_g2o_acc@1"]
        1.0
    """
    ranks = own_match_ranks(original_codes, generated_codes, direction)
    tag = DIRECTION_TAGS[direction]
    count = len(ranks)
    result: dict[str, float] = {}
    for k in ks:
        result[f"ret_{tag}_acc@{k}"] = float((ranks < k).double().mean())
        result[f"ret_chance@{k}"] = min(k, count) / count
    result[f"ret_{tag}_mean_rank"] = float(ranks.double().mean()) + 1.0
    return result


# ---------------------------------------------------------------------------------- the judge
def judge_images(sketches: Sequence[np.ndarray], judge_data: dict[str, Any]) -> Tensor:
    """``(B, 1, H, W)`` float renders, ink = 1, exactly as the judge's raster view makes them."""
    size = int(judge_data.get("raster_size", 64))
    width = float(judge_data.get("raster_line_width", 1.5))
    images = np.stack(
        [render_strokes(sketch, size=size, line_width=width, invert=True) for sketch in sketches]
    )  # (B, H, W) uint8
    return torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]


@torch.no_grad()
def judge_predictions(
    judge: Any, judge_data: dict[str, Any], sketches: Sequence[np.ndarray], batch_size: int = 64
) -> np.ndarray:
    """``(B,)`` int64 class predicted by the judge for each stroke-3 sketch."""
    judge.eval()
    predictions = []
    for first in range(0, len(sketches), batch_size):
        images = judge_images(sketches[first : first + batch_size], judge_data)
        device = getattr(judge, "device", torch.device("cpu"))
        logits = judge.logits({"image": images.to(device)})  # (b, C)
        predictions.append(logits.argmax(dim=1).cpu().numpy())
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def recognition_accuracy(
    judge: Any,
    judge_data: dict[str, Any],
    sketches: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    batch_size: int = 64,
) -> float:
    """Rec: the fraction of ``sketches`` the judge assigns to their ``labels``."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(sketches) or len(labels) == 0:
        raise ConfigError(f"Rec needs one label per sketch: {len(sketches)} and {len(labels)}")
    return float((judge_predictions(judge, judge_data, sketches, batch_size) == labels).mean())


# ---------------------------------------------------------------------------------- a method's I/O
@dataclass
class SketchCodec:
    """Turns raw stroke-3 sketches into a method's batches and its output back into stroke-3.

    Attributes:
        method: the generating method (eval mode).
        dataset: a :class:`SketchDataset` with the method's preprocessing (its ``prepare`` and
            ``normalize``; the scale a shipped model carries, else the store's train split's).
        patch_geometry: the run config's patch geometry (None: :attr:`patch_config`'s fallback).
        corruption: how a patch method reads a masked sketch (:data:`CORRUPTIONS`).
    """

    method: Any
    dataset: SketchDataset
    patch_geometry: PatchConfig | None = None
    corruption: str = "canvas"

    def __post_init__(self) -> None:
        check_corruption(self.corruption)

    @classmethod
    def for_method(
        cls, method: Any, run_config: dict[str, Any], store: SketchStore, split: str = "test"
    ) -> SketchCodec:
        """The codec of ``method`` with the data section of its ``run_config``."""
        data = run_config.get("data", {})
        dataset = SketchDataset(
            store,
            split=split,
            views=("sequence",),
            max_len=int(data.get("max_len", 250)),
            normalization=data.get("normalization", "std"),
            start_token=bool(data.get("start_token", False)),
            bbox_factor=float(data.get("bbox_factor", 10.0)),
            clamp_limit=float(data.get("clamp_limit", 1000.0)),
            # a shipped model carries its training data's scale; a checkpoint uses this store's
            scale=data.get("scale"),
        )
        geometry = patch_config_from_data(data) if PATCH_VIEW in data.get("views", ()) else None
        return cls(method, dataset, geometry)

    @property
    def input_kind(self) -> str:
        """``"sequence"`` or ``"patches"`` (the method's ``healing_input``)."""
        return getattr(self.method, "healing_input", "sequence")

    @property
    def patch_config(self) -> PatchConfig:
        """Patch geometry: the run config's ``data.patch_*``, else SP-gra2seq's defaults.

        The run config wins when it has a patches view; then the method's ``patch_config``.
        """
        if self.patch_geometry is not None:
            return self.patch_geometry
        return getattr(self.method, "patch_config", None) or PatchConfig()

    def sequence_batch(self, sketches: Sequence[np.ndarray]) -> dict[str, Tensor]:
        """The sequence view (``strokes5``, ``mask``, ``length``) of raw stroke-3 sketches."""
        dataset = self.dataset
        rows, masks, lengths = [], [], []
        for sketch in sketches:
            sketch = dataset.prepare(sketch)
            big = stroke3_to_stroke5(
                dataset.normalize(sketch), dataset.max_len, start_token=dataset.start_token
            )  # (T, 5)
            length = len(sketch) + int(dataset.start_token)
            mask = np.zeros(len(big), dtype=bool)
            mask[:length] = True
            rows.append(big)
            masks.append(mask)
            lengths.append(length)
        return {
            "strokes5": torch.from_numpy(np.stack(rows)),
            "mask": torch.from_numpy(np.stack(masks)),
            "length": torch.tensor(lengths, dtype=torch.int64),
        }

    def batch(
        self,
        sketches: Sequence[np.ndarray],
        uniforms: Sequence[np.ndarray] | None = None,
        mask_prob: float = 0.0,
        *,
        canvas_of: Sequence[np.ndarray] | None = None,
        starts: Sequence[np.ndarray] | None = None,
    ) -> dict[str, Tensor]:
        """The method's input batch of raw sketches, corrupted at ``mask_prob`` if > 0.

        ``canvas_of`` (with ``starts``, each drawing's first point in that sketch's frame) puts
        each drawing, unmasked, on another sketch's canvas: a patch method reads it there
        (:func:`~sketchssl.render.patches.layout_on`); a sequence method has no canvas.
        """
        if mask_prob > 0 and uniforms is None:
            raise ConfigError("masking needs the sketches' mask-table rows")
        if self.input_kind == "patches":
            items = [
                self._patch_item(
                    self.dataset.prepare(sketch),
                    None if uniforms is None else uniforms[i],
                    mask_prob,
                    None if canvas_of is None else canvas_of[i],
                    None if starts is None else starts[i],
                )
                for i, sketch in enumerate(sketches)
            ]
            return {key: torch.stack([item[key] for item in items]) for key in items[0]}
        if mask_prob > 0:
            sketches = corrupt_inputs(sketches, uniforms, mask_prob, self.patch_config)
        return self.sequence_batch(sketches)

    def _patch_item(
        self,
        sketch: np.ndarray,
        uniforms: np.ndarray | None,
        mask_prob: float,
        canvas_of: np.ndarray | None,
        start: np.ndarray | None,
    ) -> dict[str, Tensor]:
        """One patch view: own canvas, another sketch's, or (``points``) the kept points'."""
        config = self.patch_config
        if canvas_of is not None:
            origin = np.zeros(2) if start is None else start
            return patch_view(
                sketch, config, canvas_of=self.dataset.prepare(canvas_of), start=origin
            )
        if mask_prob > 0 and self.corruption == "points":
            kept, origin = corrupt_sequence(sketch, uniforms, mask_prob, config, with_start=True)
            return patch_view(
                kept, config, mask_prob=mask_prob, uniforms=uniforms, canvas_of=sketch, start=origin
            )
        return patch_view(sketch, config, mask_prob=mask_prob, uniforms=uniforms)

    def to_raw(self, strokes5: Tensor) -> list[np.ndarray]:
        """Generated ``(B, T, 5)`` stroke-5 (normalised units) -> raw-unit stroke-3 sketches."""
        sketches = []
        for rows in strokes5.detach().cpu().numpy():
            sketch = stroke5_to_stroke3(rows)
            if len(sketch) == 0:  # ended at once: one invisible point rather than nothing
                sketch = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)
            sketch[-1, 2] = 1
            if self.dataset.normalization == "std":
                sketch[:, :2] *= self.dataset.scale
            sketches.append(sketch)
        return sketches


def corrupt_inputs(
    sketches: Sequence[np.ndarray],
    uniforms: Sequence[np.ndarray],
    mask_prob: float,
    config: PatchConfig | None = None,
) -> list[np.ndarray]:
    """:func:`~sketchssl.render.patch_view.corrupt_sequence` of each sketch with its row."""
    return [
        corrupt_sequence(sketch, row, mask_prob, config)
        for sketch, row in zip(sketches, uniforms, strict=True)
    ]


def corrupt_inputs_placed(
    sketches: Sequence[np.ndarray],
    uniforms: Sequence[np.ndarray],
    mask_prob: float,
    config: PatchConfig | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`corrupt_inputs`, and where each corrupted drawing's first point lies in its sketch."""
    pairs = [
        corrupt_sequence(sketch, row, mask_prob, config, with_start=True)
        for sketch, row in zip(sketches, uniforms, strict=True)
    ]
    return [drawing for drawing, _ in pairs], [origin for _, origin in pairs]


def _batches(count: int, batch_size: int) -> list[slice]:
    return [slice(first, first + batch_size) for first in range(0, count, batch_size)]


@torch.no_grad()
def encode_sketches(
    codec: SketchCodec,
    sketches: Sequence[np.ndarray],
    batch_size: int = 64,
    *,
    uniforms: Sequence[np.ndarray] | None = None,
    mask_prob: float = 0.0,
    canvas_of: Sequence[np.ndarray] | None = None,
    starts: Sequence[np.ndarray] | None = None,
) -> Tensor:
    """``(N, D)`` codes of raw sketches: ``encode_for_retrieval``, else ``embed``.

    Unmasked by default; with ``uniforms`` and ``mask_prob > 0`` each sketch is corrupted exactly
    as the method reads it for healing (the no-healing reference). ``canvas_of`` and ``starts``
    put each sketch on another's canvas (:meth:`SketchCodec.batch`).
    """
    method = codec.method
    encode: Callable[[dict[str, Tensor]], Tensor] = getattr(
        method, "encode_for_retrieval", method.embed
    )
    codes = []
    for part in _batches(len(sketches), batch_size):
        rows = None if uniforms is None else uniforms[part]
        inputs = codec.batch(
            sketches[part],
            rows,
            mask_prob if rows is not None else 0.0,
            canvas_of=None if canvas_of is None else canvas_of[part],
            starts=None if starts is None else starts[part],
        )
        batch = {key: value.to(method.device) for key, value in inputs.items()}
        codes.append(encode(batch).float().cpu())
    return torch.cat(codes)


@torch.no_grad()
def generate_sketches(
    codec: SketchCodec,
    sketches: Sequence[np.ndarray],
    *,
    uniforms: Sequence[np.ndarray] | None = None,
    mask_prob: float = 0.0,
    temperature: float = 0.24,
    greedy: bool = False,
    max_len: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    decode_mean: bool | None = None,
) -> list[np.ndarray]:
    """Generate from each (corrupted) sketch; raw-unit stroke-3 results in input order.

    The method's ``generator`` (when it has one) is seeded with ``seed`` first, so the samples
    are reproducible. ``decode_mean`` True decodes each input's ``mu``, False a code sampled
    from ``N(mu, sigma^2)``; None keeps the method's own choice (see :func:`code_options`).
    """
    method = codec.method
    method.eval()
    options = code_options(method, decode_mean)
    if hasattr(method, "generator"):
        method.generator = torch.Generator(device=method.device).manual_seed(seed)
    else:
        torch.manual_seed(seed)
    results: list[np.ndarray] = []
    for part in _batches(len(sketches), batch_size):
        rows = None if uniforms is None else uniforms[part]
        batch = codec.batch(sketches[part], rows, mask_prob)
        batch = {key: value.to(method.device) for key, value in batch.items()}
        drawn = method.generate(
            batch, temperature=temperature, greedy=greedy, max_len=max_len, **options
        )
        results.extend(codec.to_raw(drawn))
    return results


def code_options(method: Any, decode_mean: bool | None) -> dict[str, bool]:
    """``generate``'s keyword choosing the code a drawing is made from (``{}`` for None).

    sketch-rnn, SP-gra2seq and SketchGloc decode ``mu`` unless told otherwise (SP-gra2seq's
    ``sample``); Lmser-pix2seq follows its config's ``decode_mean`` (False: ``z = mu + sigma *
    eps``, as its ``inference.py``). A choice made on the valid split overrides either.

    Raises:
        ConfigError: a choice for a method whose code is not sampled (no ``use_mean``).
    """
    if decode_mean is None:
        return {}
    if "use_mean" not in inspect.signature(method.generate).parameters:
        raise ConfigError(
            f"method {getattr(method, 'name', type(method).__name__)!r} draws from a fixed "
            "code; --decode-mean / --sample-code apply to the variational healers only"
        )
    return {"use_mean": bool(decode_mean)}


@torch.no_grad()
def decoder_codes(
    codec: SketchCodec,
    sketches: Sequence[np.ndarray],
    uniforms: Sequence[np.ndarray],
    mask_prob: float,
    batch_size: int = 64,
) -> Tensor:
    """``(N, Z)`` the means ``mu`` of the corrupted sketches' codes, as the healer reads them."""
    method = codec.method
    codes = []
    for part in _batches(len(sketches), batch_size):
        inputs = codec.batch(sketches[part], uniforms[part], mask_prob)
        batch = {key: value.to(method.device) for key, value in inputs.items()}
        codes.append(method.encode(batch)[0].float())
    return torch.cat(codes)


def decoder_scale(codec: SketchCodec) -> float | None:
    """Raw units per decoder unit: the data's global scale (``std``), 1 (``none``), else None.

    A per-sketch normalisation (``bbox``) has no one scale to draw continuations in.
    """
    normalization = codec.dataset.normalization
    if normalization == "std":
        return float(codec.dataset.scale)
    return 1.0 if normalization == "none" else None


def continue_corrupted(
    codec: SketchCodec,
    sketches: Sequence[np.ndarray],
    corrupted: Sequence[np.ndarray],
    uniforms: Sequence[np.ndarray],
    mask_prob: float,
    config: ContinueConfig,
    *,
    batch_size: int = 64,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The healer's continuations of each corrupted input's kept strokes (raw units).

    :func:`~sketchssl.eval.continuation.continuation_drawings` with the means of the corrupted
    inputs' codes and the data's scale.

    Raises:
        ConfigError: a method without the mixture decoder, or data without one global scale.
    """
    method = codec.method
    decoder = getattr(method, "decoder", None)
    if not isinstance(decoder, MixtureDecoder):
        raise ConfigError(
            f"--fill-source continue needs a method with sketch-rnn's mixture decoder; "
            f"{getattr(method, 'name', type(method).__name__)!r} has none"
        )
    scale = decoder_scale(codec)
    if scale is None:
        raise ConfigError(
            f"--fill-source continue needs offsets in one global scale (data.normalization std "
            f"or none); this model's data uses {codec.dataset.normalization!r}: use "
            "--fill-source redraw"
        )
    method.eval()
    codes = decoder_codes(codec, sketches, uniforms, mask_prob, batch_size)
    return continuation_drawings(
        decoder,
        codes,
        corrupted,
        scale,
        config,
        absolute=bool(getattr(method, "decoder_reads_absolute", False)),
        seed=seed,
    )


def kept_fills(
    codec: SketchCodec,
    sketches: Sequence[np.ndarray],
    corrupted: Sequence[np.ndarray],
    generated: Sequence[np.ndarray],
    uniforms: Sequence[np.ndarray],
    mask_prob: float,
    fill: FillConfig,
    *,
    batch_size: int = 64,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The corrupted inputs with their gaps filled from ``fill.source`` (raw stroke-3).

    ``"redraw"`` fills from the healer's drawings ``generated``; ``"continue"`` from its
    decoder drawing on from the kept strokes (:func:`continue_corrupted`).

    Returns:
        ``(drawing, start)`` per input: ``start`` is where the drawing's first point lies in its
        corrupted input's frame (the drawing may begin with a fill stroke).
    """
    if fill.source == "redraw":
        if len(corrupted) != len(generated):
            raise ConfigError(
                f"fill needs one drawing per input: {len(corrupted)} and {len(generated)}"
            )
        pairs = zip(corrupted, generated, strict=True)
        return [fill_erased(kept, new, fill, with_start=True) for kept, new in pairs]
    drawings = continue_corrupted(
        codec, sketches, corrupted, uniforms, mask_prob, fill.continuation,
        batch_size=batch_size, seed=seed,
    )  # fmt: skip
    return fill_from_continuations(corrupted, drawings, fill)


def fill_from_continuations(
    corrupted: Sequence[np.ndarray],
    drawings: Sequence[tuple[np.ndarray, np.ndarray] | None],
    fill: FillConfig,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each corrupted input filled from its continuations (itself where there are none).

    ``drawings`` are :func:`~sketchssl.eval.continuation.continuation_drawings`'s; the radius,
    order and join of ``fill`` apply, its ``source`` is not read. Returns ``(drawing, start)``
    pairs as :func:`kept_fills`.
    """
    return [
        (np.asarray(kept), np.zeros(2))
        if drawing is None
        else fill_erased(kept, drawing[0], fill, with_start=True, drawn_start=drawing[1])
        for kept, drawing in zip(corrupted, drawings, strict=True)
    ]


# ---------------------------------------------------------------------------------- the protocol
@dataclass
class HealingEval:
    """Settings of a Rec / Ret evaluation.

    Attributes:
        mask_probs: masking rates to evaluate (0 = controllable synthesis / reconstruction).
        split: evaluated split.
        temperature: sampling temperature (SP-gra2seq 0.24).
        greedy: most likely component and pen state at each step instead of sampling.
        max_len: most generated points; None = the method's own ``max_length``.
        directions: Ret directions (:data:`DIRECTIONS`).
        ks: Ret cut-offs.
        limit: evaluate only the first ``limit`` sketches of the split (None = all).
        batch_size: sketches per forward pass.
        seed: sampling seed; also the mask table's seed when none is given.
        fill: when set, each ``p > 0`` also gets the row ``healed, input kept (mask p)``: the
            corrupted input's strokes with the healer's drawing filling only what lies away from
            them (:func:`sketchssl.eval.fill.fill_erased`), scored like the other rows.
        decode_mean: draw from ``mu`` (True) or a sampled code (False); None: the method's own
            choice (:func:`code_options`).
        corruption: what a patch method reads (:data:`CORRUPTIONS`, the module docstring):
            ``"canvas"`` the papers' masked canvas, ``"points"`` the point-deleted drawing on
            the original's canvas.
    """

    mask_probs: tuple[float, ...] = (0.0,)
    split: str = "test"
    temperature: float = 0.24
    greedy: bool = False
    max_len: int | None = None
    directions: tuple[str, ...] = ("generated_to_original",)
    ks: tuple[int, ...] = DEFAULT_KS
    limit: int | None = None
    batch_size: int = 64
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    fill: FillConfig | None = None
    decode_mean: bool | None = None
    corruption: str = "canvas"

    def __post_init__(self) -> None:
        check_corruption(self.corruption)
        for direction in self.directions:
            if direction not in DIRECTIONS:
                raise ConfigError(
                    f"Ret direction {direction!r}: choose one of {', '.join(DIRECTIONS)}"
                )
        for rate in self.mask_probs:
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"mask rate {rate} must be in [0, 1]")


CORRUPTION_TEXT = {
    "canvas": "canvas: a patch method reads the original's canvas with the masked squares "
    "blacked out (the papers'); the judge and a kept-input fill see the point-deleted drawing",
    "points": "points: every method reads the point-deleted drawing; a patch method reads it on "
    "the original's canvas (its scale, place and slots, masked squares blacked), and reads a "
    "kept-input healing on that canvas unmasked",
}
NO_HEALING_ROW = "no healing: corrupted input"
UNMASKED_INPUT_ROW = "no healing, re-encoded unmasked"
FILLED_ROW = "healed, input kept"


def _row_name(kind: str, rate: float) -> str:
    return f"{kind} (mask {rate:g})"


def evaluate_healing(
    method: Any,
    run_config: dict[str, Any],
    store: SketchStore,
    settings: HealingEval,
    *,
    judge: Any | None = None,
    judge_config: dict[str, Any] | None = None,
    mask_table: np.ndarray | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Rec and Ret of ``method`` on a split, with the reference rows.

    Args:
        method: the generating method (eval mode).
        run_config: its run configuration (data preprocessing).
        store: labelled store.
        settings: what to evaluate.
        judge: a ``sketch_a_net`` (anything with ``logits({"image": ...})``); None skips Rec.
        judge_config: the judge's run configuration (its raster view).
        mask_table: ``(>= N, >= max_patches)`` uniforms; None makes one from ``settings.seed``.

    Returns:
        ``(results, meta)``: rows ``judge on originals`` (with a judge), ``no healing: corrupted
        input (mask p)`` (``p > 0``: Rec and Ret of the corrupted input itself, the reference a
        healer must beat) and ``generated (mask p)``, and what produced them; with a fill also
        ``healed, input kept (mask p)``, and for a patch method under ``corruption="points"``
        ``no healing, re-encoded unmasked (mask p)`` (Ret of the corrupted drawing read on its
        canvas as the healed one is).
    """
    started = time.perf_counter()
    codec = SketchCodec.for_method(method, run_config, store, settings.split)
    codec.corruption = settings.corruption
    # a patch method reads the kept points where they lay: so is its kept-input healing read
    on_input_canvas = codec.input_kind == "patches" and settings.corruption == "points"
    indices = codec.dataset.indices
    if settings.limit is not None:
        indices = indices[: settings.limit]
    if len(indices) == 0:
        raise ConfigError(f"{store.path}: the {settings.split!r} split is empty")
    sketches = [codec.dataset.prepare(store[int(index)]) for index in indices]
    labels = np.asarray([store.label(int(index)) for index in indices], dtype=np.int64)
    config = codec.patch_config
    if mask_table is None:
        mask_table = make_mask_table(len(sketches), config.max_patches, settings.seed)
    uniforms = [mask_row(mask_table, position) for position in range(len(sketches))]
    judge_data = (judge_config or {}).get("data", {})

    results: dict[str, dict[str, float]] = {}
    if judge is not None:
        if (labels < 0).any():
            raise ConfigError("Rec needs a labelled store (some sketches have no label)")
        results["judge on originals"] = {
            "mask": 0.0,
            "rec": recognition_accuracy(judge, judge_data, sketches, labels, settings.batch_size),
            "sketches": len(sketches),
        }
    original_codes = encode_sketches(codec, sketches, settings.batch_size)

    def score(
        drawings: list[np.ndarray],
        rate: float,
        starts: list[np.ndarray] | None = None,
        rec: bool = True,
    ) -> dict[str, float]:
        """Rec and Ret of drawings made from the sketches (re-encoded unmasked).

        With ``starts`` each drawing is read on its source sketch's canvas, first point there.
        """
        row: dict[str, float] = {"mask": rate, "sketches": len(sketches)}
        if judge is not None and rec:
            row["rec"] = recognition_accuracy(
                judge, judge_data, drawings, labels, settings.batch_size
            )
        codes = encode_sketches(
            codec,
            drawings,
            settings.batch_size,
            canvas_of=None if starts is None else sketches,
            starts=starts,
        )
        for direction in settings.directions:
            row.update(retrieval_accuracy(original_codes, codes, direction, settings.ks))
        return row

    for rate in settings.mask_probs:
        # the corrupted inputs as stroke-3: judged (no-healing Rec) and filled (input kept)
        # each corrupted drawing and where its first point lies in its original's frame
        corrupted, origins = corrupt_inputs_placed(sketches, uniforms, rate, config)
        if rate == 0:
            corrupted = sketches
        if rate > 0:
            # The no-healing reference: the corrupted input itself, judged and encoded as the
            # method reads it (Ret of returning the input unchanged).
            reference: dict[str, float] = {"mask": rate, "sketches": len(sketches)}
            if judge is not None:
                reference["rec"] = recognition_accuracy(
                    judge, judge_data, corrupted, labels, settings.batch_size
                )
            corrupted_codes = encode_sketches(
                codec, sketches, settings.batch_size, uniforms=uniforms, mask_prob=rate
            )
            for direction in settings.directions:
                reference.update(
                    retrieval_accuracy(original_codes, corrupted_codes, direction, settings.ks)
                )
            results[_row_name(NO_HEALING_ROW, rate)] = reference
            if on_input_canvas:
                results[_row_name(UNMASKED_INPUT_ROW, rate)] = score(
                    list(corrupted), rate, origins, rec=False
                )
        generated = generate_sketches(
            codec,
            sketches,
            uniforms=uniforms,
            mask_prob=rate,
            temperature=settings.temperature,
            greedy=settings.greedy,
            max_len=settings.max_len,
            batch_size=settings.batch_size,
            seed=settings.seed,
            decode_mean=settings.decode_mean,
        )
        results[_row_name("generated", rate)] = score(generated, rate)
        if settings.fill is not None and rate > 0:
            placed = kept_fills(
                codec, sketches, corrupted, generated, uniforms, rate, settings.fill,
                batch_size=settings.batch_size, seed=settings.seed,
            )  # fmt: skip
            filled = [drawing for drawing, _ in placed]
            starts = [origin + start for origin, (_, start) in zip(origins, placed, strict=True)]
            results[_row_name(FILLED_ROW, rate)] = score(
                filled, rate, starts if on_input_canvas else None
            )
    meta = {
        "method": run_config.get("method"),
        "input": codec.input_kind,
        "data": str(store.path),
        "split": f"{settings.split}, {len(sketches)} sketches, {len(store.class_names)} classes",
        "temperature": settings.temperature,
        "greedy": settings.greedy,
        "code": {None: "the method's default", True: "mu", False: "sampled"}[settings.decode_mean],
        "directions": list(settings.directions),
        "ks": list(settings.ks),
        "seed": settings.seed,
        "corruption": CORRUPTION_TEXT[settings.corruption],
        "seconds": round(time.perf_counter() - started, 1),
        "notes": list(settings.notes),
    }
    if settings.fill is not None:
        fill = settings.fill
        continuation = fill.continuation
        bounded = (
            ""
            if continuation.bound is None
            else f", inside the kept strokes' box grown by {continuation.bound:g} of the extent"
        )
        source = (
            "healer's drawing"
            if fill.source == "redraw"
            else "healer's decoder, led through the kept points, drawing on from the strokes it "
            f"takes for cut (pen-down probability above {continuation.pen_threshold:g}, "
            f"temperature {continuation.temperature:g}{bounded}; sketchssl.eval.continuation),"
        )
        meta["fill"] = (
            f"input kept, {source} fills what lies farther than {fill.radius:g} "
            f"of its extent from every kept point, strokes in {fill.order!r} order"
            + (f", joined within {fill.join:g} radii" if fill.join else "")
            + " (sketchssl.eval.fill)"
        )
    if codec.input_kind == "sequence":
        meta["notes"].append(
            "sequence-input method: the corruption deletes the points inside the masked squares "
            "(sketchssl.render.patch_view.corrupt_sequence), a point-level corruption, not the "
            "canvas masking patch-input methods see"
        )
    return results, meta


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{100.0 * float(value):.2f}"


def render_healing_markdown(results: dict[str, dict[str, float]], meta: dict[str, Any]) -> str:
    """The text of the healing ``metrics.md``: one table, percent, chance levels."""
    present = {key for row in results.values() for key in row}

    def order(key: str) -> tuple[int, str, int]:
        # rec first, then each direction's acc@k by k, then the chance levels
        group = 0 if key == "rec" else 2 if key.startswith("ret_chance") else 1
        k = int(key.rsplit("@", 1)[1]) if "@" in key else 0
        return group, key.split("@")[0], k

    metric_keys = sorted(
        (key for key in present if key == "rec" or ("acc@" in key or "chance@" in key)),
        key=order,
    )
    rank_keys = sorted(key for key in present if key.endswith("mean_rank"))
    header = ["row", "mask", *[f"{key} (%)" for key in metric_keys], *rank_keys]
    lines = [
        "# Generation and healing evaluation (Rec / Ret)",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for name, row in results.items():
        cells = [name, f"{row.get('mask', 0.0):g}"]
        cells += [_cell(row.get(key)) for key in metric_keys]
        cells += [f"{row[key]:.1f}" if key in row else "" for key in rank_keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Rec: judge (Sketch-a-Net) accuracy against the source sketch's label. The judge on the "
        "real sketches is Rec's upper bound; on the corrupted inputs, the score with no healing.",
        "Ret acc@k: the generated sketch is re-encoded without masking; hit when its own source "
        "is among the k nearest (true top-k, ties in gallery order). g2o = query generated, "
        "gallery originals, mean squared distance (SP-gra2seq / SketchGloc); o2g = query "
        "original, gallery generated, Euclidean (Lmser-pix2seq, with its top-9-as-top-10 "
        "fixed). ret_chance@k = k / N. mean_rank is 1-based.",
        "",
        "## Run",
        "",
    ]
    for key, value in meta.items():
        if isinstance(value, (list, tuple)):
            lines.append(f"- {key}:")
            lines += [f"  - {item}" for item in value]
        else:
            lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


def write_healing_report(
    report_dir: str | os.PathLike[str],
    results: dict[str, dict[str, float]],
    meta: dict[str, Any],
) -> dict[str, Path]:
    """``metrics.json`` in the representation suite's format, ``metrics.md`` for Rec / Ret.

    The JSON comes from :func:`sketchssl.eval.report.write_report` (same keys: format, version,
    meta, results); the Markdown it writes is then replaced, atomically, by
    :func:`render_healing_markdown`.
    """
    from sketchssl.eval.report import temporary_sibling, write_report

    paths = write_report(report_dir, results, {**meta, "report": "healing"})
    markdown = paths["markdown"]
    temporary = temporary_sibling(markdown)
    try:
        temporary.write_text(render_healing_markdown(results, meta), encoding="utf-8")
        os.replace(temporary, markdown)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return paths
