"""sketch-rnn: a sequence-to-sequence VAE over stroke-5 sketches (Ha & Eck).

- [0] Ha, Eck, "A Neural Representation of Sketch Drawings", ICLR 2018,
  https://arxiv.org/abs/1704.03477; reference code magenta ``magenta/models/sketch_rnn``
  (``model.py``: ``get_default_hparams``, ``encoder``, ``build_model``;
  ``sketch_rnn_train.py``: the learning-rate and KL-weight schedules).

Encoder: a bidirectional LSTM over the sketch's stroke-5 rows (the start token excluded), read to
each sketch's own length; the two last hidden states, concatenated, give ``mu`` and
``log sigma^2`` (linear maps initialised with std 0.001). ``z = mu + sigma * eps``.
Decoder: :class:`~sketchssl.nn.decoder.MixtureDecoder` reading ``[S_{t-1}, z]``.

Loss, as the magenta code computes it (checked against ``model.py`` / ``sketch_rnn_train.py``):

* ``recon = L_s + L_p`` (:func:`~sketchssl.nn.mixture.reconstruction_loss`), both divided by
  ``Nmax * batch`` where ``Nmax`` is the batch's padded length (``data.max_len``);
* ``kl = -0.5 * mean(1 + log sigma^2 - mu^2 - sigma^2)``, the mean taken over the batch **and the
  latent dimensions** (magenta's ``reduce_mean``), then floored at ``kl_tolerance`` (0.2);
* ``loss = recon + w_t * max(kl, kl_tolerance)`` with
  ``w_t = kl_weight - (kl_weight - kl_weight_start) * kl_decay_rate ** t`` (0.01 rising toward
  0.5). The paper writes ``w_KL * eta_t`` with ``eta_t = 1 - (1 - 0.01) 0.99995^t``; the code,
  followed here, anneals the weight itself from 0.01 to 0.5.

The training step ``t`` comes from ``batch["step"]`` when the batch has it; otherwise from the
model's own counter, the buffer ``training_steps``, which each ``loss`` call in training mode
advances by one. It is part of the state dict, so checkpoints resume the annealing where it was
(the training layer does not pass the step to methods).

Differences from magenta that the training layer imposes: it clips the global gradient norm
(magenta clips each gradient value to ``+-grad_clip``), and sketch-rnn's augmentations
(``random_scale_factor`` 0.15, ``augment_stroke_prob`` 0.1) are not applied by the data module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from sketchssl.errors import ConfigError
from sketchssl.methods.latent_decoder import (
    MOVED_SHARED_CELL_KEYS,
    LatentDecoderMethod,
    MixtureDecoderConfig,
    check_cell_type,
    check_recurrent_dropout,
    decoder_targets,
)
from sketchssl.methods.registry import register_method
from sketchssl.nn.rnn import make_cell, reverse_padded

__all__ = ["SketchRNNConfig", "SketchRNNEncoder", "SketchRNN", "kl_divergence"]


@dataclass
class SketchRNNConfig:
    """sketch-rnn hyper-parameters; defaults are magenta's ``get_default_hparams``.

    Attributes:
        encoder_size: units of each encoder direction (``enc_rnn_size``).
        latent_size: width of ``z`` (``z_size``).
        encoder_cell: ``lstm``, ``layer_norm`` or ``hyper`` (``enc_model``).
        encoder_recurrent_dropout: drop probability of the encoder cells' candidate while
            training (magenta shares ``recurrent_dropout_prob`` 0.9 with the decoder, so 0.1).
        encoder_hyper_size: hyper LSTM units of a ``hyper`` encoder cell (magenta 256).
        encoder_hyper_embedding_size: hyper embedding width of a ``hyper`` encoder cell (32).
        decoder: the mixture decoder, its sampler and its loss's steps
            (:class:`~sketchssl.methods.latent_decoder.MixtureDecoderConfig`: ``decoder.size`` is
            ``dec_rnn_size``, ``decoder.num_mixtures`` ``num_mixture``, ``decoder.cell``
            ``dec_model``); magenta's defaults.
        kl_weight: final KL weight.
        kl_weight_start: KL weight at step 0.
        kl_decay_rate: per-step factor of the KL-weight annealing.
        kl_tolerance: the KL term is floored at this (no gradient below it).
        max_length: points :meth:`SketchRNN.generate` draws at most (``max_seq_len``).
        embed_layer: what :meth:`SketchRNN.embed` returns: ``mu`` (the posterior mean, the
            code the decoder reads) or ``hidden`` (the encoder's last states of both
            directions, before the code layer). Training does not depend on it.
    """

    #: the flat keys of checkpoints before ``model.decoder`` (the encoder had the shared ones)
    moved_keys: ClassVar[dict[str, tuple[str, ...]]] = MOVED_SHARED_CELL_KEYS

    encoder_size: int = 256
    latent_size: int = 128
    encoder_cell: str = "lstm"
    encoder_recurrent_dropout: float = 0.1
    encoder_hyper_size: int = 256
    encoder_hyper_embedding_size: int = 32
    decoder: MixtureDecoderConfig = field(default_factory=MixtureDecoderConfig)
    kl_weight: float = 0.5
    kl_weight_start: float = 0.01
    kl_decay_rate: float = 0.99995
    kl_tolerance: float = 0.2
    max_length: int = 250
    embed_layer: str = "mu"

    def __post_init__(self) -> None:
        if self.embed_layer not in ("mu", "hidden"):
            raise ConfigError(
                f"config key 'embed_layer' is {self.embed_layer!r}: choose mu or hidden"
            )
        for key in (
            "encoder_size",
            "latent_size",
            "encoder_hyper_size",
            "encoder_hyper_embedding_size",
            "max_length",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        check_cell_type("encoder_cell", self.encoder_cell)
        check_recurrent_dropout("encoder_recurrent_dropout", self.encoder_recurrent_dropout)
        if not 0.0 < self.kl_decay_rate <= 1.0:
            raise ConfigError(
                f"config key 'kl_decay_rate' must be in (0, 1], got {self.kl_decay_rate}"
            )
        for key in ("kl_weight", "kl_weight_start", "kl_tolerance"):
            if getattr(self, key) < 0:
                raise ConfigError(f"config key {key!r} must be >= 0, got {getattr(self, key)}")


def kl_divergence(mu: Tensor, log_variance: Tensor) -> Tensor:
    """``KL(N(mu, sigma^2) || N(0, I))`` averaged over batch and latent dimensions (magenta)."""
    return -0.5 * torch.mean(1.0 + log_variance - mu.pow(2) - log_variance.exp())


class SketchRNNEncoder(nn.Module):
    """Bidirectional RNN over stroke-5 rows -> ``(mu, log sigma^2)``.

    Each direction stops at the sketch's own length: the forward direction's output at row
    ``length - 1``, and the backward direction run over the sequence reversed within its length
    (:func:`~sketchssl.nn.rnn.reverse_padded`), so padding never reaches the code.

    Args:
        hidden_size: units per direction.
        latent_size: width of ``z``.
        cell_type: ``lstm``, ``layer_norm`` or ``hyper``.
        recurrent_dropout: drop probability of the cell candidate while training.
        hyper_size: hyper LSTM units for ``hyper``.
        hyper_embedding_size: hyper embedding width for ``hyper``.
    """

    def __init__(
        self,
        hidden_size: int,
        latent_size: int,
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
        self.forward_cell = make_cell(cell_type, 5, hidden_size, **options)
        self.backward_cell = make_cell(cell_type, 5, hidden_size, **options)
        self.mu = nn.Linear(2 * hidden_size, latent_size)
        self.log_variance = nn.Linear(2 * hidden_size, latent_size)
        for layer in (self.mu, self.log_variance):
            nn.init.normal_(layer.weight, std=0.001)  # magenta: init_w='gaussian', 0.001
            nn.init.zeros_(layer.bias)

    def forward(self, strokes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Encode.

        Args:
            strokes: ``(B, T, 5)`` stroke-5 rows without the start token.
            lengths: ``(B,)`` real rows per sketch, ``1 <= length <= T``.

        Returns:
            ``mu`` and ``log sigma^2``, each ``(B, Z)``.
        """
        final = self.final_states(strokes, lengths)  # (B, 2H)
        return self.mu(final), self.log_variance(final)

    def final_states(self, strokes: Tensor, lengths: Tensor) -> Tensor:
        """``(B, 2H)``: each direction's state after its last real row, concatenated."""
        forward_out, backward_out = self.directions(strokes, lengths)
        last = (lengths - 1).to(strokes.device)[:, None, None]  # (B, 1, 1)
        index = last.expand(-1, 1, forward_out.shape[2])
        return torch.cat(
            [forward_out.gather(1, index)[:, 0], backward_out.gather(1, index)[:, 0]], dim=1
        )

    def directions(self, strokes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Outputs of both directions ``(B, T, H)`` each.

        The backward one is as it ran: reversed within each sketch's length.
        """
        forward_out, _ = self.forward_cell.sequence(strokes)  # (B, T, H)
        backward_out, _ = self.backward_cell.sequence(reverse_padded(strokes, lengths))
        return forward_out, backward_out

    def row_features(self, strokes: Tensor, lengths: Tensor) -> Tensor:
        """``(B, T, 2H)``: both directions' states at every row.

        The forward state has read the sketch up to the row, the backward one from its end down
        to the row; zero past each sketch's length.
        """
        forward_out, backward_out = self.directions(strokes, lengths)
        features = torch.cat([forward_out, reverse_padded(backward_out, lengths)], dim=2)
        steps = torch.arange(strokes.shape[1], device=strokes.device)[None, :, None]
        return features * (steps < lengths.to(strokes.device)[:, None, None])


@register_method(
    "sketch_rnn",
    "sketch-rnn VAE: bi-LSTM encoder, autoregressive Gaussian-mixture decoder, annealed KL",
)
class SketchRNN(LatentDecoderMethod):
    """sketch-rnn (Ha & Eck 2018) as a :class:`SketchMethod`.

    Batches must come from a dataset built with ``start_token=True`` (``data.start_token:
    true``) and, to follow the paper, ``normalization="std"``. ``embed`` returns ``mu``;
    ``generate`` draws sketches from codes, from encoded sketches or from the prior.

    Attributes:
        generator: random source for ``eps`` and sampling; None (default) uses torch's global
            generator, which the training layer re-seeds each step.

    Examples:
        >>> from sketchssl.methods.latent_decoder import MixtureDecoderConfig
        >>> config = SketchRNNConfig(encoder_size=8, latent_size=4, encoder_recurrent_dropout=0.0,
        ...     decoder=MixtureDecoderConfig(size=16, num_mixtures=2, recurrent_dropout=0.0))
        >>> model = SketchRNN(config)
        >>> strokes = torch.zeros(3, 11, 5); strokes[:, :, 4] = 1; strokes[:, 0] = torch.tensor(
        ...     [0.0, 0, 1, 0, 0]); strokes[:, 1:4] = torch.tensor([0.5, 0.5, 1, 0, 0])
        >>> mask = torch.zeros(3, 11, dtype=torch.bool); mask[:, :4] = True
        >>> batch = {"strokes5": strokes, "mask": mask}
        >>> sorted(model.loss(batch))
        ['kl', 'kl_weight', 'loss', 'offset_loss', 'pen_loss', 'recon']
        >>> model.embed(batch).shape, model.eval().generate(batch, max_len=6).shape
        (torch.Size([3, 4]), torch.Size([3, 6, 5]))
    """

    config_class = SketchRNNConfig
    config: SketchRNNConfig

    def __init__(self, config: SketchRNNConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        self.encoder = SketchRNNEncoder(
            config.encoder_size,
            config.latent_size,
            config.encoder_cell,
            recurrent_dropout=config.encoder_recurrent_dropout,
            hyper_size=config.encoder_hyper_size,
            hyper_embedding_size=config.encoder_hyper_embedding_size,
        )
        self.decoder = config.decoder.build(config.latent_size)
        # the KL annealing step; advanced by loss() in training mode, saved in checkpoints
        self.register_buffer("training_steps", torch.zeros((), dtype=torch.long))
        self.generator: torch.Generator | None = None

    # ------------------------------------------------------------------ inputs
    def inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Checked ``strokes5 (B, Nmax + 1, 5)`` (with S0) and point counts ``(B,)``.

        Raises:
            SketchFormatError: missing keys, wrong shapes, no start token, or an empty sketch.
        """
        return decoder_targets(batch, self.method_name)

    def encoder_inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """What the encoder reads: ``strokes5`` (with ``S0``) and point counts.

        Or the corrupted copy ``input_strokes5`` / ``input_mask`` when a training batch carries
        one (:mod:`sketchssl.render.corruption_view`); the decoder still draws ``strokes5``.
        """
        if "input_strokes5" in batch:
            copy = {"strokes5": batch["input_strokes5"], "mask": batch["input_mask"]}
            return decoder_targets(copy, self.method_name)
        return self.inputs(batch)

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``mu`` and ``log sigma^2`` ``(B, Z)`` of a batch."""
        strokes, lengths = self.encoder_inputs(batch)
        longest = int(lengths.max())
        return self.encoder(strokes[:, 1 : 1 + longest], lengths)

    # ------------------------------------------------------------------ objective
    def kl_weight_at(self, step: int | Tensor) -> float:
        """``kl_weight - (kl_weight - kl_weight_start) * kl_decay_rate ** step``."""
        config = self.config
        decay = config.kl_decay_rate ** float(step)
        return config.kl_weight - (config.kl_weight - config.kl_weight_start) * decay

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The objective ``recon + w_t * max(kl, kl_tolerance)``.

        Also returned for logging: ``recon`` (``offset_loss`` + ``pen_loss``), ``kl`` (before
        the floor) and ``kl_weight``.
        """
        strokes, lengths = self.inputs(batch)
        batch_size, padded = strokes.shape[0], strokes.shape[1] - 1  # Nmax
        longest = int(lengths.max())
        mu, log_variance = self.encode(batch)
        z = self.sample_latent(mu, log_variance)
        offset_loss, pen_loss = self.reconstruction_terms(
            strokes, longest, z, normaliser=batch_size * padded
        )
        recon = offset_loss + pen_loss
        kl = kl_divergence(mu, log_variance)
        step = batch.get("step")
        if step is None:
            step = self.training_steps
        elif torch.is_tensor(step):
            step = step.flatten()[0]
        weight = self.kl_weight_at(int(step))
        loss = recon + weight * torch.clamp(kl, min=self.config.kl_tolerance)
        if self.training and "step" not in batch:
            self.training_steps += 1
        return {
            "loss": loss,
            "recon": recon.detach(),
            "offset_loss": offset_loss.detach(),
            "pen_loss": pen_loss.detach(),
            "kl": kl.detach(),
            "kl_weight": torch.tensor(weight),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``mu`` ``(B, latent_size)``, or the encoder's last states (``embed_layer: hidden``).

        The last states are ``(B, 2 * encoder_size)``, both directions concatenated.
        """
        if self.config.embed_layer == "mu":
            return self.encode(batch)[0]
        strokes, lengths = self.inputs(batch)
        return self.encoder.final_states(strokes[:, 1 : 1 + int(lengths.max())], lengths)

    point_parts_key = "parts"

    def point_features(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, Nmax + 1, 2 * encoder_size)``: the bi-LSTM's states at every ``strokes5`` row.

        Zero on the start token and on padding.
        """
        strokes, lengths = self.inputs(batch)
        features = self.encoder.row_features(strokes[:, 1:], lengths)  # (B, Nmax, 2H)
        return torch.nn.functional.pad(features, (0, 0, 1, 0))  # the start token's row

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
    ) -> Tensor:
        """Draw stroke-5 sketches.

        Call ``eval()`` first so recurrent dropout is off.

        Args:
            source: a batch (encode it, then decode: conditional reconstruction), a ``(B, Z)``
                tensor of codes, or a count ``n`` (``z ~ N(0, I)``: unconditional samples).
            temperature: sampling temperature; None uses ``config.decoder.temperature``.
            greedy: take the most likely component and pen state and the component mean.
            max_len: most points per sketch; None uses ``config.max_length``.
            use_mean: for a batch, decode ``mu`` (as SP-gra2seq does) rather than a sample.

        Returns:
            ``(B, max_len, 5)`` stroke-5 without the start token; convert with
            :func:`sketchssl.data.formats.stroke5_to_stroke3` (it stops at the first ``p3``).
        """
        if isinstance(source, dict):
            mu, log_variance = self.encode(source)
            z = mu if use_mean else self.sample_latent(mu, log_variance)
        else:
            z = self.latent_codes(source)
        return self.decode_codes(z, temperature, greedy, max_len)
