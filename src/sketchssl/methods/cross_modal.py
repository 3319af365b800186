"""Cross-modal pre-training: draw the strokes from the picture, paint the picture from the strokes.

After Bhunia, Chowdhury, Yang, Hospedales, Xiang, Song, "Vectorization and Rasterization:
Self-Supervised Learning for Sketch and Handwriting", CVPR 2021
(https://arxiv.org/abs/2103.13716), with our building blocks (not a seed method):

* ``vectorization``: a CNN reads the sketch's picture; its pooled feature gives a code ``z``
  (a deterministic linear map, as the paper's image encoder) from which sketch-rnn's mixture
  decoder (:class:`~sketchssl.nn.decoder.MixtureDecoder`, the same decoder as sketch-rnn and
  the healers) draws the stroke-5 sequence, teacher-forced, with sketch-rnn's reconstruction
  loss. The representation is the CNN's pooled feature (``embed_layer: conv``) or ``z``.
* ``rasterization``: the Sketch-BERT transformer reads the point sequence; its pooled feature
  goes through a small transposed-convolution decoder that paints the picture, trained with
  per-pixel binary cross-entropy against our own render of the sketch (ink = 1). The
  representation is the pooled transformer feature (``pooling``, ``embed_layer``), and every
  point has a feature (the part probe reads it).

Both train on the ``sequence`` and ``raster`` views of the same sketch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sketchssl.errors import ConfigError
from sketchssl.methods.base import require_keys, sequence_inputs
from sketchssl.methods.contrastive import ImageConfig, ImageTrunk, _SequenceEncoding
from sketchssl.methods.latent_decoder import (
    MOVED_DECODER_KEYS,
    LatentDecoderMethod,
    MixtureDecoderConfig,
    decoder_targets,
)
from sketchssl.methods.registry import register_method
from sketchssl.methods.sketch_bert import SketchBertEncoderConfig

__all__ = [
    "ImageDecoder",
    "Rasterization",
    "RasterizationConfig",
    "Vectorization",
    "VectorizationConfig",
]

VECTOR_EMBED_LAYERS = ("conv", "latent")


@dataclass
class VectorizationConfig(ImageConfig):
    """``vectorization``: the picture encoder (:class:`ImageConfig`) and the mixture decoder.

    Attributes:
        latent_size: width of the code the decoder reads.
        decoder: the mixture decoder, its sampler and its loss's steps
            (:class:`~sketchssl.methods.latent_decoder.MixtureDecoderConfig`); defaults: an
            LSTM of 512 units (fused: no recurrent dropout), 20 mixtures, each batch decoded
            only to its longest sketch (+1 end row), sampling at temperature 0.24 with the pen
            at 1.0.
        max_length: longest sequence drawn (rows after the start token).
        embed_layer: ``conv`` (the pooled CNN feature) or ``latent`` (the code).
    """

    #: the flat keys of checkpoints before ``model.decoder``
    moved_keys: ClassVar[dict[str, tuple[str, ...]]] = MOVED_DECODER_KEYS

    latent_size: int = 128
    decoder: MixtureDecoderConfig = field(
        default_factory=partial(
            MixtureDecoderConfig,
            recurrent_dropout=0.0,
            trim_padding=True,
            temperature=0.24,
            pen_temperature=1.0,
        )
    )
    max_length: int = 250
    embed_layer: str = "conv"

    def __post_init__(self) -> None:
        self.check_image()
        for key in ("latent_size", "max_length"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if self.embed_layer not in VECTOR_EMBED_LAYERS:
            raise ConfigError(
                f"config key 'embed_layer' is {self.embed_layer!r}: choose one of "
                f"{', '.join(VECTOR_EMBED_LAYERS)}"
            )


@register_method(
    "vectorization",
    "Bhunia et al. 2021: a CNN reads the picture, the mixture decoder draws its strokes",
)
class Vectorization(LatentDecoderMethod):
    """Picture -> CNN -> code -> mixture decoder -> stroke-5 (teacher-forced in training).

    Examples:
        >>> from sketchssl.methods.latent_decoder import MixtureDecoderConfig
        >>> config = VectorizationConfig(image_size=16, conv_channels=(4, 8), latent_size=8,
        ...     decoder=MixtureDecoderConfig(size=16, num_mixtures=2, recurrent_dropout=0.0))
        >>> model = Vectorization(config)
        >>> strokes = torch.zeros(3, 6, 5); strokes[:, :, 4] = 1
        >>> strokes[:, 0] = torch.tensor([0.0, 0, 1, 0, 0])
        >>> strokes[:, 1:3] = torch.tensor([0.5, 0.5, 1, 0, 0])
        >>> mask = torch.zeros(3, 6, dtype=torch.bool); mask[:, :3] = True
        >>> batch = {"strokes5": strokes, "mask": mask, "image": torch.rand(3, 1, 16, 16)}
        >>> sorted(model.loss(batch)), model.eval().embed(batch).shape
        (['loss', 'offset_loss', 'pen_loss'], torch.Size([3, 8]))
    """

    config_class = VectorizationConfig
    config: VectorizationConfig

    def __init__(self, config: VectorizationConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        self.encoder = ImageTrunk(config)
        self.to_code = nn.Linear(self.encoder.width, config.latent_size)
        self.decoder = config.decoder.build(config.latent_size)
        self.generator: torch.Generator | None = None

    def encode(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, latent_size)`` code of the pictures."""
        require_keys(batch, "image", method=self.method_name)
        return self.to_code(self.encoder(batch["image"]))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """sketch-rnn's reconstruction loss of the strokes, decoded from the picture's code."""
        strokes, lengths = decoder_targets(batch, self.method_name)
        padded = strokes.shape[1] - 1
        z = self.encode(batch)
        offset_loss, pen_loss = self.reconstruction_terms(
            strokes, int(lengths.max()), z, normaliser=strokes.shape[0] * padded
        )
        return {
            "loss": offset_loss + pen_loss,
            "offset_loss": offset_loss.detach(),
            "pen_loss": pen_loss.detach(),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The pooled CNN feature (``embed_layer: conv``) or the code (``latent``)."""
        require_keys(batch, "image", method=self.method_name)
        features = self.encoder(batch["image"])
        return features if self.config.embed_layer == "conv" else self.to_code(features)

    @torch.no_grad()
    def generate(
        self,
        source: dict[str, Tensor] | Tensor | int,
        temperature: float | None = None,
        greedy: bool = False,
        *,
        max_len: int | None = None,
    ) -> Tensor:
        """Draw strokes: of pictures (a batch with ``image``), of codes, or of ``n`` random codes.

        Returns ``(B, max_len, 5)`` stroke-5 without the start token.
        """
        z = self.encode(source) if isinstance(source, dict) else self.latent_codes(source)
        return self.decode_codes(z, temperature, greedy, max_len)


@dataclass
class RasterizationConfig(SketchBertEncoderConfig):
    """``rasterization``: the Sketch-BERT encoder's fields and the picture decoder's.

    Attributes:
        image_size: side of the painted picture; must equal ``data.raster_size`` and be
            ``4 * 2**k``.
        decoder_channels: channels of the transposed-convolution blocks, from 4 x 4 upwards
            (one block a doubling of the side).
    """

    pooling: str = "max"
    image_size: int = 64
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16)

    def __post_init__(self) -> None:
        SketchBertEncoderConfig.__post_init__(self)
        self.decoder_channels = tuple(self.decoder_channels)
        if self.pooling == "cls":
            raise ConfigError("config key 'pooling': use mean or max (there is no [CLS] row)")
        if not self.decoder_channels or min(self.decoder_channels) < 1:
            raise ConfigError(
                f"config key 'decoder_channels' needs positive widths: {self.decoder_channels}"
            )
        if self.image_size != 4 * 2 ** len(self.decoder_channels):
            blocks = len(self.decoder_channels)
            raise ConfigError(
                f"config key 'image_size' ({self.image_size}) must be 4 * 2**{blocks} = "
                f"{4 * 2**blocks} for {blocks} decoder blocks (decoder_channels)"
            )


class ImageDecoder(nn.Module):
    """A feature ``(B, D)`` -> picture logits ``(B, 1, 4 * 2**n, 4 * 2**n)``.

    ``Linear`` to a ``(channels[0], 4, 4)`` map, then one ``ConvTranspose2d(4, stride 2) ->
    BatchNorm -> ReLU`` block per entry of ``channels`` (each doubles the side), then a 3 x 3
    convolution to one channel.
    """

    def __init__(self, feature_dim: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.first = channels[0]
        self.project = nn.Linear(feature_dim, channels[0] * 16)
        blocks: list[nn.Module] = []
        widths = (*channels, channels[-1])
        for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
            blocks += [
                nn.ConvTranspose2d(width_in, width_out, kernel_size=4, stride=2, padding=1),
                nn.BatchNorm2d(width_out),
                nn.ReLU(inplace=True),
            ]
        blocks.append(nn.Conv2d(channels[-1], 1, kernel_size=3, padding=1))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, features: Tensor) -> Tensor:
        """Logits of the ink of every pixel."""
        grid = self.project(features).view(-1, self.first, 4, 4)  # (B, C, 4, 4)
        return self.blocks(F.relu(grid))


@register_method(
    "rasterization",
    "Bhunia et al. 2021: the transformer reads the strokes, a small decoder paints the picture",
)
class Rasterization(_SequenceEncoding):
    """Point sequence -> transformer -> pooled feature -> picture (pixel-wise cross-entropy)."""

    config_class = RasterizationConfig
    config: RasterizationConfig

    def __init__(self, config: RasterizationConfig | None = None) -> None:
        super().__init__(config)
        self.build_sequence_encoder()
        self.painter = ImageDecoder(self.config.hidden_dim, self.config.decoder_channels)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Binary cross-entropy of the painted picture against the sketch's render."""
        require_keys(batch, "image", method=self.name)
        strokes5, mask = sequence_inputs(batch, self.config.max_length, self.name)
        logits = self.painter(self.sequence_features(strokes5, mask))  # (B, 1, H, W)
        target = batch["image"].float()
        if target.shape != logits.shape:
            raise ConfigError(
                f"{self.name}: pictures are {tuple(target.shape[1:])}, the decoder paints "
                f"{tuple(logits.shape[1:])}; set data.raster_size to model.image_size"
            )
        loss = F.binary_cross_entropy_with_logits(logits, target)
        return {"loss": loss}

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, hidden_dim)``: the pooled transformer feature."""
        return self.embed_sequence(batch)
