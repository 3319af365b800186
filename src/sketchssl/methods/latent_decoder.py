"""The shared part of the methods that draw a sketch's Gaussian code with the mixture decoder.

Each encodes a sketch to ``z`` and decodes it to stroke-5 with
:class:`~sketchssl.nn.decoder.MixtureDecoder`. sketch-rnn (Ha & Eck, ICLR 2018), SP-gra2seq
(Zang et al., AAAI 2023), SketchGloc and Lmser-pix2seq differ in their encoders and extra
losses, and share the rest, which lives here:

* :func:`check_decoder_settings`: the config checks of the decoder and sampler keys;
* :func:`decoder_targets`: the checked stroke-5 rows the decoder reads and predicts (with the
  start token ``S0``) and each sketch's point count;
* :class:`LatentDecoderMethod`: the reparameterised sample of ``z``, the codes of an
  unconditional draw, the decoding of codes with the sampling settings of the method's config,
  and the reconstruction loss with sketch-rnn's step count rules.

A subclass's config carries ``latent_size``, ``max_length``, ``temperature``,
``pen_temperature``, ``variance_exponent``, ``trim_padding`` and ``mask_pen_loss_in_eval``; the
subclass sets ``self.decoder`` (a ``MixtureDecoder``) and ``self.generator`` (None or a
``torch.Generator`` that every draw reads, for reproducible samples).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, require_keys
from sketchssl.nn.decoder import START_POINT, MixtureDecoder
from sketchssl.nn.mixture import reconstruction_loss
from sketchssl.nn.rnn import CELL_TYPES

__all__ = ["LatentDecoderMethod", "check_decoder_settings", "decoder_targets"]


def check_decoder_settings(config: Any, cell_keys: tuple[str, ...] = ("decoder_cell",)) -> None:
    """Validate the decoder and sampler keys the four methods' configs share.

    ``cell_keys`` name the recurrent cells (``lstm``, ``layer_norm``, ``hyper``); also checked:
    ``recurrent_dropout`` in ``[0, 1)``, ``temperature > 0``, ``pen_temperature`` positive or
    None.

    Raises:
        ConfigError: naming the key, its value and what it may be.
    """
    for key in cell_keys:
        if getattr(config, key) not in CELL_TYPES:
            raise ConfigError(
                f"config key {key!r} is {getattr(config, key)!r}: choose one of "
                f"{', '.join(CELL_TYPES)}"
            )
    if not 0.0 <= config.recurrent_dropout < 1.0:
        raise ConfigError(
            f"config key 'recurrent_dropout' must be in [0, 1), got {config.recurrent_dropout}"
        )
    if not config.temperature > 0:
        raise ConfigError(f"config key 'temperature' must be positive, got {config.temperature}")
    if config.pen_temperature is not None and not config.pen_temperature > 0:
        raise ConfigError(
            f"config key 'pen_temperature' must be positive or null, got {config.pen_temperature}"
        )


def decoder_targets(batch: dict[str, Tensor], method: str) -> tuple[Tensor, Tensor]:
    """Checked ``strokes5 (B, Nmax + 1, 5)`` (float, with ``S0``) and point counts ``(B,)``.

    Raises:
        SketchFormatError: missing keys, wrong shapes, no start token or an empty sketch, naming
            ``method`` and what to change.
    """
    require_keys(batch, "strokes5", "mask", method=method)
    strokes, mask = batch["strokes5"].float(), batch["mask"].bool()
    if strokes.dim() != 3 or strokes.shape[-1] != 5 or strokes.shape[1] < 2:
        raise SketchFormatError(
            f"{method}: batch['strokes5'] must have shape (B, T, 5) with T >= 2, got "
            f"{tuple(strokes.shape)}"
        )
    if tuple(mask.shape) != tuple(strokes.shape[:2]):
        raise SketchFormatError(
            f"{method}: batch['mask'] shape {tuple(mask.shape)} does not match strokes5 "
            f"{tuple(strokes.shape[:2])}"
        )
    start = strokes.new_tensor(START_POINT)
    if not torch.equal(strokes[:, 0], start.expand(strokes.shape[0], 5)):
        raise SketchFormatError(
            f"{method}: every sequence must begin with the start token (0, 0, 1, 0, 0); build "
            "the data with start_token=True (data.start_token: true)"
        )
    lengths = mask.sum(dim=1) - 1  # (B,) points after S0
    if (lengths < 1).any():
        raise SketchFormatError(
            f"{method}: sketch {int(torch.nonzero(lengths < 1)[0, 0])} of the batch has no "
            "points; drop empty sketches from the store"
        )
    return strokes, lengths


class LatentDecoderMethod(SketchMethod):
    """Base of the methods that decode a Gaussian code with the mixture decoder."""

    decoder: MixtureDecoder
    generator: torch.Generator | None

    @property
    def method_name(self) -> str:
        """The registered name (the class name for an unregistered subclass), for messages."""
        return self.name or type(self).__name__

    def sample_latent(self, mu: Tensor, log_variance: Tensor) -> Tensor:
        """``z = mu + exp(log_variance / 2) * eps`` with ``eps`` from :attr:`generator`.

        Inside :meth:`latent_use` the means themselves are returned (no noise).
        """
        if getattr(self, "_means_only", False):
            return mu
        device = self.generator.device if self.generator is not None else mu.device
        noise = torch.randn(mu.shape, generator=self.generator, device=device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * log_variance) * noise.to(mu.device)

    def latent_codes(self, source: Tensor | int) -> Tensor:
        """``(B, Z)`` codes: ``n`` draws of ``N(0, I)`` for a count, else the checked tensor.

        Raises:
            SketchFormatError: a tensor that is not ``(B, latent_size)``.
        """
        latent_size = self.config.latent_size
        if isinstance(source, int):
            device = self.generator.device if self.generator is not None else self.device
            noise = torch.randn((source, latent_size), generator=self.generator, device=device)
            return noise.to(self.device)
        codes = source.to(self.device, torch.float32)
        if codes.dim() != 2 or codes.shape[1] != latent_size:
            raise SketchFormatError(
                f"latent codes must have shape (B, {latent_size}), got {tuple(codes.shape)}"
            )
        return codes

    def decode_codes(
        self,
        z: Tensor,
        temperature: float | None = None,
        greedy: bool = False,
        max_len: int | None = None,
    ) -> Tensor:
        """Sample ``(B, max_len, 5)`` stroke-5 rows (no ``S0``) from codes ``z (B, Z)``.

        ``temperature`` and ``max_len`` default to the config's ``temperature`` and
        ``max_length``; the pen temperature and variance exponent are the config's.
        """
        config = self.config
        return self.decoder.sample(
            z,
            max_len=max_len or config.max_length,
            temperature=config.temperature if temperature is None else temperature,
            greedy=greedy,
            variance_exponent=config.variance_exponent,
            pen_temperature=config.pen_temperature,
            generator=self.generator,
        )

    @torch.no_grad()
    def latent_use(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """How much the decoder reads its code (logged at every validation).

        The reconstruction loss (nats per real point, eval mode, the decoder given the true
        strokes) with each sketch's own mean code, with another sketch's code (the batch's codes
        rolled by one) and with a zero code.

        Returns:
            ``latent_gap`` (others' codes minus own, about 0 when the decoder ignores ``z``),
            ``latent_zero_gap`` (zero code minus own), ``code_spread`` (the mean standard
            deviation of the codes across the batch: codes that barely differ carry little)
            and ``own_code_loss``. Needs a batch of at least two sketches.
        """
        captured: dict[str, Any] = {}
        original = self.reconstruction_terms

        def capture(rows: Tensor, longest: int, z: Tensor, normaliser: int | float) -> Any:
            captured.update(rows=rows, longest=longest, z=z)
            return original(rows, longest, z, normaliser)

        was_training = self.training
        self.eval()
        self._means_only = True
        self.reconstruction_terms = capture  # type: ignore[method-assign]
        try:
            self.loss(batch)
        finally:
            del self.reconstruction_terms
            self._means_only = False
            self.train(was_training)
        rows, longest, z = captured["rows"], captured["longest"], captured["z"]
        if z.shape[0] < 2:
            raise SketchFormatError("latent_use needs a batch of at least two sketches")
        points = float((rows[:, 1:, 4] < 0.5).sum().clamp(min=1))  # real rows after S0

        def per_point(codes: Tensor) -> Tensor:
            return sum(original(rows, longest, codes, normaliser=points))

        own = per_point(z)
        return {
            "own_code_loss": own,
            "latent_gap": per_point(z.roll(1, dims=0)) - own,
            "latent_zero_gap": per_point(torch.zeros_like(z)) - own,
            "code_spread": z.std(dim=0).mean(),
        }

    def reconstruction_terms(
        self, rows: Tensor, longest: int, z: Tensor, normaliser: int | float
    ) -> tuple[Tensor, Tensor]:
        """Offsets and pen losses of decoding ``rows (B, Nmax + 1, 5)`` (``S0`` first) from ``z``.

        The decoder reads ``rows[:, :U]`` and predicts ``rows[:, 1 : U + 1]``. ``U`` is the
        padded length ``Nmax``, cut to ``longest + 1`` (one end-of-sketch row stays) when
        training with ``trim_padding`` or when evaluating with ``mask_pen_loss_in_eval``, whose
        pen loss then skips the padding; both terms are divided by ``normaliser`` (see
        :func:`~sketchssl.nn.mixture.reconstruction_loss`).
        """
        padded = rows.shape[1] - 1  # Nmax: the decoder's steps before any cut
        mask_pen = (not self.training) and self.config.mask_pen_loss_in_eval
        steps = padded
        if mask_pen or (self.training and self.config.trim_padding):
            steps = min(padded, longest + 1)
        params = self.decoder.mixture(self.decoder(rows[:, :steps], z))
        return reconstruction_loss(
            params, rows[:, 1 : steps + 1], mask_pen_padding=mask_pen, normaliser=normaliser
        )
