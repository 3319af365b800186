"""SketchGloc: stroke-placement correction with a grid multi-graph encoder.

- [0] Wang, Li, Zang, Tu, Xu, "Self-Supervised Learning for Enhancing Spatial Awareness in
  Free-Hand Sketch", IJCAI 2024; reference code CMACH508/SketchGloc (TensorFlow 1.15): ``model.py``
  (``build_sketchBoard``, ``get_lil_loss``), ``rebranch/utils.py``
  (``DataLoader._get_batch_from_indices``, ``get_box``), ``rebranch/train_reorganization.py`` and
  ``rebranch/sample_abs.py``. METHODS.md section 4.
- [1] Ha, Eck, "A Neural Representation of Sketch Drawings", ICLR 2018 (the decoder).

**Pretext task.** Every stroke that follows a pen-up (all strokes but the first, as in the
reference loop) is moved rigidly: its start point gets ``N(0, 1) * bound * perturb_scale`` added
independently in ``x`` and ``y``, where ``bound`` is the larger side of the sketch's bounding box
(over its points; the reference's ``get_bounds`` also counts the origin). The paper disrupts at
10 % and 30 % (``perturb_scale`` 0.1 / 0.3). The encoder reads the disturbed sketch, and the
decoder must reproduce the **undisturbed** one.

**Coordinates: absolute.** The reference decoder works in absolute coordinates, not offsets: its
batch (``seq_batch.append(data_ori)``) holds the running sums of the normalised stroke-3 offsets,
packed as stroke-5 with the start token ``S0 = (0, 0, 1, 0, 0)`` at the origin; the mixture
models the next absolute point given the previous one, and ``sample_abs.py`` turns the sampled
points back into offsets (``pre_draw[i] -= pre_draw[i - 1]``) before drawing. This module does the
same: the decoder's inputs and targets are absolute stroke-5 rows, and :meth:`SketchGloc.generate`
returns offsets (stroke-5 ``dx, dy``), so the rest of the toolkit (healing, rendering) reads it as
any other method.

**Encoder.**

1. The (disturbed) sketch is cut into strokes at its pen-ups; each stroke is the sequence of its
   absolute ``(x, y)`` points (2-d input, no pen state), strokes longer than ``max_stroke_len``
   cut into pieces, at most ``max_strokes`` pieces per sketch
   (:func:`~sketchssl.nn.grid_graph.split_strokes`).
2. A bidirectional LSTM (``encoder_size`` per direction) reads every piece of the whole batch in
   one call; the last forward and backward outputs, concatenated, embed the piece (``2 H``).
3. Nine grid graphs from the pieces' bounding boxes
   (:func:`~sketchssl.nn.grid_graph.grid_relations`) and the multi-graph GCN
   (:class:`~sketchssl.nn.grid_graph.GridGraphConvolution`).
4. Sum over the pieces, batch norm (decay 0.9, eps 1e-5), tanh, two linear heads: ``mu`` and
   ``log sigma^2`` (``latent_size``). ``z = mu + sigma * eps``; there is **no KL term** (loss =
   reconstruction only). :meth:`SketchGloc.embed` returns ``mu`` of the sketch as given.

**Decoder.** :class:`~sketchssl.nn.decoder.MixtureDecoder` (HyperLSTM in the paper, M = 20)
reading ``[previous absolute point, z]``, initial state ``tanh(Linear(z))``.

**Loss.** As ``get_lil_loss``: per sketch, the sum over time of the masked offset negative
log-likelihood and the pen cross-entropy (every padded step while training), averaged over the
batch (sketch-rnn divides by ``Nmax * batch`` instead).

Randomness: the displacement noise comes from the batch's ``sample_seed`` (one seed per sketch,
which the training layer adds; counter-based, so a sketch's noise does not depend on its batch)
when present, else from :attr:`SketchGloc.generator` (None: torch's global generator, which the
training layer re-seeds each step); ``eps`` of ``z`` from :attr:`SketchGloc.generator`.

Left out, as the training layer imposes: the reference's augmentations (random scaling 0.1,
point dropping 0.1 and a random translation of the whole sketch, active only with
``augment_stroke_prob > 0``), per-variable gradient clipping (we clip the global norm), and early
stopping on the validation loss. The reference validates without disturbance (``PROB = 0``); set
``perturb_in_eval: false`` for that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from sketchssl.errors import ConfigError
from sketchssl.methods.latent_decoder import (
    MOVED_SHARED_CELL_KEYS,
    LatentDecoderMethod,
    MixtureDecoderConfig,
    check_cell_type,
    check_recurrent_dropout,
    decoder_targets,
)
from sketchssl.methods.masking import counter_uniforms
from sketchssl.methods.registry import register_method
from sketchssl.nn.grid_graph import (
    GridGraphConvolution,
    StrokePieces,
    bounding_boxes,
    grid_relations,
    row_pieces,
    split_strokes,
    stroke5_positions,
    stroke_ids,
    to_slots,
)
from sketchssl.nn.rnn import LSTMCell, make_cell, reverse_padded

__all__ = [
    "SketchGlocConfig",
    "StrokeEncoder",
    "SketchGlocEncoder",
    "SketchGloc",
    "absolute_stroke5",
    "offsets_from_absolute",
    "perturb_stroke_starts",
    "stroke_noise",
]

_NOISE_STREAM = 0x5347_4C4F  # counter-uniform stream of the displacement noise ("SGLO")


@dataclass
class SketchGlocConfig:
    """SketchGloc hyper-parameters; defaults follow the README (the paper setting).

    Attributes:
        encoder_size: units of each stroke-encoder direction (README 512; code 256).
        latent_size: width of ``z`` (README 128; code 64).
        encoder_cell: ``lstm``, ``layer_norm`` or ``hyper`` (``enc_model='lstm'``).
        encoder_recurrent_dropout: drop probability of the stroke encoder's candidate (the
            reference shares keep 0.9 with the decoder). 0 lets the ``lstm`` cell run fused.
        encoder_hyper_size: hyper LSTM units of a ``hyper`` encoder cell.
        encoder_hyper_embedding_size: hyper embedding width of a ``hyper`` encoder cell.
        decoder: the mixture decoder, its sampler and its loss's steps
            (:class:`~sketchssl.methods.latent_decoder.MixtureDecoderConfig`). SketchGloc's
            defaults: ``size`` 512 (``dec_rnn_size``), ``num_mixtures`` 20 (hard-coded in
            ``rnn_decoder``), ``cell`` hyper (``dec_model='hyper'``), ``recurrent_dropout`` 0.1
            (keep 0.9), ``temperature`` 0.24 (``sample_abs.py``), ``variance_exponent`` 2 (the
            reference's sampler, magenta's, scales variances by ``tau^2``), ``pen_temperature``
            None (the pen follows the sampling temperature, as the paper does).
        max_strokes: pieces kept per sketch (the reference: 99.9th percentile of the stroke
            count; aaron_sheep 62, QuickDraw mini 29).
        max_stroke_len: longer strokes are cut into pieces of this many points (the reference:
            99.9th percentile of stroke length; aaron_sheep 130, QuickDraw mini 113).
        perturb_scale: displacement of each stroke's start, as a fraction of the sketch's
            larger side (``re_scale``; the paper's 10 % / 30 %). 0: plain reconstruction.
        perturb_in_eval: disturb in eval mode too (the validation loss then measures the task);
            the reference validates undisturbed.
        max_length: points :meth:`SketchGloc.generate` draws at most.
        embed_layer: what ``embed`` returns: ``mu`` (the code) or ``hidden`` (the pooled,
            normalised graph features before the code layers). Training does not depend on it.
    """

    #: the flat keys of checkpoints before ``model.decoder`` (the encoder had the shared ones)
    moved_keys: ClassVar[dict[str, tuple[str, ...]]] = MOVED_SHARED_CELL_KEYS

    encoder_size: int = 512
    latent_size: int = 128
    encoder_cell: str = "lstm"
    encoder_recurrent_dropout: float = 0.1
    encoder_hyper_size: int = 256
    encoder_hyper_embedding_size: int = 32
    decoder: MixtureDecoderConfig = field(
        default_factory=partial(
            MixtureDecoderConfig, cell="hyper", temperature=0.24, variance_exponent=2.0
        )
    )
    max_strokes: int = 64
    max_stroke_len: int = 128
    perturb_scale: float = 0.1
    perturb_in_eval: bool = True
    max_length: int = 250
    embed_layer: str = "mu"

    def __post_init__(self) -> None:
        for key in (
            "encoder_size",
            "latent_size",
            "encoder_hyper_size",
            "encoder_hyper_embedding_size",
            "max_strokes",
            "max_stroke_len",
            "max_length",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        check_cell_type("encoder_cell", self.encoder_cell)
        check_recurrent_dropout("encoder_recurrent_dropout", self.encoder_recurrent_dropout)
        if not self.perturb_scale >= 0:
            raise ConfigError(f"config key 'perturb_scale' must be >= 0, got {self.perturb_scale}")
        if self.embed_layer not in ("mu", "hidden"):
            raise ConfigError(
                f"config key 'embed_layer' is {self.embed_layer!r}: choose mu or hidden"
            )


# ---------------------------------------------------------------------------------- sequences
def absolute_stroke5(strokes5: Tensor, mask: Tensor) -> Tensor:
    """Stroke-5 with ``S0`` whose ``x, y`` are absolute positions (the reference decoder's rows).

    Args:
        strokes5: ``(B, T + 1, 5)`` offsets, start token in row 0.
        mask: ``(B, T + 1)`` real rows (with the start token).

    Returns:
        ``(B, T + 1, 5)``: row 0 stays ``S0``; real rows carry the running sum of the offsets;
        padding rows (``p3``) carry ``(0, 0)``, as the reference's ``pad_seq_batch``.
    """
    positions, _, valid = stroke5_positions(strokes5, mask, start_token=True)  # (B, T, 2)
    rows = strokes5.clone()
    rows[:, 1:, :2] = positions * valid[..., None]
    return rows


def offsets_from_absolute(rows: Tensor) -> Tensor:
    """Absolute stroke-5 ``(B, T, 5)`` (no start token; origin before row 0) -> offsets.

    ``dx_t = x_t - x_{t-1}`` with ``x_{-1} = 0`` (``S0`` sits at the origin); end-of-sketch rows
    (``p3``) get ``(0, 0)``. The inverse of the running sum on real rows.
    """
    positions = rows[..., :2]
    previous = torch.cat([torch.zeros_like(positions[:, :1]), positions[:, :-1]], dim=1)
    out = rows.clone()
    out[..., :2] = (positions - previous) * (1.0 - rows[..., 4:5])
    return out


# ---------------------------------------------------------------------------------- the task
def stroke_noise(
    batch: int,
    strokes: int,
    *,
    sample_seeds: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``(B, S, 2)`` standard-normal displacements, one per stroke.

    With ``sample_seeds`` (``(B,)``) sketch ``b``'s stroke ``s`` gets a draw that depends only on
    ``(seed_b, s)`` (Box-Muller on :func:`~sketchssl.methods.masking.counter_uniforms`), so the
    noise of a sketch is the same whatever batch or process it lands in. Otherwise it is drawn
    from ``generator`` (None: torch's global generator).
    """
    if sample_seeds is not None:
        first = counter_uniforms(sample_seeds, strokes, _NOISE_STREAM)  # (B, S) float64
        second = counter_uniforms(sample_seeds, strokes, _NOISE_STREAM + 1)
        radius = torch.sqrt(-2.0 * torch.log1p(-first))  # 1 - u in (0, 1]: finite
        angle = 2.0 * math.pi * second
        noise = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1)
        return noise.to(device=device, dtype=dtype)
    source = generator.device if generator is not None else device
    noise = torch.randn((batch, strokes, 2), generator=generator, device=source, dtype=dtype)
    return noise.to(device)


def perturb_stroke_starts(
    positions: Tensor, pen_up: Tensor, valid: Tensor, noise: Tensor, scale: float
) -> Tensor:
    """Move every stroke after the first rigidly by ``noise * bound * scale`` (the pretext task).

    Args:
        positions: ``(B, T, 2)`` absolute points.
        pen_up: ``(B, T)`` stroke ends.
        valid: ``(B, T)`` real points.
        noise: ``(B, S, 2)`` standard normals, ``S`` at least the most strokes of any sketch;
            entry ``s`` moves stroke ``s`` (entry 0 is ignored: the first stroke stays).
        scale: ``perturb_scale``.

    Returns:
        ``(B, T, 2)`` disturbed positions: each stroke's start point shifted and its other points
        with it, so the shape inside a stroke is kept.
    """
    ids = stroke_ids(pen_up, valid)  # (B, T), -1 on padding
    real = valid[..., None]
    infinity = torch.finfo(positions.dtype).max
    low = torch.where(real, positions, torch.full_like(positions, infinity)).amin(dim=1)
    high = torch.where(real, positions, torch.full_like(positions, -infinity)).amax(dim=1)
    bound = (high - low).amax(dim=1).clamp(min=0.0)  # (B,) larger side of the sketch
    shifts = noise * (bound * scale)[:, None, None]  # (B, S, 2)
    shifts = torch.cat([torch.zeros_like(shifts[:, :1]), shifts[:, 1:]], dim=1)
    per_row = shifts.gather(1, ids.clamp(min=0)[..., None].expand(-1, -1, 2))  # (B, T, 2)
    return positions + per_row * real


# ---------------------------------------------------------------------------------- encoder
class StrokeEncoder(nn.Module):
    """Bidirectional RNN over each stroke's absolute points -> ``(N, 2H)``.

    All pieces of a batch go through one call; each direction stops at the piece's own length
    (the backward direction reads the sequence reversed within its length), as the reference's
    ``bidirectional_dynamic_rnn`` with ``sequence_length``.

    Args:
        hidden_size: units per direction.
        cell_type: ``lstm``, ``layer_norm`` or ``hyper``.
        recurrent_dropout: drop probability of the candidate while training.
        hyper_size: hyper LSTM units for ``hyper``.
        hyper_embedding_size: hyper embedding width for ``hyper``.
    """

    def __init__(
        self,
        hidden_size: int,
        cell_type: str = "lstm",
        recurrent_dropout: float = 0.0,
        hyper_size: int = 256,
        hyper_embedding_size: int = 32,
    ) -> None:
        super().__init__()
        options = {
            "recurrent_dropout": recurrent_dropout,
            "hyper_size": hyper_size,
            "hyper_embedding_size": hyper_embedding_size,
        }
        self.forward_cell = make_cell(cell_type, 2, hidden_size, **options)
        self.backward_cell = make_cell(cell_type, 2, hidden_size, **options)

    def forward(self, points: Tensor, lengths: Tensor) -> Tensor:
        """Embed ``points (N, L, 2)`` with ``lengths (N,)`` (each at least 1) -> ``(N, 2H)``."""
        reversed_points = reverse_padded(points, lengths)
        if self._packed(self.forward_cell) and self._packed(self.backward_cell):
            return torch.cat(
                [
                    self._packed_last(self.forward_cell, points, lengths),
                    self._packed_last(self.backward_cell, reversed_points, lengths),
                ],
                dim=1,
            )
        forward_out, _ = self.forward_cell.sequence(points)  # (N, L, H)
        backward_out, _ = self.backward_cell.sequence(reversed_points)
        last = (lengths - 1).to(points.device)[:, None, None].expand(-1, 1, forward_out.shape[2])
        return torch.cat(
            [forward_out.gather(1, last)[:, 0], backward_out.gather(1, last)[:, 0]], dim=1
        )

    def _packed(self, cell: nn.Module) -> bool:
        """Whether ``cell`` can run fused over packed sequences (an LSTM without active dropout)."""
        return isinstance(cell, LSTMCell) and not (self.training and cell.recurrent_dropout > 0)

    @staticmethod
    def _packed_last(cell: LSTMCell, points: Tensor, lengths: Tensor) -> Tensor:
        """``h`` after each sequence's last real step ``(N, H)``, padding never computed.

        The same function as :meth:`LSTMCell.sequence` read at ``length - 1``; strokes are short
        and padded to the batch's longest, so skipping the padding saves most of the work.
        """
        packed = pack_padded_sequence(points, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (last_hidden, _) = cell.lstm(packed)  # (1, N, H), in the input order
        return last_hidden[0]


class SketchGlocEncoder(nn.Module):
    """Strokes -> grid multi-graph GCN -> ``(mu, log sigma^2)`` (module docstring, steps 2-4).

    Args:
        config: the method's config (sizes, cell type, dropout).
    """

    def __init__(self, config: SketchGlocConfig) -> None:
        super().__init__()
        self.strokes = StrokeEncoder(
            config.encoder_size,
            config.encoder_cell,
            recurrent_dropout=config.encoder_recurrent_dropout,
            hyper_size=config.encoder_hyper_size,
            hyper_embedding_size=config.encoder_hyper_embedding_size,
        )
        features = 2 * config.encoder_size
        self.graph = GridGraphConvolution(features)
        # tf.contrib.layers.batch_norm(decay=0.9, epsilon=1e-5): torch momentum = 1 - decay
        self.norm = nn.BatchNorm1d(features, eps=1e-5, momentum=0.1)
        self.mu = nn.Linear(features, config.latent_size)
        self.log_variance = nn.Linear(features, config.latent_size)

    def forward(self, pieces: StrokePieces, graphs: Tensor) -> tuple[Tensor, Tensor]:
        """Encode.

        Args:
            pieces: the strokes of ``B`` sketches.
            graphs: ``(B, 9, S, S)`` grid graphs over the same slots.

        Returns:
            ``mu`` and ``log sigma^2``, each ``(B, Z)``.
        """
        hidden = self.hidden(pieces, graphs)
        return self.mu(hidden), self.log_variance(hidden)

    def hidden(self, pieces: StrokePieces, graphs: Tensor) -> Tensor:
        """``(B, 2H)``: the normalised graph-pooled stroke features, before the code layers."""
        embedded = self.strokes(pieces.points, pieces.lengths)  # (N, 2H)
        slots, _ = to_slots(embedded, pieces, graphs.shape[-1])  # (B, S, 2H), zero when empty
        pooled = self.graph(slots, graphs).sum(dim=1)  # (B, 2H)
        return torch.tanh(self.norm(pooled))


# ---------------------------------------------------------------------------------- the method
@register_method(
    "sketchgloc",
    "SketchGloc: stroke-placement correction, grid multi-graph stroke encoder, mixture decoder",
)
class SketchGloc(LatentDecoderMethod):
    """SketchGloc (Wang et al., IJCAI 2024) as a :class:`SketchMethod`.

    Batches must come from a dataset built with ``start_token=True`` and, as the reference,
    ``normalization="std"``. ``embed`` returns ``mu`` of the undisturbed input; ``generate``
    decodes (absolute coordinates) and returns stroke-5 offsets.

    Attributes:
        generator: random source for the displacements (without ``sample_seed``), ``eps`` and
            sampling; None uses torch's global generator.

    Examples:
        >>> from sketchssl.methods.latent_decoder import MixtureDecoderConfig
        >>> config = SketchGlocConfig(encoder_size=8, latent_size=4, encoder_recurrent_dropout=0.0,
        ...     decoder=MixtureDecoderConfig(size=16, num_mixtures=2, recurrent_dropout=0.0))
        >>> model = SketchGloc(config)
        >>> strokes = torch.zeros(3, 11, 5); strokes[:, :, 4] = 1
        >>> strokes[:, 0] = torch.tensor([0.0, 0, 1, 0, 0])
        >>> strokes[:, 1:4] = torch.tensor([0.5, 0.5, 1, 0, 0]); strokes[:, 2, 2:4] = torch.tensor(
        ...     [0.0, 1])
        >>> mask = torch.zeros(3, 11, dtype=torch.bool); mask[:, :4] = True
        >>> batch = {"strokes5": strokes, "mask": mask}
        >>> sorted(model.loss(batch))
        ['loss', 'offset_loss', 'pen_loss']
        >>> model.eval().embed(batch).shape, model.generate(batch, max_len=6).shape
        (torch.Size([3, 4]), torch.Size([3, 6, 5]))
    """

    config_class = SketchGlocConfig
    decoder_reads_absolute = True
    config: SketchGlocConfig

    def __init__(self, config: SketchGlocConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        self.encoder = SketchGlocEncoder(config)
        self.decoder = config.decoder.build(
            config.latent_size,
            # the reference initialises the z -> initial state layer for tanh (variance scaling,
            # factor 5 / 3): the code reaches the decoder's state from the first step, where
            # sketch-rnn's std of 0.001 leaves it to the input path at first
            initial_state_std=math.sqrt(5.0 / (3.0 * config.latent_size)),
        )
        self.generator: torch.Generator | None = None

    # ------------------------------------------------------------------ inputs
    def inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Checked ``strokes5 (B, Nmax + 1, 5)`` (with S0) and ``mask (B, Nmax + 1)``.

        Raises:
            SketchFormatError: missing keys, wrong shapes, no start token, or an empty sketch.
        """
        strokes, _ = decoder_targets(batch, self.method_name)
        return strokes, batch["mask"].bool()

    def stroke_graphs(self, batch: dict[str, Tensor], perturb: bool) -> tuple[StrokePieces, Tensor]:
        """The (disturbed when ``perturb``) strokes of a batch and their ``(B, 9, S, S)`` graphs."""
        if "input_strokes5" in batch:  # a corrupted copy to encode (corruption_view)
            batch = {"strokes5": batch["input_strokes5"], "mask": batch["input_mask"]}
        strokes, mask = self.inputs(batch)
        positions, pen_up, valid = stroke5_positions(strokes, mask, start_token=True)
        if perturb and self.config.perturb_scale > 0:
            count = max(1, int(stroke_ids(pen_up, valid).max()) + 1)
            noise = stroke_noise(
                strokes.shape[0],
                count,
                sample_seeds=batch.get("sample_seed"),
                generator=self.generator,
                device=strokes.device,
                dtype=strokes.dtype,
            )
            positions = perturb_stroke_starts(
                positions, pen_up, valid, noise, self.config.perturb_scale
            )
        pieces = split_strokes(
            positions, pen_up, valid, self.config.max_stroke_len, self.config.max_strokes
        )
        boxes, occupied = to_slots(bounding_boxes(pieces), pieces)  # (B, S, 4), (B, S)
        return pieces, grid_relations(boxes, occupied)

    def encode(self, batch: dict[str, Tensor], perturb: bool = False) -> tuple[Tensor, Tensor]:
        """``mu`` and ``log sigma^2`` ``(B, Z)`` of a batch (disturbed first when ``perturb``)."""
        return self.encoder(*self.stroke_graphs(batch, perturb))

    # ------------------------------------------------------------------ objective
    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Reconstruct the undisturbed sketch (absolute coordinates) from the disturbed one.

        Returns:
            ``loss`` (= ``offset_loss + pen_loss``, per-sketch sums averaged over the batch).
        """
        strokes, mask = self.inputs(batch)
        perturb = self.training or self.config.perturb_in_eval
        mu, log_variance = self.encode(batch, perturb=perturb)
        z = self.sample_latent(mu, log_variance)

        rows = absolute_stroke5(strokes, mask)  # (B, Nmax + 1, 5): the undisturbed target
        longest = int(mask.sum(dim=1).max()) - 1
        offset_loss, pen_loss = self.reconstruction_terms(rows, longest, z, normaliser=len(rows))
        return {
            "loss": offset_loss + pen_loss,
            "offset_loss": offset_loss.detach(),
            "pen_loss": pen_loss.detach(),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``mu`` ``(B, latent_size)`` of the sketches as given, or the encoder's features.

        With ``embed_layer: hidden``: the features before the code layers ``(B, 2H)``; the
        sketches are not disturbed either way.
        """
        if self.config.embed_layer == "mu":
            return self.encode(batch, perturb=False)[0]
        return self.encoder.hidden(*self.stroke_graphs(batch, perturb=False))

    point_parts_key = "parts"

    def point_features(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, Nmax + 1, 4 * encoder_size)``: each ``strokes5`` row gets its stroke's features.

        Those of the stroke piece it lies on: the stroke encoder's output and the grid-graph
        convolution's output at that stroke's slot (zero on the start token, padding and rows
        of pieces past ``max_strokes``).
        """
        strokes, mask = self.inputs(batch)
        positions, pen_up, valid = stroke5_positions(strokes, mask, start_token=True)
        config = self.config
        pieces = split_strokes(positions, pen_up, valid, config.max_stroke_len, config.max_strokes)
        rows = row_pieces(pen_up, valid, config.max_stroke_len, config.max_strokes)  # (B, T')
        boxes, occupied = to_slots(bounding_boxes(pieces), pieces)
        graphs = grid_relations(boxes, occupied)  # (B, 9, S, S)
        embedded = self.encoder.strokes(pieces.points, pieces.lengths)  # (N, 2H)
        slots, _ = to_slots(embedded, pieces, graphs.shape[-1])  # (B, S, 2H)
        convolved = self.encoder.graph(slots, graphs)  # (B, S, 2H)
        per_piece = torch.cat([embedded, convolved[pieces.sketch, pieces.slot]], dim=1)
        features = per_piece[rows.clamp(min=0)] * (rows >= 0)[..., None]  # (B, T', 4H)
        return F.pad(features, (0, 0, 1, 0))  # the start token's row

    # ------------------------------------------------------------------ drawing
    @torch.no_grad()
    def generate(
        self,
        source: dict[str, Tensor] | Tensor | int,
        temperature: float | None = None,
        greedy: bool = False,
        *,
        max_len: int | None = None,
        use_mean: bool = True,
        perturb: bool = False,
    ) -> Tensor:
        """Draw stroke-5 sketches (decoded in absolute coordinates, returned as offsets).

        Call ``eval()`` first so recurrent dropout and batch statistics are off.

        Args:
            source: a batch (encode, then decode: reconstruction, healing or correction), a
                ``(B, Z)`` tensor of codes, or a count ``n`` (``z ~ N(0, I)``; SketchGloc has no
                KL term, so its codes need not follow that prior).
            temperature: sampling temperature; None uses ``config.decoder.temperature``.
            greedy: the most likely component and pen state and the component mean.
            max_len: most points per sketch; None uses ``config.max_length``.
            use_mean: for a batch, decode ``mu`` rather than a sample.
            perturb: for a batch, disturb its strokes first (the correction task at
                ``perturb_scale``), drawing from :attr:`generator`.

        Returns:
            ``(B, max_len, 5)`` stroke-5 offsets without the start token.
        """
        if isinstance(source, dict):
            mu, log_variance = self.encode(source, perturb=perturb)
            z = mu if use_mean else self.sample_latent(mu, log_variance)
        else:
            z = self.latent_codes(source)
        absolute = self.decode_codes(z, temperature, greedy, max_len)  # (B, L, 5) absolute x, y
        return offsets_from_absolute(absolute)
