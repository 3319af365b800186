"""The shared part of the methods that draw a sketch's Gaussian code with the mixture decoder.

Each encodes a sketch to ``z`` and decodes it to stroke-5 with
:class:`~sketchssl.nn.decoder.MixtureDecoder`. sketch-rnn (Ha & Eck, ICLR 2018), SP-gra2seq
(Zang et al., AAAI 2023), SketchGloc, Lmser-pix2seq and vectorization differ in their encoders
and extra losses, and share the rest, which lives here:

* :class:`MixtureDecoderConfig`: the decoder's settings, its sampler's and its reconstruction
  loss's, held by every such method's config as ``decoder`` (``model.decoder.size=512``);
* :data:`MOVED_DECODER_KEYS` (and :data:`MOVED_SHARED_CELL_KEYS`): where the flat keys of the
  configs before ``model.decoder`` moved (old checkpoints are upgraded with them, a user's flat
  key is an error naming the new place);
* :func:`check_cell_type` / :func:`check_recurrent_dropout`: the checks of a recurrent cell's
  keys, for the decoder and for the recurrent encoders;
* :func:`decoder_targets`: the checked stroke-5 rows the decoder reads and predicts (with the
  start token ``S0``) and each sketch's point count;
* :class:`LatentDecoderMethod`: the reparameterised sample of ``z``, the codes of an
  unconditional draw, the decoding of codes with the sampling settings of the method's config,
  and the reconstruction loss with sketch-rnn's step count rules.

A subclass's config carries ``latent_size`` and ``max_length`` (encoders and the evaluation
read them too) and ``decoder`` (a :class:`MixtureDecoderConfig`); the subclass sets
``self.decoder`` (a ``MixtureDecoder``, built with :meth:`MixtureDecoderConfig.build`) and
``self.generator`` (None or a ``torch.Generator`` that every draw reads, for reproducible
samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, require_keys
from sketchssl.nn.decoder import START_POINT, MixtureDecoder, drop_input_rows
from sketchssl.nn.mixture import reconstruction_loss
from sketchssl.nn.rnn import CELL_TYPES

__all__ = [
    "MOVED_DECODER_KEYS",
    "MOVED_SHARED_CELL_KEYS",
    "LatentDecoderMethod",
    "MixtureDecoderConfig",
    "check_cell_type",
    "check_recurrent_dropout",
    "decoder_targets",
]


def check_cell_type(key: str, value: str) -> None:
    """Raise a :class:`ConfigError` unless ``value`` names a recurrent cell (``key`` in it)."""
    if value not in CELL_TYPES:
        raise ConfigError(f"config key {key!r} is {value!r}: choose one of {', '.join(CELL_TYPES)}")


def check_recurrent_dropout(key: str, value: float) -> None:
    """Raise a :class:`ConfigError` unless ``0 <= value < 1`` (``key`` in the message)."""
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"config key {key!r} must be in [0, 1), got {value}")


@dataclass
class MixtureDecoderConfig:
    """The mixture decoder of the drawing methods: ``model.decoder.*``.

    The network (:class:`~sketchssl.nn.decoder.MixtureDecoder`), the sampler of
    :meth:`LatentDecoderMethod.decode_codes` and the steps its reconstruction loss runs. The
    defaults are sketch-rnn's (magenta ``get_default_hparams``); each method's config gives its
    own paper's values as the default of its ``decoder`` field, and a ``decoder:`` section of a
    preset or an override changes only the keys it names.

    Attributes:
        size: decoder cell units (sketch-rnn ``dec_rnn_size``).
        num_mixtures: Gaussian mixture components ``M`` of the offsets (``num_mixture``).
        cell: ``lstm``, ``layer_norm`` or ``hyper`` (``dec_model``).
        recurrent_dropout: drop probability of the cell candidate while training (magenta
            keeps ``recurrent_dropout_prob`` 0.9, so 0.1). 0 lets the ``lstm`` cell run fused
            (faster).
        hyper_size: hyper LSTM units of a ``hyper`` cell (magenta's ``HyperLSTMCell``
            ``hyper_num_units``, 256).
        hyper_embedding_size: hyper embedding width of a ``hyper`` cell (``hyper_embedding_size``,
            32).
        temperature: default sampling temperature of ``generate`` (magenta ``sample``'s
            ``temperature``).
        pen_temperature: temperature of the pen state when sampling; None (default) uses the
            sampling temperature, as the paper does. 1.0 keeps the model's own pen rates at a
            low offset temperature (:func:`~sketchssl.nn.mixture.sample_mixture`).
        variance_exponent: sampling variances are scaled by ``temperature ** variance_exponent``:
            1 as the paper says, 2 as magenta's ``sample`` code does.
        trim_padding: in training, run the decoder only to the longest sketch of the batch plus
            one end-of-sketch row. Faster on batches much shorter than ``data.max_len``; the pen
            loss of the skipped end rows is then left out (the normaliser stays as it was).
            Evaluation with ``mask_pen_loss_in_eval`` always trims, exactly.
        mask_pen_loss_in_eval: in eval mode count the pen loss on real rows only (magenta's
            ``is_training=False``). magenta's own ``evaluate_model`` builds its eval model with
            ``is_training=1``, i.e. unmasked: set False to compare with numbers it printed.
        input_dropout: while training, each teacher-forced input row after ``S0`` is zeroed
            with this probability (word dropout, :func:`~sketchssl.nn.decoder.drop_input_rows`)
            so that the decoder has to read ``z``. 0 (default) is every seed paper's decoder;
            not used when sampling or evaluating.

    Examples:
        >>> decoder = MixtureDecoderConfig(size=256, num_mixtures=10).build(latent_size=64)
        >>> decoder.head.in_features, decoder.num_mixtures
        (256, 10)
    """

    size: int = 512
    num_mixtures: int = 20
    cell: str = "lstm"
    recurrent_dropout: float = 0.1
    hyper_size: int = 256
    hyper_embedding_size: int = 32
    temperature: float = 1.0
    pen_temperature: float | None = None
    variance_exponent: float = 1.0
    trim_padding: bool = False
    mask_pen_loss_in_eval: bool = True
    input_dropout: float = 0.0

    def __post_init__(self) -> None:
        for key in ("size", "num_mixtures", "hyper_size", "hyper_embedding_size"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key 'decoder.{key}' must be at least 1, got {getattr(self, key)}"
                )
        check_cell_type("decoder.cell", self.cell)
        check_recurrent_dropout("decoder.recurrent_dropout", self.recurrent_dropout)
        check_recurrent_dropout("decoder.input_dropout", self.input_dropout)
        if not self.temperature > 0:
            raise ConfigError(
                f"config key 'decoder.temperature' must be positive, got {self.temperature}"
            )
        if self.pen_temperature is not None and not self.pen_temperature > 0:
            raise ConfigError(
                "config key 'decoder.pen_temperature' must be positive or null, got "
                f"{self.pen_temperature}"
            )

    def build(self, latent_size: int, **options: Any) -> MixtureDecoder:
        """The :class:`~sketchssl.nn.decoder.MixtureDecoder` of these settings reading ``z``.

        ``options`` go to the decoder as they are (``initial_state_std``, ``limits``).
        """
        return MixtureDecoder(
            latent_size,
            self.size,
            self.num_mixtures,
            self.cell,
            recurrent_dropout=self.recurrent_dropout,
            hyper_size=self.hyper_size,
            hyper_embedding_size=self.hyper_embedding_size,
            **options,
        )


#: The flat model keys of the drawing methods' configs before ``model.decoder`` and where each
#: went (a method config's ``moved_keys``; sketch-rnn and SketchGloc add their encoders' copies).
MOVED_DECODER_KEYS: dict[str, tuple[str, ...]] = {
    "decoder_size": ("decoder.size",),
    "num_mixtures": ("decoder.num_mixtures",),
    "decoder_cell": ("decoder.cell",),
    "recurrent_dropout": ("decoder.recurrent_dropout",),
    "hyper_size": ("decoder.hyper_size",),
    "hyper_embedding_size": ("decoder.hyper_embedding_size",),
    "temperature": ("decoder.temperature",),
    "pen_temperature": ("decoder.pen_temperature",),
    "variance_exponent": ("decoder.variance_exponent",),
    "trim_padding": ("decoder.trim_padding",),
    "mask_pen_loss_in_eval": ("decoder.mask_pen_loss_in_eval",),
}

#: :data:`MOVED_DECODER_KEYS` of a method whose recurrent encoder shared the decoder's cell
#: options: the old value goes to both (``encoder_recurrent_dropout``, ``encoder_hyper_size``,
#: ``encoder_hyper_embedding_size``), so an old checkpoint is rebuilt as it was trained.
MOVED_SHARED_CELL_KEYS: dict[str, tuple[str, ...]] = {
    **MOVED_DECODER_KEYS,
    "recurrent_dropout": ("decoder.recurrent_dropout", "encoder_recurrent_dropout"),
    "hyper_size": ("decoder.hyper_size", "encoder_hyper_size"),
    "hyper_embedding_size": ("decoder.hyper_embedding_size", "encoder_hyper_embedding_size"),
}


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
    #: the decoder reads and draws absolute positions rather than offsets (SketchGloc)
    decoder_reads_absolute: bool = False

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

        ``temperature`` and ``max_len`` default to the config's ``decoder.temperature`` and
        ``max_length``; the pen temperature and variance exponent are ``decoder``'s.
        """
        settings = self.config.decoder
        return self.decoder.sample(
            z,
            max_len=max_len or self.config.max_length,
            temperature=settings.temperature if temperature is None else temperature,
            greedy=greedy,
            variance_exponent=settings.variance_exponent,
            pen_temperature=settings.pen_temperature,
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
        training with ``decoder.trim_padding`` or when evaluating with
        ``decoder.mask_pen_loss_in_eval``, whose pen loss then skips the padding; both terms are
        divided by ``normaliser`` (see :func:`~sketchssl.nn.mixture.reconstruction_loss`).
        In training, ``decoder.input_dropout`` zeroes a share of the input rows, never the
        targets.
        """
        settings = self.config.decoder
        padded = rows.shape[1] - 1  # Nmax: the decoder's steps before any cut
        mask_pen = (not self.training) and settings.mask_pen_loss_in_eval
        steps = padded
        if mask_pen or (self.training and settings.trim_padding):
            steps = min(padded, longest + 1)
        inputs = rows[:, :steps]  # (B, U, 5)
        if self.training and settings.input_dropout > 0:
            inputs = drop_input_rows(inputs, settings.input_dropout, self.generator)
        params = self.decoder.mixture(self.decoder(inputs, z))
        return reconstruction_loss(
            params, rows[:, 1 : steps + 1], mask_pen_padding=mask_pen, normaliser=normaliser
        )
